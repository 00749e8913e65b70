// A client RPC is a security invoker function in public over its body, the security definer
// function of the same name in private (docs/architecture.md, "Which kind of capability"): the
// API lists the wrapper for the roles that call it, never reaches the body, and the body acts
// for the caller of the wrapper (auth.uid() is the request's user) with the wrapper's
// volatility (a GET of a state change is refused). The catalogue test
// (schema_every_table_has_rls_and_explicit_grants) holds the shape in the database.

import { beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../../../types/database.ts";
import fixture from "../../functions/marketplace/fixtures/pattern.json" with { type: "json" };
import { signUp, type TestUser } from "../support/auth.ts";
import { ANON_KEY, type JsonBody, SERVICE_ROLE_KEY, SUPABASE_URL } from "../support/clients.ts";

const REST = `${SUPABASE_URL}/rest/v1`;
const pattern: NonNullable<Json> = fixture;

/** Every client RPC in public: a wrapper over private.<name>. */
const SIGNED_IN_RPCS = [
  "access_report",
  "approve_delivery",
  "approve_requirements",
  "cancel_order",
  "close_project",
  "create_design_share_link",
  "create_thread",
  "delete_message",
  "duplicate_design",
  "edit_message",
  "effective_permissions",
  "export_my_data",
  "get_shared_design",
  "leave_thread",
  "mark_thread_read",
  "moderate_review",
  "moderate_service",
  "open_dispute",
  "order_service_package",
  "post_message",
  "reject_bid",
  "request_revision",
  "review_order",
  "review_seller_application",
  "revoke_design_share_link",
  "submit_delivery",
  "withdraw_bid",
];
/** The ones the service role calls too (the admin CLI, design-export). */
const SERVICE_ROLE_RPCS = [
  "access_report",
  "effective_permissions",
  "get_shared_design",
  "moderate_review",
  "moderate_service",
  "review_seller_application",
];

/** The RPCs PostgREST's OpenAPI document of public lists for a key and token. */
async function listedRpcs(apikey: string, token: string): Promise<Map<string, JsonBody>> {
  const res = await fetch(`${REST}/`, {
    headers: { apikey, Authorization: `Bearer ${token}`, "Accept-Profile": "public" },
  });
  expect(res.status).toBe(200);
  const doc = await res.json();
  return new Map(
    Object.entries<JsonBody>(doc.paths)
      .filter(([path]) => path.startsWith("/rpc/"))
      .map(([path, operations]) => [path.slice("/rpc/".length), operations]),
  );
}

async function rest(
  path: string,
  token: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: JsonBody }> {
  const res = await fetch(`${REST}${path}`, {
    method: init.method ?? "GET",
    headers: {
      apikey: ANON_KEY,
      Authorization: `Bearer ${token}`,
      ...(init.body === undefined ? {} : { "Content-Type": "application/json" }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe("client RPCs: security invoker wrappers in public over security definer bodies in private", () => {
  let owner: TestUser;
  let stranger: TestUser;
  let designId: string;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([signUp("wrapper-owner"), signUp("wrapper-stranger")]);
    const design = await owner.client.from("designs").insert({ title: "Linen shirt", pattern })
      .select("id").single();
    if (design.error) throw design.error;
    designId = design.data.id;
  });

  it("PostgREST lists each RPC for the roles that call it, with its description", async () => {
    const anon = await listedRpcs(ANON_KEY, ANON_KEY);
    expect([...anon.keys()].sort()).toEqual([
      "check_function_request",
      "confirm_newsletter",
      "get_shared_design",
      "language_pack",
      "maintenance_status",
      "my_feature_flags",
      "platform_status",
      "record_product_view",
      "search_products",
      "subscribe_newsletter",
      "translation",
      "translations",
    ]);
    expect(anon.get("subscribe_newsletter").post.summary).toBe(
      "Subscribe an address to the newsletter (no sign-in needed): a confirmation link is mailed to it (double opt-in). At most 3 requests an hour per address.",
    );
    expect(anon.get("get_shared_design").post.summary).toBe(
      'The one design a share token opens. Unknown or revoked token: PT404 (HTTP 404); expired: PT410 "share link expired" (HTTP 410).',
    );

    const signedIn = await listedRpcs(ANON_KEY, stranger.accessToken);
    expect([...signedIn.keys()]).toEqual(expect.arrayContaining(SIGNED_IN_RPCS));
    const submit = signedIn.get("submit_delivery").post.parameters
      .find((p: JsonBody) => p.in === "body").schema;
    expect(Object.keys(submit.properties).sort()).toEqual(["file_paths", "message", "order_id"]);
    expect(submit.required.sort()).toEqual(["message", "order_id"]);

    const service = await listedRpcs(SERVICE_ROLE_KEY, SERVICE_ROLE_KEY);
    expect([...service.keys()]).toEqual(expect.arrayContaining(SERVICE_ROLE_RPCS));
    expect(service.has("withdraw_bid")).toBe(false);
  });

  it("the bodies in private are not reachable through the API", async () => {
    const notExposed = {
      status: 406,
      body: {
        code: "PGRST106",
        message: "The schema must be one of the following: public, graphql_public, ops",
        details: null,
        hint: null,
      },
    };
    expect(
      await rest("/rpc/create_design_share_link", owner.accessToken, {
        method: "POST",
        headers: { "Content-Profile": "private" },
        body: { design_id: designId },
      }),
    ).toEqual(notExposed);
    expect(
      await rest("/rpc/get_shared_design?token=x", ANON_KEY, {
        headers: { "Accept-Profile": "private" },
      }),
    ).toEqual(notExposed);
  });

  it("the body acts for the wrapper's caller: auth.uid() is the request's user", async () => {
    // Someone else's design is not found for them, whether or not it exists.
    expect(
      await rest("/rpc/create_design_share_link", stranger.accessToken, {
        method: "POST",
        body: { design_id: designId },
      }),
    ).toEqual({
      status: 404,
      body: { code: "PT404", message: `design ${designId} not found`, details: null, hint: null },
    });
    expect(
      await rest(`/rpc/effective_permissions?target_user=${owner.id}`, stranger.accessToken),
    ).toEqual({
      status: 403,
      body: {
        code: "42501",
        message: "permission denied: users.read is required to see another user's permissions",
        details: null,
        hint: null,
      },
    });

    const made = await rest("/rpc/create_design_share_link", owner.accessToken, {
      method: "POST",
      body: { design_id: designId },
    });
    expect(made.status).toBe(200);
    expect(made.body).toHaveLength(1);
    expect(made.body[0].token.startsWith(made.body[0].token_prefix)).toBe(true);
    const opened = await rest(
      `/rpc/get_shared_design?token=${encodeURIComponent(made.body[0].token)}`,
      ANON_KEY,
    );
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ id: designId, title: "Linen shirt" });
  });

  it("the wrapper has its body's volatility: a GET of a state change is refused, of a read answered", async () => {
    const made = await owner.client.rpc("create_design_share_link", { design_id: designId })
      .single();
    if (made.error) throw made.error;
    const link = made.data;
    const open = () =>
      rest(`/rpc/get_shared_design?token=${encodeURIComponent(link.token)}`, ANON_KEY);

    const byGet = await rest(`/rpc/revoke_design_share_link?link_id=${link.id}`, owner.accessToken);
    expect(byGet.status).toBe(405);
    expect(byGet.body.code).toBe("25006");
    expect((await open()).status).toBe(200);

    expect(
      await rest("/rpc/revoke_design_share_link", owner.accessToken, {
        method: "POST",
        body: { link_id: link.id },
      }),
    ).toEqual({ status: 204, body: null });
    expect(await open()).toEqual({
      status: 404,
      body: {
        code: "PT404",
        message: "share link not found or revoked",
        details: null,
        hint: null,
      },
    });
  });
});
