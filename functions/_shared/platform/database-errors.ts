// Errors the database raises on purpose, turned into the project's error format. The SQL
// functions behind the edge functions say what went wrong with a SQLSTATE and a message
// written for the caller; this is the one table from those codes to the error codes (whose
// HTTP statuses are in types/error-codes.ts). The SQLSTATEs are the ones PostgREST answers
// with the same 4xx status for a client calling the RPC directly (docs/architecture.md,
// "Errors"): PTxyz is PostgREST's "answer HTTP xyz", so "not found" is raised as PT404 and
// "wrong state" as PT409, never as P0002 or 55000, which PostgREST answers with a 500.
import { type ErrorCode, HttpError } from "../http/errors.ts";

/** The fields of a PostgREST error that matter here (supabase-js's PostgrestError). */
export interface DatabaseError {
  code?: string;
  message: string;
  details?: string | null;
  hint?: string | null;
}

export const codeBySqlState: Readonly<Record<string, ErrorCode>> = {
  "22023": "invalid_request", // invalid_parameter_value
  "22P02": "invalid_request", // invalid_text_representation (a bad uuid)
  "22001": "invalid_request", // string_data_right_truncation
  "23514": "invalid_request", // check_violation
  "23502": "invalid_request", // not_null_violation
  "23503": "not_found", // foreign_key_violation: what it points at is not there
  "23505": "conflict", // unique_violation
  "42501": "forbidden", // insufficient_privilege
  "PT404": "not_found", // raised for "not found, or not visible to you" (HTTP 404 from PostgREST)
  "PT409": "conflict", // raised for "not in a state that allows this" (HTTP 409 from PostgREST)
  "PT429": "rate_limited", // raised for "too many requests, try again later" (HTTP 429 from PostgREST)
  "PGRST116": "not_found", // .single() found no row
};

/** Error codes that replace the table's for one call (a SQLSTATE that means more there). */
export type SqlStateCodes = Readonly<Record<string, ErrorCode>>;

/**
 * The HttpError for a database error the caller caused, or the error itself (a 500 through
 * errorResponse) when it is the server's fault: an unknown code is never blamed on the caller.
 */
export function fromDatabaseError(error: DatabaseError, overrides: SqlStateCodes = {}): Error {
  const sqlState = error.code;
  const code = !sqlState
    ? undefined
    : Object.hasOwn(overrides, sqlState)
    ? overrides[sqlState]
    : Object.hasOwn(codeBySqlState, sqlState)
    ? codeBySqlState[sqlState]
    : undefined;
  if (!code) {
    return Object.assign(new Error(`database error ${sqlState ?? "?"}: ${error.message}`), {
      cause: error,
    });
  }
  return new HttpError(code, error.message);
}

/** A supabase-js result: the data on success, the error otherwise. */
export type DatabaseResult<T> = { data: T; error: null } | { data: null; error: DatabaseError };

/**
 * Unwraps a supabase-js result (a query's or an RPC's): its data, or the mapped error thrown.
 * The one way functions read what the database answers, so a refusal is the same 4xx in
 * every function.
 */
export function orThrow<Result extends DatabaseResult<unknown>>(
  result: Result,
  overrides?: SqlStateCodes,
): SuccessData<Result> {
  if (result.error) throw fromDatabaseError(result.error, overrides);
  return result.data as SuccessData<Result>;
}

/** The data of a result's success: null only where the query itself may find nothing. */
type SuccessData<Result> = Result extends { data: infer Data; error: null } ? Data : never;
