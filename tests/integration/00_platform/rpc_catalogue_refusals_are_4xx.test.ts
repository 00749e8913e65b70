// A client's mistake is never the server's error (docs/architecture.md, "Errors"): every RPC the
// API exposes, called anonymously and by a signed-in stranger with bad input of every kind,
// answers 2xx or 4xx with PostgREST's error object, never 5xx. The RPCs and their parameters
// are read from the live API (PostgREST's OpenAPI document, per exposed schema and per role),
// so an RPC is covered the day it is exposed. Then the refusals the convention was made for,
// with their exact statuses and messages.

import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../../../types/database.ts";
import fixture from "../../functions/marketplace/fixtures/pattern.json" with { type: "json" };
import { signUp, type TestUser } from "../support/auth.ts";
import {
  admin,
  ANON_KEY,
  type JsonBody,
  SERVICE_ROLE_KEY,
  SUPABASE_URL,
} from "../support/clients.ts";
import { orderAwaitingPayment, publishService } from "../support/marketplace.ts";

const REST = `${SUPABASE_URL}/rest/v1`;
const pattern: NonNullable<Json> = fixture;

interface Param {
  name: string;
  /** PostgreSQL's type name, as the OpenAPI document gives it: uuid, text, integer, text[], … */
  format: string;
}

interface Rpc {
  schema: string;
  name: string;
  params: Param[];
}

interface Caller {
  name: string;
  /** The bearer token: the anon key, or the stranger's access token. */
  token: string;
}

interface Answer {
  status: number;
  body: JsonBody;
}

/** The schemas the API exposes, from PostgREST's refusal of one it does not (PGRST106). */
async function exposedSchemas(): Promise<string[]> {
  const res = await fetch(`${REST}/`, {
    headers: { apikey: ANON_KEY, "Accept-Profile": "no_such_schema" },
  });
  const body = await res.json();
  expect(body.code).toBe("PGRST106");
  const listed = /one of the following: (.+)$/.exec(body.message);
  if (!listed) throw new Error(`PGRST106 without the schema list: ${body.message}`);
  return listed[1].split(", ");
}

/**
 * The RPCs of one schema that the OpenAPI document lists for the key's role (PostgREST lists
 * what the role may execute), with their parameters.
 */
async function rpcsOf(schema: string, apikey: string, token: string): Promise<Rpc[]> {
  const res = await fetch(`${REST}/`, {
    headers: { apikey, Authorization: `Bearer ${token}`, "Accept-Profile": schema },
  });
  expect(res.status).toBe(200);
  const doc = await res.json();
  const rpcs: Rpc[] = [];
  for (const [path, operations] of Object.entries<JsonBody>(doc.paths)) {
    if (!path.startsWith("/rpc/")) continue;
    const body = operations.post.parameters.find((p: JsonBody) => p.in === "body");
    const properties: Record<string, JsonBody> = body?.schema?.properties ?? {};
    rpcs.push({
      schema,
      name: path.slice("/rpc/".length),
      params: Object.entries(properties).map(([name, p]) => ({
        name,
        format: p.format ?? (p.type === "array" ? `${p.items?.format ?? "text"}[]` : "json"),
      })),
    });
  }
  return rpcs;
}

/** Every exposed RPC: the union over the schemas and the anon, signed-in and service roles. */
async function exposedRpcs(userToken: string): Promise<Rpc[]> {
  const byKey = new Map<string, Rpc>();
  for (const schema of await exposedSchemas()) {
    for (
      const [apikey, token] of [
        [ANON_KEY, ANON_KEY],
        [ANON_KEY, userToken],
        [SERVICE_ROLE_KEY, SERVICE_ROLE_KEY],
      ]
    ) {
      for (const rpc of await rpcsOf(schema, apikey, token)) {
        byKey.set(`${rpc.schema}.${rpc.name}`, rpc);
      }
    }
  }
  return [...byKey.values()].sort((a, b) =>
    `${a.schema}.${a.name}`.localeCompare(`${b.schema}.${b.name}`)
  );
}

type Kind = "unknown" | "empty" | "garbage" | "null" | "out_of_range" | "wrong_json_type";

const isArray = (format: string) => format.endsWith("[]");
const isNumber = (format: string) =>
  ["integer", "bigint", "smallint", "numeric", "real", "double precision"].includes(format);
const isJson = (format: string) => format === "json" || format === "jsonb";
const isTime = (format: string) => format.startsWith("timestamp") || format === "date";

/** A value of the parameter's type (or deliberately not) for one kind of bad input. */
function valueFor(format: string, kind: Kind): unknown {
  if (kind === "null") return null;
  if (kind === "garbage") return "garbage \r\n\u0000 ☃ '; select 1; --";
  if (isArray(format)) {
    const element = format.slice(0, -2);
    return {
      unknown: [valueFor(element, "unknown")],
      empty: [],
      out_of_range: ["../../etc/passwd", ""],
      wrong_json_type: "not an array",
    }[kind];
  }
  if (format === "uuid") {
    return {
      unknown: randomUUID(),
      empty: "",
      out_of_range: "00000000-0000-0000-0000-000000000000",
      wrong_json_type: 42,
    }[kind];
  }
  if (isNumber(format)) {
    return { unknown: 1, empty: 0, out_of_range: 2 ** 63, wrong_json_type: "one" }[kind];
  }
  if (format === "boolean") {
    return { unknown: true, empty: false, out_of_range: "maybe", wrong_json_type: 1 }[kind];
  }
  if (isJson(format)) {
    return { unknown: {}, empty: "", out_of_range: [1, [2]], wrong_json_type: "text" }[kind];
  }
  if (isTime(format)) {
    return {
      unknown: new Date(Date.now() + 86_400_000).toISOString(),
      empty: "",
      out_of_range: "0001-01-01T00:00:00Z",
      wrong_json_type: 1,
    }[kind];
  }
  // text, varchar, enums and domains
  return { unknown: "x", empty: "", out_of_range: "x".repeat(100_000), wrong_json_type: { a: 1 } }[
    kind
  ];
}

/** The bodies one RPC is called with: each kind of bad input, and other people's real ids. */
function badInputs(rpc: Rpc, otherPeoplesIds: string[]): { label: string; args: JsonBody }[] {
  const build = (kind: Kind, uuid?: string) =>
    Object.fromEntries(
      rpc.params.map((p) => [
        p.name,
        uuid && p.format === "uuid"
          ? uuid
          : uuid && p.format === "uuid[]"
          ? [uuid]
          : valueFor(p.format, kind),
      ]),
    );
  const kinds: Kind[] = ["unknown", "empty", "garbage", "null", "out_of_range", "wrong_json_type"];
  const inputs: { label: string; args: JsonBody }[] = kinds.map((kind) => ({
    label: kind,
    args: build(kind),
  }));
  inputs.push({ label: "extra argument", args: { ...build("unknown"), not_a_parameter: 1 } });
  if (rpc.params.length) inputs.push({ label: "no arguments", args: {} });
  if (rpc.params.some((p) => p.format === "uuid" || p.format === "uuid[]")) {
    for (const id of otherPeoplesIds) {
      inputs.push({ label: `someone else's ${id}`, args: build("unknown", id) });
    }
  }
  return inputs;
}

async function callRpc(
  rpc: Rpc,
  caller: Caller,
  args: JsonBody,
  method: "POST" | "GET" = "POST",
): Promise<Answer> {
  const headers: Record<string, string> = {
    apikey: ANON_KEY,
    Authorization: `Bearer ${caller.token}`,
  };
  let url = `${REST}/rpc/${rpc.name}`;
  let body: string | undefined;
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
    headers["Content-Profile"] = rpc.schema;
    body = JSON.stringify(args);
  } else {
    headers["Accept-Profile"] = rpc.schema;
    const query = new URLSearchParams(
      Object.entries(args).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
    );
    url += `?${query}`;
  }
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let parsed: JsonBody = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: kept as text, and reported below if it is an error
  }
  return { status: res.status, body: parsed };
}

/** Runs the work items with a few requests in flight at once. */
async function inBatches<T>(items: (() => Promise<T>)[], width = 4): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < items.length; i += width) {
    results.push(...await Promise.all(items.slice(i, i + width).map((item) => item())));
  }
  return results;
}

describe("every exposed RPC refuses bad input with a 4xx, never a 5xx", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let stranger: TestUser;
  let orderId: string;
  let projectId: string;
  let otherPeoplesIds: string[];

  beforeAll(async () => {
    [designer, tailor, stranger] = await Promise.all([
      signUp("catalogue-designer"),
      signUp("catalogue-tailor"),
      signUp("catalogue-stranger"),
    ]);
    orderId = await orderAwaitingPayment(designer, tailor, 20_000);
    const order = await designer.client.from("orders").select("project_id, bid_id")
      .eq("id", orderId).single();
    if (order.error) throw order.error;
    projectId = order.data.project_id!;
    await admin().schema("ops").rpc("record_order_payment", { order_id: orderId }).throwOnError();

    const design = await designer.client.from("designs").insert({ title: "Private coat", pattern })
      .select("id").single();
    if (design.error) throw design.error;
    const link = await designer.client.rpc("create_design_share_link", {
      design_id: design.data.id,
    }).single();
    if (link.error) throw link.error;
    const { serviceId, packageId } = await publishService(tailor, {
      title: "Hemming",
      category: "alterations",
    });
    otherPeoplesIds = [
      orderId,
      projectId,
      order.data.bid_id!,
      design.data.id,
      link.data.id,
      serviceId,
      packageId,
      designer.id,
    ];
  });

  it(
    "answers anon and a stranger with 2xx or 4xx and PostgREST's error object, whatever they send",
    async () => {
      const rpcs = await exposedRpcs(stranger.accessToken);
      const names = rpcs.map((r) => `${r.schema}.${r.name}`);
      // The enumeration finds the client RPCs (each answered 500 before the convention) and the
      // service-only ones; the list itself is whatever the API exposes today.
      expect(names).toEqual(expect.arrayContaining([
        "public.cancel_order",
        "public.approve_delivery",
        "public.approve_requirements",
        "public.request_revision",
        "public.submit_delivery",
        "public.review_order",
        "public.duplicate_design",
        "public.get_shared_design",
        "public.set_default_address",
        "public.close_project",
        "public.withdraw_bid",
        "public.reject_bid",
        "public.create_design_share_link",
        "public.revoke_design_share_link",
        "ops.accept_bid",
        "ops.erase_account",
      ]));

      const callers: Caller[] = [
        { name: "anon", token: ANON_KEY },
        { name: "stranger", token: stranger.accessToken },
      ];
      const statuses = new Map<string, number>();
      const work: (() => Promise<string | null>)[] = [];
      for (const rpc of rpcs) {
        const calls: { label: string; args: JsonBody; method: "POST" | "GET" }[] = [
          ...badInputs(rpc, otherPeoplesIds).map((input) => ({
            ...input,
            method: "POST" as const,
          })),
          {
            label: "GET",
            method: "GET",
            args: Object.fromEntries(
              rpc.params.map((p) => [p.name, valueFor(p.format, "unknown")]),
            ),
          },
        ];
        for (const caller of callers) {
          for (const call of calls) {
            work.push(async () => {
              const { status, body } = await callRpc(rpc, caller, call.args, call.method);
              const seen = `${caller.name} ${rpc.schema} ${status}`;
              statuses.set(seen, (statuses.get(seen) ?? 0) + 1);
              const where =
                `${call.method} ${rpc.schema}.${rpc.name} as ${caller.name} (${call.label})`;
              if (status >= 500) return `${where}: ${status} ${JSON.stringify(body)}`;
              if (
                status >= 400 &&
                (typeof body?.code !== "string" || typeof body?.message !== "string")
              ) {
                return `${where}: ${status} without PostgREST's error object: ${
                  JSON.stringify(body)
                }`;
              }
              return null;
            });
          }
        }
      }
      const problems = (await inBatches(work)).filter((p) => p !== null);
      const tally = [...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) =>
        `${s}: ${n}`
      );
      console.info(
        `error catalogue: ${rpcs.length} RPCs (${
          rpcs.filter((r) => r.schema === "public").length
        } public), ${work.length} calls; statuses ${tally.join(", ")}`,
      );
      expect(problems).toEqual([]);
    },
    300_000,
  );

  it("cancel_order by a signed-in user who is no party: 404, as for an unknown order", async () => {
    const res = await callRpc(
      { schema: "public", name: "cancel_order", params: [] },
      { name: "stranger", token: stranger.accessToken },
      { order_id: orderId, reason: "mine now" },
    );
    expect(res).toEqual({
      status: 404,
      body: { code: "PT404", message: `order ${orderId} not found`, details: null, hint: null },
    });
  });

  it("a project's requirements added once it is paid: 409 from the insert trigger", async () => {
    const res = await fetch(`${REST}/project_requirements`, {
      method: "POST",
      headers: {
        apikey: ANON_KEY,
        Authorization: `Bearer ${designer.accessToken}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ project_id: projectId, title: "Late change" }),
    });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 409,
      body: {
        code: "PT409",
        message:
          `the requirements of project ${projectId} are settled: they change only while the project is open or awaiting approval`,
        details: null,
        hint: null,
      },
    });
  });

  it("request_revision by the tailor on a completed order: 409", async () => {
    await tailor.client.rpc("submit_delivery", { order_id: orderId, message: "Done" })
      .throwOnError();
    await designer.client.rpc("approve_delivery", { order_id: orderId }).throwOnError();
    const res = await callRpc(
      { schema: "public", name: "request_revision", params: [] },
      { name: "tailor", token: tailor.accessToken },
      { order_id: orderId, note: "one more change" },
    );
    expect(res).toEqual({
      status: 409,
      body: {
        code: "PT409",
        message: `order ${orderId} is completed: it cannot move to revision_requested`,
        details: null,
        hint: null,
      },
    });
  });

  it("get_shared_design with a wrong token, as anon: 404 by GET and by POST", async () => {
    const rpc = { schema: "public", name: "get_shared_design", params: [] };
    const anon = { name: "anon", token: ANON_KEY };
    const notFound = {
      status: 404,
      body: {
        code: "PT404",
        message: "share link not found or revoked",
        details: null,
        hint: null,
      },
    };
    expect(await callRpc(rpc, anon, { token: "x" }, "GET")).toEqual(notFound);
    expect(await callRpc(rpc, anon, { token: "x" })).toEqual(notFound);
  });

  it("table writes refused by a trigger or a constraint are 4xx too", async () => {
    const insert = async (table: string, row: JsonBody): Promise<Answer> => {
      const res = await fetch(`${REST}/${table}`, {
        method: "POST",
        headers: {
          apikey: ANON_KEY,
          Authorization: `Bearer ${stranger.accessToken}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify(row),
      });
      const body = await res.json();
      return { status: res.status, body: { code: body.code, message: body.message } };
    };
    const address = {
      full_name: "Ada Lovelace",
      address_line1: "12 Analytical Row",
      city: "London",
      country_code: "GB",
    };
    const unknownProject = randomUUID();
    // Our own triggers: PT404 and PT409 like the RPCs.
    expect(await insert("bids", { project_id: unknownProject, amount: 100, duration_days: 3 }))
      .toEqual({
        status: 404,
        body: { code: "PT404", message: `project ${unknownProject} not found` },
      });
    expect(await insert("projects", { title: "Coat", budget_amount: -5, currency: "EUR" }))
      .toEqual({
        status: 400,
        body: {
          code: "22023",
          message: "budget must be a positive whole number of minor units of EUR, not -5",
        },
      });
    // Postgres's own refusals of a value: 400, or 409 for a reference to nothing (23503).
    expect(await insert("bids", { project_id: "nope", amount: 100, duration_days: 3 }))
      .toMatchObject({ status: 400, body: { code: "22P02" } });
    expect(await insert("addresses", { ...address, full_name: null }))
      .toMatchObject({ status: 400, body: { code: "23502" } });
    expect(await insert("addresses", { ...address, full_name: "  " }))
      .toMatchObject({ status: 400, body: { code: "23514" } });
    expect(await insert("addresses", { ...address, country_code: "GBR" }))
      .toMatchObject({ status: 400, body: { code: "22001" } });
    expect(await insert("addresses", { ...address, country_code: "XX" }))
      .toMatchObject({ status: 409, body: { code: "23503" } });
  });
});
