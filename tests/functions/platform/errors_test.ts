import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { z } from "npm:zod@4.6.7";
import {
  ERROR_CODES,
  type ErrorCode,
  errorResponse,
  HttpError,
  isErrorCode,
  json,
  methodNotAllowed,
} from "../../../functions/_shared/http/errors.ts";

Deno.test("an HttpError is sent with its status, code, message and details", async () => {
  const res = errorResponse(new HttpError("conflict", "Already taken", { field: "slug" }));
  strictEqual(res.status, 409);
  strictEqual(res.headers.get("Content-Type"), "application/json");
  deepStrictEqual(await res.json(), {
    error: { code: "conflict", message: "Already taken", details: { field: "slug" } },
  });
});

Deno.test("an HttpError without details has no details key", async () => {
  const res = errorResponse(new HttpError("not_found", "No such listing"));
  deepStrictEqual(await res.json(), { error: { code: "not_found", message: "No such listing" } });
});

Deno.test("a zod error is a 400 invalid_request listing the issues", async () => {
  const schema = z.object({ title: z.string(), price: z.number().positive() });
  const parsed = schema.safeParse({ price: -1 });
  ok(!parsed.success);
  const res = errorResponse(parsed.error);
  strictEqual(res.status, 400);
  const body = await res.json();
  strictEqual(body.error.code, "invalid_request");
  deepStrictEqual(
    body.error.details.map((issue: { path: unknown[] }) => issue.path),
    [["title"], ["price"]],
  );
  for (const issue of body.error.details) {
    strictEqual(typeof issue.code, "string");
    strictEqual(typeof issue.message, "string");
  }
});

Deno.test("any other error is a 500 that is logged but not shown to the caller", async () => {
  const logged: unknown[][] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const res = errorResponse(new Error("password=hunter2 at db.internal:5432"));
    strictEqual(res.status, 500);
    const text = await res.text();
    deepStrictEqual(JSON.parse(text), {
      error: { code: "internal_error", message: "Internal server error" },
    });
    ok(!text.includes("hunter2"));
  } finally {
    console.error = consoleError;
  }
  ok(logged.flat().some((arg) => arg instanceof Error && arg.message.includes("hunter2")));
});

Deno.test("json sends a body with a status", async () => {
  const res = json({ id: 1 }, 201);
  strictEqual(res.status, 201);
  deepStrictEqual(await res.json(), { id: 1 });
});

Deno.test("an HttpError takes its status from the error code list", () => {
  for (
    const [code, { status }] of Object.entries(ERROR_CODES) as [ErrorCode, { status: number }][]
  ) {
    strictEqual(new HttpError(code, "m").status, status);
  }
  strictEqual(new HttpError("payment_provider_refused", "m").status, 409);
  strictEqual(methodNotAllowed("PUT", ["POST"]).status, 405);
  // Never called: `deno check` proves a code outside the list does not compile.
  const _notACode = () =>
    // @ts-expect-error: "teapot" is not an ErrorCode
    new HttpError("teapot", "m");
});

Deno.test("the error code list: one status and meaning each, 4xx or 5xx", () => {
  const codes = Object.keys(ERROR_CODES);
  ok(codes.length >= 14);
  for (const code of codes) {
    ok(/^[a-z][a-z_]*$/.test(code), code);
    ok(isErrorCode(code));
    const { status, meaning } = ERROR_CODES[code as ErrorCode];
    ok(status >= 400 && status < 600, `${code}: ${status}`);
    ok(meaning.length > 0);
  }
  ok(!isErrorCode("teapot"));
  ok(!isErrorCode("toString"));
});
