import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  createImpersonateHandler,
  impersonationNotice,
} from "../../../functions/identity-impersonate/handler.ts";
import type { Mailer, MailMessage } from "../../../functions/_shared/platform/mail.ts";
import { parseSmtpEnv } from "../../../functions/_shared/platform/mail.ts";
import { type FakeSupabase, withFakeSupabase } from "../platform/fake_supabase.ts";

const admin = "5b0c8c9e-2f57-4b8e-9d3a-0c2f1e7a6b11";
const target = "9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b";
const link =
  "http://127.0.0.1:54321/auth/v1/verify?token=abc&type=magiclink&redirect_to=http://127.0.0.1:3000";

function recordingMailer(fail = false): { mailer: () => Mailer; sent: MailMessage[] } {
  const sent: MailMessage[] = [];
  return {
    sent,
    mailer: () => ({
      send: (message) => {
        if (fail) return Promise.reject(new Error("SMTP down"));
        sent.push(message);
        return Promise.resolve();
      },
    }),
  };
}

function post(body: unknown, token: string | null = "user-token"): Request {
  return new Request("http://localhost/identity-impersonate", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
}

function state(rpc: { status: number; body: unknown } = {
  status: 200,
  body: [{ email: "tess@example.com", audit_id: 42 }],
}) {
  return {
    user: { id: admin, email: "admin@example.com" },
    password: "x",
    objects: {},
    rpc: { record_impersonation: rpc },
    auth: {
      "POST /auth/v1/admin/generate_link": {
        status: 200,
        body: {
          id: target,
          email: "tess@example.com",
          aud: "authenticated",
          role: "authenticated",
          app_metadata: {},
          user_metadata: {},
          action_link: link,
          email_otp: "123456",
          hashed_token: "abc",
          verification_type: "magiclink",
          redirect_to: "http://127.0.0.1:3000",
        },
      },
    },
  };
}

const order = (fake: FakeSupabase) => fake.requests.map((r) => `${r.method} ${r.path}`);

Deno.test("records who, whom and why, tells the user, then answers with the magic link", async () => {
  const { mailer, sent } = recordingMailer();
  await withFakeSupabase(state(), async (fake) => {
    const res = await createImpersonateHandler(mailer)(
      post({ user_id: target, reason: "  Ticket 4711: orders missing  " }),
    );
    strictEqual(res.status, 200);
    deepStrictEqual(await res.json(), {
      user_id: target,
      email: "tess@example.com",
      action_link: link,
      audit_id: 42,
    });
    const rpc = fake.requests.find((r) => r.path === "/rest/v1/rpc/record_impersonation")!;
    strictEqual(rpc.schema, "ops");
    deepStrictEqual(JSON.parse(rpc.body), {
      acting_user: admin,
      user_id: target,
      reason: "Ticket 4711: orders missing",
    });
    const generate = fake.requests.find((r) => r.path === "/auth/v1/admin/generate_link")!;
    deepStrictEqual(JSON.parse(generate.body), { type: "magiclink", email: "tess@example.com" });
    strictEqual(sent.length, 1);
    strictEqual(sent[0].to, "tess@example.com");
    ok(sent[0].text.includes("Ticket 4711: orders missing"));
    ok(sent[0].text.includes("entry 42"));
    // The record, then the notice, then the link.
    const steps = order(fake);
    ok(
      steps.indexOf("POST /rest/v1/rpc/record_impersonation") <
        steps.indexOf("POST /auth/v1/admin/generate_link"),
    );
  });
});

Deno.test("no link when the user cannot be told: the mail failing is a 500 before generate_link", async () => {
  const { mailer } = recordingMailer(true);
  await withFakeSupabase(state(), async (fake) => {
    const res = await createImpersonateHandler(mailer)(post({ user_id: target, reason: "x" }));
    strictEqual(res.status, 500);
    strictEqual(fake.requests.filter((r) => r.path === "/auth/v1/admin/generate_link").length, 0);
  });
});

Deno.test("the database's refusals keep their meaning and send nothing", async () => {
  for (
    const [code, message, status, errorCode] of [
      [
        "42501",
        "permission denied: users.impersonate is required to impersonate users",
        403,
        "forbidden",
      ],
      ["PT404", `user ${target} not found`, 404, "not_found"],
      ["22023", "you cannot impersonate yourself", 400, "invalid_request"],
      [
        "PT409",
        `user ${target} has no e-mail address: no sign-in link can be made for them`,
        409,
        "conflict",
      ],
    ] as const
  ) {
    const { mailer, sent } = recordingMailer();
    await withFakeSupabase(
      state({ status, body: { code, message, details: null, hint: null } }),
      async (fake) => {
        const res = await createImpersonateHandler(mailer)(post({ user_id: target, reason: "x" }));
        strictEqual(res.status, status);
        deepStrictEqual((await res.json()).error, { code: errorCode, message });
        strictEqual(sent.length, 0);
        strictEqual(
          fake.requests.filter((r) => r.path === "/auth/v1/admin/generate_link").length,
          0,
        );
      },
    );
  }
});

Deno.test("a missing or blank reason is 400 before anything is asked; no session is 401", async () => {
  const { mailer } = recordingMailer();
  await withFakeSupabase(state(), async (fake) => {
    for (
      const body of [{ user_id: target }, { user_id: target, reason: "   " }, {
        user_id: "x",
        reason: "y",
      }]
    ) {
      const res = await createImpersonateHandler(mailer)(post(body));
      strictEqual(res.status, 400);
      strictEqual((await res.json()).error.code, "invalid_request");
    }
    strictEqual(fake.requests.length, 0);
    const res = await createImpersonateHandler(mailer)(
      post({ user_id: target, reason: "x" }, null),
    );
    strictEqual(res.status, 401);
  });
});

Deno.test("the notice names the time, the reason and the audit entry", () => {
  const notice = impersonationNotice("a@example.com", "Refund question", 7, new Date(0));
  strictEqual(notice.to, "a@example.com");
  strictEqual(notice.subject, "A staff member is signing in to your account");
  ok(notice.text.includes("1970-01-01T00:00:00.000Z"));
  ok(notice.text.includes("  Refund question"));
  ok(notice.text.includes("(entry 7)"));
});

Deno.test("SMTP settings are validated, naming what is missing", () => {
  deepStrictEqual(
    parseSmtpEnv({ SMTP_HOST: "127.0.0.1", SMTP_PORT: "54325", SMTP_SENDER: "no-reply@x.dev" }),
    {
      SMTP_HOST: "127.0.0.1",
      SMTP_PORT: 54325,
      SMTP_SENDER: "no-reply@x.dev",
    },
  );
  try {
    parseSmtpEnv({ SMTP_PORT: "x", SMTP_SENDER: "nobody" });
    ok(false, "should have thrown");
  } catch (error) {
    strictEqual(
      (error as Error).message,
      "Missing or invalid environment variables: SMTP_HOST (missing), SMTP_PORT (not a port number), SMTP_SENDER (not an e-mail address)",
    );
  }
});
