// The template preview without a stack: the stored template is rendered against the sample as
// the sender renders it (escaped HTML, plain subject and text), the declared variables the
// sample lacks are listed, and the database's refusal is the caller's 4xx.
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import {
  preview,
  previewRequest,
} from "../../../functions/notifications-preview-template/handler.ts";
import { HttpError } from "../../../functions/_shared/http/errors.ts";
import type { Db } from "../../../functions/_shared/platform/rpc.ts";

const stored = {
  key: "promo.spring",
  locale: "ko",
  subject: "{{season}} 세일",
  html: "<p>{{recipient_name}}: {{season}} {{discount}}</p>",
  text_body: "{{season}} {{discount}}",
  variables: ["discount", "recipient_name", "season"],
  event_types: [],
  updated_at: "2026-11-30T00:00:00Z",
};

function dbAnswering(answer: { data: unknown; error: unknown }, calls: unknown[] = []): Db {
  return {
    rpc: (fn: string, args: unknown) => {
      calls.push({ fn, args });
      return Promise.resolve({ ...answer, count: null, status: 200, statusText: "OK" });
    },
    schema: () => {
      throw new Error("no ops RPC expected");
    },
  } as unknown as Db;
}

Deno.test("a template is rendered against the sample, escaped, with what the sample lacks", async () => {
  const calls: unknown[] = [];
  const request = previewRequest.parse({
    key: "promo.spring",
    locale: "ko",
    payload: { season: "<봄>" },
  });
  const result = await preview(
    dbAnswering({ data: stored, error: null }, calls),
    request,
    "https://ref.supabase.co",
  );
  assertEquals(calls, [{ fn: "get_email_template", args: { key: "promo.spring", locale: "ko" } }]);
  assertEquals(result.subject, "<봄> 세일");
  assertEquals(result.text, "<봄> ");
  ok(result.html.startsWith("<p>Alex: &lt;봄&gt; </p>"), result.html);
  assertEquals(result.missing, ["discount"]);
});

Deno.test("the database's refusal is the caller's 403", async () => {
  const refused = dbAnswering({
    data: null,
    error: {
      code: "42501",
      message: "managing e-mail templates needs the notifications.manage permission",
    },
  });
  await rejects(
    preview(refused, previewRequest.parse({ key: "bid.accepted" }), "https://ref.supabase.co"),
    (error) => error instanceof HttpError && error.status === 403,
  );
});

Deno.test("a malformed key or locale is refused before any call", () => {
  assertEquals(previewRequest.safeParse({ key: "Bid Accepted" }).success, false);
  assertEquals(previewRequest.safeParse({ key: "bid.accepted", locale: "Korean" }).success, false);
  assertEquals(previewRequest.parse({ key: "bid.accepted" }).locale, "en");
});
