// Reading a request's JSON body against a zod schema. A body that is not JSON and a body that
// does not match both end as 400 invalid_request (the ZodError through errorResponse), so a
// client's mistake never surfaces as a 500.
import type { z } from "npm:zod@4.6.7";
import { HttpError } from "./errors.ts";

export async function readJson<Schema extends z.ZodType>(
  req: Request,
  schema: Schema,
): Promise<z.infer<Schema>> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    throw new HttpError("invalid_request", "The request body is not valid JSON");
  }
  return schema.parse(body);
}
