// Auth's admin user API as supabase-js's auth.admin calls it with the service role: the user
// list newest first with GoTrue's page bounds and its X-Total-Count and Link headers, and
// updates of e-mail, phone, password, metadata, confirmation and bans.

import { describe, expect, it } from "vitest";
import { PASSWORD, signUp, uniqueEmail } from "../support/auth.ts";
import { admin, client, SERVICE_ROLE_KEY, SUPABASE_URL } from "../support/clients.ts";

async function listRaw(query: string) {
  const response = await fetch(`${SUPABASE_URL}/auth/v1/admin/users${query}`, {
    headers: { apikey: SERVICE_ROLE_KEY, authorization: `Bearer ${SERVICE_ROLE_KEY}` },
  });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.json(),
  };
}

describe("auth admin: list users", () => {
  it("lists users newest first", async () => {
    const first = await signUp("list-a");
    const second = await signUp("list-b");
    const third = await signUp("list-c");
    const { data, error } = await admin().auth.admin.listUsers({ page: 1, perPage: 1000 });
    expect(error).toBeNull();
    const ids = data.users.map((user) => user.id);
    expect(ids.filter((id) => [first.id, second.id, third.id].includes(id))).toEqual([
      third.id,
      second.id,
      first.id,
    ]);
    const times = data.users.map((user) => Date.parse(user.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it("pages with per_page and says the total and the next and last pages (X-Total-Count, Link)", async () => {
    await signUp("list-paged");
    const { status, headers, body } = await listRaw("?per_page=1&page=1");
    expect(status).toBe(200);
    expect(body.aud).toBe("authenticated");
    expect(body.users).toHaveLength(1);
    const total = Number(headers.get("x-total-count"));
    expect(total).toBeGreaterThanOrEqual(2);
    expect(headers.get("link")).toBe(
      `</admin/users?page=2&per_page=1>; rel="next", </admin/users?page=${total}&per_page=1>; rel="last"`,
    );
    const last = await listRaw(`?per_page=1&page=${total}`);
    expect(last.headers.get("link")).toBe(
      `</admin/users?page=${total}&per_page=1>; rel="last"`,
    );
    // supabase-js reads the same headers into nextPage, lastPage and total.
    const { data } = await admin().auth.admin.listUsers({ page: 1, perPage: 1 });
    expect(data).toMatchObject({ nextPage: 2, total: expect.any(Number) });
  });

  it("refuses page and per_page that are not unsigned integers as GoTrue does", async () => {
    for (
      const [query, value] of [["?page=-1", "-1"], ["?page=abc", "abc"], ["?per_page=-5", "-5"]]
    ) {
      expect(await listRaw(query).then(({ status, body }) => ({ status, body }))).toEqual({
        status: 400,
        body: {
          code: 400,
          error_code: "validation_failed",
          msg: `Bad Pagination Parameters: strconv.ParseUint: parsing "${value}": invalid syntax`,
        },
      });
    }
    expect((await listRaw("?per_page=0")).body).toEqual({
      code: 400,
      error_code: "validation_failed",
      msg: "Bad Pagination Parameters: per_page must be at least 1",
    });
    const { data, error } = await admin().auth.admin.listUsers({ page: -1, perPage: 10 });
    expect(error?.status).toBe(400);
    expect(data.users).toEqual([]);
  });

  it("is the service role's only", async () => {
    const user = await signUp("list-forbidden");
    const response = await fetch(`${SUPABASE_URL}/auth/v1/admin/users`, {
      headers: { apikey: SERVICE_ROLE_KEY, authorization: `Bearer ${user.accessToken}` },
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      code: 403,
      error_code: "not_admin",
      msg: "User not allowed",
    });
  });
});

describe("auth admin: update a user", () => {
  it("changes the e-mail: the user signs in with the new one, the identity follows", async () => {
    const user = await signUp("update-email");
    const email = uniqueEmail("updated-email");
    const { data, error } = await admin().auth.admin.updateUserById(user.id, {
      email,
      email_confirm: true,
    });
    expect(error).toBeNull();
    expect(data.user?.email).toBe(email);
    expect(data.user?.identities?.find((i) => i.provider === "email")?.identity_data).toMatchObject(
      {
        email,
        email_verified: true,
      },
    );
    expect((await client().auth.signInWithPassword({ email, password: PASSWORD })).error)
      .toBeNull();
    const old = await client().auth.signInWithPassword({ email: user.email, password: PASSWORD });
    expect(old.error?.code).toBe("invalid_credentials");
  });

  it("refuses an e-mail another user has, and a phone that is not E.164, changing nothing", async () => {
    const user = await signUp("update-dupe");
    const other = await signUp("update-other");
    const dupe = await admin().auth.admin.updateUserById(user.id, { email: other.email });
    expect([dupe.error?.status, dupe.error?.code, dupe.error?.message]).toEqual([
      422,
      "email_exists",
      "A user with this email address has already been registered",
    ]);
    const phone = await admin().auth.admin.updateUserById(user.id, { phone: "12-34" });
    expect([phone.error?.status, phone.error?.code, phone.error?.message]).toEqual([
      400,
      "validation_failed",
      "Invalid phone number format (E.164 required)",
    ]);
    const { data } = await admin().auth.admin.getUserById(user.id);
    expect([data.user?.email, data.user?.phone]).toEqual([user.email, ""]);
  });

  it("sets a phone (without its +, as GoTrue stores it), confirms it, and merges metadata", async () => {
    const user = await signUp("update-phone", { keep: 1, drop: 2 });
    const phone = `+4420${String(Date.now()).slice(-7)}`;
    const { data, error } = await admin().auth.admin.updateUserById(user.id, {
      phone,
      phone_confirm: true,
      user_metadata: { drop: null, added: "yes" },
      app_metadata: { plan: "pro" },
    });
    expect(error).toBeNull();
    expect(data.user?.phone).toBe(phone.slice(1));
    expect(data.user?.phone_confirmed_at).toEqual(expect.any(String));
    expect(data.user?.user_metadata).toMatchObject({ keep: 1, added: "yes" });
    expect(data.user?.user_metadata).not.toHaveProperty("drop");
    expect(data.user?.app_metadata).toMatchObject({ provider: "email", plan: "pro" });
    expect(data.user?.identities?.find((i) => i.provider === "phone")?.identity_data).toMatchObject(
      {
        phone: phone.slice(1),
        phone_verified: true,
      },
    );
  });

  it("answers an id that is no uuid, or no user's, with 404", async () => {
    // supabase-js refuses an id that is no uuid before sending it: ask Auth directly.
    const notUuid = await fetch(`${SUPABASE_URL}/auth/v1/admin/users/nope`, {
      method: "PUT",
      headers: {
        apikey: SERVICE_ROLE_KEY,
        authorization: `Bearer ${SERVICE_ROLE_KEY}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ user_metadata: {} }),
    });
    expect([notUuid.status, await notUuid.json()]).toEqual([
      404,
      { code: 404, error_code: "validation_failed", msg: "user_id must be an UUID" },
    ]);
    const unknown = await admin().auth.admin.updateUserById(crypto.randomUUID(), {
      user_metadata: {},
    });
    expect([unknown.error?.status, unknown.error?.code]).toEqual([404, "user_not_found"]);
  });
});
