// POST /billing-statement-pdf { month, user_id? } (signed in): the monthly statement of the
// UTC month containing `month` (YYYY-MM or YYYY-MM-DD) as data and as a PDF in the private
// invoices bucket, <user id>/statements/<YYYY-MM>.pdf, with a signed URL valid for an hour.
// The caller's own statement, or (billing.manage) user_id's: public.monthly_statement is read
// with the caller's token and refuses the rest (403, 400 for a month to come). Rendered again
// on every call, the same statement to the same bytes (functions/_shared/billing/statement-pdf.ts).
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { storeStatementPdf } from "../_shared/billing/statement-pdf.ts";

export const statementRequest = z.strictObject({
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])(-\d{2})?$/, "a month is YYYY-MM"),
  user_id: z.uuid().optional(),
});

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { client } = await requireUser(req);
  const { month, user_id } = await readJson(req, statementRequest);
  const firstDay = month.length === 7 ? `${month}-01` : month;
  return json(await storeStatementPdf(client, serviceClient(), firstDay, user_id));
});
