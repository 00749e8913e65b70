// POST /billing-manage-subscription { action, subscription_id, … } (signed in): the owner of a
// subscription changes it through Stripe; the mirror follows by webhook.
//   - preview_change { plan_price_id }: Stripe's invoices/create_preview of the change with the
//     target plan's proration_behavior (plans.proration_behavior, set by staff), nothing
//     changed; the answer names the behaviour;
//   - change_plan { plan_price_id, proration_date? }: the item's price changed with that
//     behaviour: always_invoice (the default) invoices the prorations at once (charged if
//     positive; a credit goes to the customer's balance, as Stripe does), create_prorations
//     leaves them for the next renewal invoice, none prorates nothing;
//   - cancel_at_period_end / resume_renewal: the auto-renew toggle;
//   - pause / resume: Stripe's pause API (status paused, no invoices) and its resume;
//   - force_cancel { reason, refund? } (staff holding billing.manage only): cancelled now,
//     the reason in cancellation_details.comment; refund=true refunds the latest paid invoice's
//     payment (idempotency key force_cancel_refund:<subscription id>) and posts the refund to
//     the ledger once (ops.record_subscription_refund) before cancelling; a failure after the
//     refund is answered as an error and the same request again finishes it (same refund).
// Someone else's subscription is 404 (staff see all); a target price outside the family,
// unknown, archived or the current one is refused before Stripe is asked.
import type Stripe from "npm:stripe@23.1.0";
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { stripeHttpError } from "../_shared/payments/stripe-errors.ts";
import { asJson, callJson, type Db } from "../_shared/platform/rpc.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { manageRequest } from "../_shared/billing/requests.ts";
import { billingKeys, type BillingStripe } from "../_shared/billing/stripe-billing.ts";

const mirrored = z.object({
  id: z.string(),
  status: z.string(),
  stripe_subscription_id: z.string(),
  stripe_customer_id: z.string(),
  staff: z.boolean(),
  owner: z.boolean(),
});
const target = z.object({
  stripe_price_id: z.string(),
  plan_price_id: z.string(),
  proration_behavior: z.enum(["create_prorations", "always_invoice", "none"]),
});

const refundRecorded = z.object({ posted: z.boolean(), amount_refunded: z.number() });

type Body = z.infer<typeof manageRequest>;

function summary(sub: {
  id: string;
  status: string;
  cancel_at_period_end: boolean;
  cancel_at: number | null;
}) {
  return {
    stripe_subscription_id: sub.id,
    status: sub.status,
    cancel_at_period_end: sub.cancel_at_period_end,
    cancel_at: sub.cancel_at,
  };
}

export async function manageSubscription(
  { db, stripe }: { db: Db; stripe: BillingStripe },
  user: { id: string },
  body: Body,
) {
  const sub = await callJson(db, "billing_subscription_for", {
    acting_user: user.id,
    subscription_id: body.subscription_id,
  }, mirrored);
  if (body.action === "force_cancel" && !sub.staff) {
    throw new HttpError("forbidden", "Force cancelling a subscription needs billing.manage");
  }
  if (body.action !== "force_cancel" && !sub.owner) {
    throw new HttpError("forbidden", "Only the subscriber manages their subscription");
  }
  const id = sub.stripe_subscription_id;
  try {
    switch (body.action) {
      case "preview_change":
      case "change_plan": {
        const to = await callJson(db, "billing_change_target", {
          subscription_id: sub.id,
          plan_price_id: body.plan_price_id,
        }, target);
        const current = await stripe.subscriptions.retrieve(id);
        const item = current.items.data[0];
        if (body.action === "preview_change") {
          const preview = await stripe.invoices.createPreview({
            customer: sub.stripe_customer_id,
            subscription: id,
            subscription_details: {
              items: [{ id: item.id, price: to.stripe_price_id }],
              proration_behavior: to.proration_behavior,
            },
          });
          return {
            plan_price_id: to.plan_price_id,
            proration_behavior: to.proration_behavior,
            currency: preview.currency,
            amount_due: preview.amount_due,
            total: preview.total,
            lines: preview.lines.data.map((l) => ({
              description: l.description,
              amount: l.amount,
              proration: l.parent?.subscription_item_details?.proration ?? false,
            })),
          };
        }
        const updated = await stripe.subscriptions.update(id, {
          items: [{ id: item.id, price: to.stripe_price_id }],
          proration_behavior: to.proration_behavior,
          ...(body.proration_date ? { proration_date: body.proration_date } : {}),
          metadata: { plan_price_id: to.plan_price_id },
        });
        return { ...summary(updated), proration_behavior: to.proration_behavior };
      }
      case "cancel_at_period_end":
      case "resume_renewal":
        return summary(
          await stripe.subscriptions.update(id, {
            cancel_at_period_end: body.action === "cancel_at_period_end",
          }),
        );
      case "pause":
        return summary(await stripe.subscriptions.pause(id, { type: "subscription" }));
      case "resume":
        return summary(await stripe.subscriptions.resume(id, {}));
      case "force_cancel": {
        let refund: Stripe.Refund | null = null;
        let recorded: z.infer<typeof refundRecorded> | null = null;
        const current = await stripe.subscriptions.retrieve(id);
        if (body.refund) {
          const invoiceId = typeof current.latest_invoice === "string"
            ? current.latest_invoice
            : current.latest_invoice?.id;
          if (invoiceId) {
            const payments = await stripe.invoicePayments.list({ invoice: invoiceId });
            const paid = payments.data.find((p) => p.status === "paid");
            const intent = paid?.payment?.payment_intent;
            if (typeof intent === "string") {
              refund = await stripe.refunds.create({
                payment_intent: intent,
                reason: "requested_by_customer",
                metadata: { subscription_id: sub.id, invoice: invoiceId, reason: body.reason },
                expand: ["balance_transaction"],
              }, { idempotencyKey: billingKeys.forceCancelRefund(sub.id) });
              recorded = await callJson(db, "record_subscription_refund", {
                acting_user: user.id,
                stripe_invoice_id: invoiceId,
                refund: asJson(refund),
              }, refundRecorded);
            }
          }
        }
        const canceled = current.status === "canceled" ? current : await stripe.subscriptions
          .cancel(id, { cancellation_details: { comment: body.reason } });
        return {
          ...summary(canceled),
          refund_id: refund?.id ?? null,
          refunded: refund?.amount ?? 0,
          refund_posted: recorded?.posted ?? false,
        };
      }
    }
  } catch (err) {
    throw stripeHttpError(err);
  }
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user } = await requireUser(req);
  const body = await readJson(req, manageRequest);
  return json(
    await manageSubscription({ db: serviceClient(), stripe: stripeClient() }, user, body),
  );
});
