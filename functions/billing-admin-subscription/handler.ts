// POST /billing-admin-subscription { action, subscription_id, acting_user?, … } (004 admin
// subscriptions: modify, force cancel, refund): the subscription desk of staff holding
// billing.manage (from an aal2 session when they have a verified factor, as every staff function
// that moves money); the admin CLI calls it with the service-role key and acting_user (the
// staff account it acts for). The Stripe calls are billing-manage-subscription's own
// (manageSubscription), not written again:
//   - change_plan { plan_price_id, proration_date? }, pause, resume, cancel_at_period_end,
//     resume_renewal: made as the subscriber would make them (manageSubscription acting for the
//     subscription's owner), the same refusals (a price of another family 409, …);
//   - force_cancel { reason, refund? }: manageSubscription's staff force cancel;
//   - refund { reason, stripe_invoice_id?, amount? }: refunds the paid payment of one of the
//     subscription's invoices (the latest paid one by default; what is left of it, or `amount`
//     minor units), idempotency key subscription_refund:<in_…>, so asking again refunds nothing
//     more, and posts it to the ledger once as the force cancel's refund is posted
//     (ops.record_subscription_refund).
// Each staff action is written to the audit log (ops.record_billing_admin_action: the staff
// member, the action, its details); the mirror follows by webhook. A user without
// billing.manage gets 403 for their own subscription and 404 for anyone else's.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { stripeHttpError } from "../_shared/payments/stripe-errors.ts";
import { asJson, call, callJson, type Db } from "../_shared/platform/rpc.ts";
import { type Client, serviceClient } from "../_shared/platform/supabase.ts";
import { actingStaffMember } from "../_shared/identity/actor.ts";
import type { BillingStripe } from "../_shared/billing/stripe-billing.ts";
import { manageSubscription } from "../billing-manage-subscription/handler.ts";

const base = { subscription_id: z.uuid(), acting_user: z.uuid().optional() };

export const adminSubscriptionRequest = z.discriminatedUnion("action", [
  z.strictObject({
    action: z.literal("change_plan"),
    ...base,
    plan_price_id: z.uuid(),
    proration_date: z.number().int().positive().optional(),
  }),
  z.strictObject({ action: z.literal("pause"), ...base }),
  z.strictObject({ action: z.literal("resume"), ...base }),
  z.strictObject({ action: z.literal("cancel_at_period_end"), ...base }),
  z.strictObject({ action: z.literal("resume_renewal"), ...base }),
  z.strictObject({
    action: z.literal("force_cancel"),
    ...base,
    reason: z.string().trim().min(3).max(500),
    refund: z.boolean().default(false),
  }),
  z.strictObject({
    action: z.literal("refund"),
    ...base,
    reason: z.string().trim().min(3).max(500),
    stripe_invoice_id: z.string().regex(/^in_[A-Za-z0-9_]+$/, "a Stripe invoice id (in_…)")
      .optional(),
    amount: z.number().int().positive().optional(),
  }),
]);
type AdminRequest = z.infer<typeof adminSubscriptionRequest>;

const mirrored = z.object({
  id: z.string(),
  user_id: z.string(),
  stripe_subscription_id: z.string(),
  staff: z.boolean(),
});

/** The refund of one of a subscription's invoices: at most one per invoice from the desk. */
export const refundKey = (stripeInvoiceId: string) => `subscription_refund:${stripeInvoiceId}`;

const refundRecorded = z.object({ posted: z.boolean(), amount_refunded: z.number() });

async function refundInvoice(
  { db, stripe, service }: { db: Db; stripe: BillingStripe; service: Client },
  actor: string,
  sub: z.infer<typeof mirrored>,
  body: Extract<AdminRequest, { action: "refund" }>,
) {
  let query = service.from("stripe_invoices").select(
    "stripe_invoice_id, amount_paid, amount_refunded, currency",
  )
    .eq("stripe_subscription_id", sub.stripe_subscription_id).eq("status", "paid");
  if (body.stripe_invoice_id) query = query.eq("stripe_invoice_id", body.stripe_invoice_id);
  const { data: invoices, error } = await query.order("stripe_created_at", { ascending: false })
    .limit(1);
  if (error) throw error;
  const invoice = invoices[0];
  if (!invoice) {
    throw new HttpError(
      "not_found",
      body.stripe_invoice_id
        ? `invoice ${body.stripe_invoice_id} is not a paid invoice of subscription ${sub.id}`
        : `subscription ${sub.id} has no paid invoice`,
    );
  }
  const left = invoice.amount_paid - invoice.amount_refunded;
  if (body.amount !== undefined && body.amount > left) {
    throw new HttpError(
      "invalid_request",
      `invoice ${invoice.stripe_invoice_id} has ${left} left to refund (${invoice.amount_paid} paid): a refund of ${body.amount} is more`,
    );
  }
  try {
    const payments = await stripe.invoicePayments.list({ invoice: invoice.stripe_invoice_id });
    const intent = payments.data.find((p) => p.status === "paid")?.payment?.payment_intent;
    if (typeof intent !== "string") {
      throw new HttpError(
        "conflict",
        `invoice ${invoice.stripe_invoice_id} has no paid payment to refund`,
      );
    }
    const refund = await stripe.refunds.create({
      payment_intent: intent,
      ...(body.amount !== undefined ? { amount: body.amount } : {}),
      reason: "requested_by_customer",
      metadata: {
        subscription_id: sub.id,
        invoice: invoice.stripe_invoice_id,
        reason: body.reason,
      },
      expand: ["balance_transaction"],
    }, { idempotencyKey: refundKey(invoice.stripe_invoice_id) });
    const recorded = await callJson(db, "record_subscription_refund", {
      acting_user: actor,
      stripe_invoice_id: invoice.stripe_invoice_id,
      refund: asJson(refund),
    }, refundRecorded);
    return {
      stripe_invoice_id: invoice.stripe_invoice_id,
      refund_id: refund.id,
      refunded: refund.amount,
      currency: invoice.currency,
      status: refund.status,
      refund_posted: recorded.posted,
      amount_refunded: recorded.amount_refunded,
    };
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw stripeHttpError(err);
  }
}

export async function adminSubscription(
  { db, stripe, service }: { db: Db; stripe: BillingStripe; service: Client },
  actor: string,
  body: AdminRequest,
) {
  const sub = await callJson(db, "billing_subscription_for", {
    acting_user: actor,
    subscription_id: body.subscription_id,
  }, mirrored);
  if (!sub.staff) {
    throw new HttpError("forbidden", "The subscription desk needs the billing.manage permission");
  }
  const { acting_user: _, ...request } = body;
  let result: Record<string, unknown>;
  let details: Record<string, unknown>;
  switch (request.action) {
    case "refund":
      result = await refundInvoice({ db, stripe, service }, actor, sub, request);
      details = { reason: request.reason, ...result };
      break;
    case "force_cancel":
      result = await manageSubscription({ db, stripe }, { id: actor }, request);
      details = {
        reason: request.reason,
        refund: request.refund,
        refund_id: result.refund_id ?? null,
      };
      break;
    default:
      // What the subscriber may do, done for them.
      result = await manageSubscription({ db, stripe }, { id: sub.user_id }, request);
      details = request.action === "change_plan" ? { plan_price_id: request.plan_price_id } : {};
  }
  await call(db, "record_billing_admin_action", {
    acting_user: actor,
    action: request.action,
    subscription_id: sub.id,
    details: asJson({ ...details, status: result.status ?? null }),
  });
  return { action: request.action, subscription_id: sub.id, ...result };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const body = await readJson(req, adminSubscriptionRequest);
  const actor = await actingStaffMember(req, body.acting_user);
  const service = serviceClient();
  return json(
    await adminSubscription({ db: service, stripe: stripeClient(), service }, actor, body),
  );
});
