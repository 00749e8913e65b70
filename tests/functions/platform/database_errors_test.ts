import { ok, strictEqual } from "node:assert/strict";
import { ERROR_CODES, HttpError } from "../../../functions/_shared/http/errors.ts";
import {
  codeBySqlState,
  fromDatabaseError,
  orThrow,
} from "../../../functions/_shared/platform/database-errors.ts";

// The one table from SQLSTATEs to error codes, read against what PostgREST answers a client
// calling the same RPC directly (docs/architecture.md, "Errors").

Deno.test("a PTxyz SQLSTATE is the error code whose status is xyz, as PostgREST answers it", () => {
  const custom = Object.entries(codeBySqlState).filter(([sqlState]) => sqlState.startsWith("PT"));
  strictEqual(custom.length, 3);
  for (const [sqlState, code] of custom) {
    strictEqual(ERROR_CODES[code].status, Number(sqlState.slice(2)), sqlState);
  }
  strictEqual(codeBySqlState.PT404, "not_found");
  strictEqual(codeBySqlState.PT409, "conflict");
  strictEqual(codeBySqlState.PT429, "rate_limited");
});

Deno.test("the database's refusals are the caller's 4xx with the database's message", () => {
  const cases = [
    ["PT404", "order 6b1e… not found", "not_found", 404],
    ["PT409", "order 6b1e… is completed: it cannot move to revision_requested", "conflict", 409],
    ["42501", "only the seller submits deliveries", "forbidden", 403],
    ["22023", "a cancellation needs a reason", "invalid_request", 400],
    ["22P02", 'invalid input syntax for type uuid: "x"', "invalid_request", 400],
    ["23505", "duplicate key value violates unique constraint", "conflict", 409],
    ["23503", "insert or update violates foreign key constraint", "not_found", 404],
    ["PGRST116", "JSON object requested, multiple (or no) rows returned", "not_found", 404],
  ] as const;
  for (const [sqlState, message, code, status] of cases) {
    const error = fromDatabaseError({ code: sqlState, message });
    ok(error instanceof HttpError, sqlState);
    strictEqual(error.code, code, sqlState);
    strictEqual(error.status, status, sqlState);
    strictEqual(error.message, message, sqlState);
  }
});

Deno.test("P0002 and 55000 are not refusals: PostgREST answers them with 500, and so do functions", () => {
  // A raise with either is a bug against the convention (PT404 / PT409); 55000 stays only for
  // the server's own configuration (a missing setting or Vault secret), which is no client's
  // mistake.
  for (const sqlState of ["P0002", "55000", "XX000", "40001"]) {
    const error = fromDatabaseError({ code: sqlState, message: "m" });
    ok(!(error instanceof HttpError), sqlState);
    strictEqual(error.message, `database error ${sqlState}: m`);
  }
  const noCode = fromDatabaseError({ message: "fetch failed" });
  ok(!(noCode instanceof HttpError));
});

Deno.test("a per-call override changes one code for one call, and only there", () => {
  const expired = { code: "PT410", message: "share link expired" };
  const overridden = fromDatabaseError(expired, { PT410: "share_link_expired" });
  ok(overridden instanceof HttpError);
  strictEqual(overridden.code, "share_link_expired");
  strictEqual(overridden.status, 410);
  ok(!(fromDatabaseError(expired) instanceof HttpError), "PT410 is no refusal elsewhere");
  const notFound = fromDatabaseError({ code: "PT404", message: "m" }, {
    PT410: "share_link_expired",
  });
  ok(notFound instanceof HttpError);
  strictEqual(notFound.code, "not_found");
});

Deno.test("orThrow returns the data, or throws the mapped error", () => {
  strictEqual(orThrow({ data: 7, error: null }), 7);
  try {
    orThrow({ data: null, error: { code: "PT409", message: "bid 1 is accepted" } });
    ok(false, "orThrow did not throw");
  } catch (error) {
    ok(error instanceof HttpError);
    strictEqual(error.status, 409);
    strictEqual(error.message, "bid 1 is accepted");
  }
});
