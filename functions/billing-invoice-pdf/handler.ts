// POST /billing-invoice-pdf { invoice_id }: an issued invoice (or credit note) as a PDF in the
// private invoices bucket, <customer id>/<invoice id>.pdf, answered with a signed URL valid
// for an hour. Whoever may read the invoice may ask (its customer, its seller, billing.manage:
// the read goes through RLS as the caller); a draft has no PDF (409). The file is rendered
// again on every call and comes out byte for byte the same (functions/_shared/billing/
// invoice-pdf.ts), so overwriting it changes nothing.
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { storeInvoicePdf } from "../_shared/billing/invoice-pdf.ts";

const pdfRequest = z.object({ invoice_id: z.uuid() }).strict();

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { client } = await requireUser(req);
  const { invoice_id } = await readJson(req, pdfRequest);
  return json(await storeInvoicePdf(client, serviceClient(), invoice_id));
});
