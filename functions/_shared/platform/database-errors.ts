// Errors the database raises on purpose, turned into the project's error format. The SQL
// functions behind the edge functions say what went wrong with a SQLSTATE and a message
// written for the caller; this is the one table from those codes to HTTP statuses.
import { HttpError } from "../http/errors.ts";

/** The fields of a PostgREST error that matter here (supabase-js's PostgrestError). */
export interface DatabaseError {
  code?: string;
  message: string;
  details?: string | null;
  hint?: string | null;
}

const statusBySqlState: Record<string, { status: number; code: string }> = {
  "22023": { status: 400, code: "invalid_request" }, // invalid_parameter_value
  "22P02": { status: 400, code: "invalid_request" }, // invalid_text_representation (a bad uuid)
  "22001": { status: 400, code: "invalid_request" }, // string_data_right_truncation
  "23514": { status: 400, code: "invalid_request" }, // check_violation
  "23502": { status: 400, code: "invalid_request" }, // not_null_violation
  "23503": { status: 404, code: "not_found" }, // foreign_key_violation: what it points at is not there
  "23505": { status: 409, code: "conflict" }, // unique_violation
  "42501": { status: 403, code: "forbidden" }, // insufficient_privilege
  "55000": { status: 409, code: "conflict" }, // object_not_in_prerequisite_state: wrong state
  "P0002": { status: 404, code: "not_found" }, // no_data_found
  "PGRST116": { status: 404, code: "not_found" }, // .single() found no row
};

/**
 * The HttpError for a database error the caller caused, or the error itself (a 500 through
 * errorResponse) when it is the server's fault: an unknown code is never blamed on the caller.
 */
export function fromDatabaseError(error: DatabaseError): HttpError | Error {
  const mapped = error.code ? statusBySqlState[error.code] : undefined;
  if (!mapped) {
    return Object.assign(new Error(`database error ${error.code ?? "?"}: ${error.message}`), {
      cause: error,
    });
  }
  return new HttpError(mapped.status, mapped.code, error.message);
}

/** Unwraps a supabase-js result: its data, or the mapped error thrown. */
export function orThrow<T>(result: { data: T | null; error: DatabaseError | null }): T {
  if (result.error) throw fromDatabaseError(result.error);
  return result.data as T;
}
