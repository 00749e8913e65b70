// The two ways a command fails, which the entry point turns into exit codes: a UsageError
// (bad command line, exit 2, usage shown) and a CommandError (the request could not be
// done, exit 1, one line on stderr).

import { FunctionsHttpError } from "@supabase/supabase-js";

export class UsageError extends Error {}

export class CommandError extends Error {}

interface ApiError {
  message: string;
  code?: string;
  details?: string | null;
}

/** What supabase-js returns from every call: data, or an error with at least a message. */
type ApiAnswer = { data: unknown; error: ApiError | null };

/** The data of a successful answer: supabase-js types answers as success | failure unions. */
type SuccessData<Answer extends ApiAnswer> = Extract<Answer, { error: null }>["data"];

/** The data of an API answer, or a CommandError whose one line says what failed and why. */
export function unwrap<Answer extends ApiAnswer>(
  answer: Answer,
  doing: string,
): SuccessData<Answer> {
  if (answer.error) throw new CommandError(`${doing}: ${oneLine(answer.error)}`);
  return answer.data as SuccessData<Answer>;
}

function oneLine(error: ApiError): string {
  const code = error.code ? ` (${error.code})` : "";
  const details = usefulDetails(error.details);
  return `${error.message}${code}${details ? `: ${details}` : ""}`.replace(/\s+/g, " ").trim();
}

// PostgREST's details are one sentence; a failed fetch puts a stack trace there instead,
// whose "Caused by" line is the part that says what went wrong.
function usefulDetails(details: string | null | undefined): string {
  if (!details) return "";
  const lines = details.split("\n");
  if (lines.length === 1) return details;
  const cause = lines.find((line) => line.startsWith("Caused by: "));
  return cause ? cause.slice("Caused by: ".length) : "";
}

/** The function's own words for a refusal ({ error: { message } }), else what failed. */
export async function reasonOf(error: Error): Promise<string> {
  if (error instanceof FunctionsHttpError) {
    const response = error.context as Response;
    const body = await response.json().catch(() => null);
    return `${body?.error?.message ?? response.statusText} (HTTP ${response.status})`;
  }
  // A request that never got an answer: fetch's "fetch failed" hides the reason in its cause.
  const failure = (error as Error & { context?: unknown }).context;
  const cause = failure instanceof Error
    ? (failure.cause as Error | undefined) ?? failure
    : undefined;
  return cause ? `${error.message}: ${cause.message}` : error.message;
}
