// Stripe Billing, the second part, end to end over HTTP through the functions and the Stripe
// stand-in with the real Stripe SDK: subscribing with Elements (billing-subscribe flow
// "elements", billing-confirm-payment: a test card succeeds, a declined one leaves the
// subscription incomplete with a clear error, 3-D Secure asks for action, 23 hours unpaid end
// it), each staff proration behaviour on a plan change, a staff force cancel's refund posted to
// the ledger once, and subscription invoices in payments-reconcile (a tampered row reported).

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import {
  admin,
  callFunction,
  client,
  eventually,
  SERVICE_ROLE_KEY,
  SUPABASE_URL,
  withDatabase,
} from "../support/clients.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";
import {
  createPlan,
  manage,
  mirrorOf,
  type Plan,
  settled,
  subscribeByCheckout,
  syncPlans,
} from "../support/billing.ts";

let staff: TestUser;
let pro: Plan;
let team: Plan;
let basic: Plan;

beforeAll(async () => {
  await stripeControl("webhooks/resume", { discard_held: false });
  staff = await signUpWithRole("billing-desk", "staff");
  pro = await createPlan(staff, "pro", 9900);
  team = await createPlan(staff, "team", 29900);
  basic = await createPlan(staff, "basic", 4900);
  await syncPlans(staff);
});

async function intent(user: TestUser, planPriceId: string) {
  return await callFunction(user.client, "billing-subscribe", {
    flow: "elements",
    plan_price_id: planPriceId,
  });
}

async function confirm(user: TestUser, paymentIntentId: string, paymentMethod: string) {
  return await callFunction(user.client, "billing-confirm-payment", {
    payment_intent_id: paymentIntentId,
    payment_method: paymentMethod,
  });
}

describe("subscribing with Elements", () => {
  it("answers the first invoice's client secret; a declined card leaves it incomplete, a test card activates it", async () => {
    const user = await signUp("billing-elements");
    const stranger = await signUp("billing-elements-stranger");
    const started = await intent(user, pro.monthly);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body).toMatchObject({
      flow: "elements",
      status: "incomplete",
      amount_due: 9900,
      currency: "KRW",
    });
    expect(started.body.payment_intent_id).toMatch(/^pi_/);
    expect(started.body.client_secret).toMatch(
      new RegExp(`^${started.body.payment_intent_id}_secret_`),
    );
    const subId = started.body.stripe_subscription_id as string;
    const stripeSub = await stripeSdk().subscriptions.retrieve(subId);
    expect(stripeSub.payment_settings?.save_default_payment_method).toBe("on_subscription");
    expect((await settled(user, subId, "incomplete")).plan_price_id).toBe(pro.monthly);

    // Asked again while it waits: the same subscription and intent.
    const again = await intent(user, pro.monthly);
    expect(again.status).toBe(201);
    expect(again.body.stripe_subscription_id).toBe(subId);
    expect(again.body.payment_intent_id).toBe(started.body.payment_intent_id);

    // Someone else's intent is not found; a malformed id is refused before Stripe.
    const theirs = await confirm(stranger, started.body.payment_intent_id, "pm_card_visa");
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.message).toBe(
      `payment intent ${started.body.payment_intent_id} not found`,
    );
    const malformed = await confirm(user, "in_123", "pm_card_visa");
    expect(malformed.status).toBe(400);
    const anon = await callFunction(client(), "billing-confirm-payment", {
      payment_intent_id: started.body.payment_intent_id,
      payment_method: "pm_card_visa",
    });
    expect(anon.status).toBe(401);

    // Declined: 409 with Stripe's reason; still incomplete, nothing paid.
    const declined = await confirm(user, started.body.payment_intent_id, "pm_card_chargeDeclined");
    expect(declined.status, JSON.stringify(declined.body)).toBe(409);
    expect(declined.body.error).toMatchObject({
      code: "payment_provider_refused",
      message: "the card was declined: Your card was declined.",
      details: { stripe_code: "card_declined", payment_intent_id: started.body.payment_intent_id },
    });
    await drainWebhooks();
    expect((await mirrorOf(user, subId))!.status).toBe("incomplete");
    expect((await stripeSdk().subscriptions.retrieve(subId)).status).toBe("incomplete");

    // A test card: succeeded; the webhook turns the mirror active, the card is saved on it.
    const paid = await confirm(user, started.body.payment_intent_id, "pm_card_visa");
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body).toEqual({
      status: "succeeded",
      payment_intent_id: started.body.payment_intent_id,
      amount: 9900,
      currency: "KRW",
    });
    await settled(user, subId, "active");
    expect((await stripeSdk().subscriptions.retrieve(subId)).default_payment_method).toMatch(
      /^pm_/,
    );
    const twice = await confirm(user, started.body.payment_intent_id, "pm_card_visa");
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toBe(
      `payment intent ${started.body.payment_intent_id} is succeeded: only an unpaid intent is confirmed`,
    );

    // Live now: another Elements subscription in the family is refused before Stripe.
    const second = await intent(user, team.monthly);
    expect(second.status).toBe(409);
  });

  it("asks for 3-D Secure with requires_action, and ends an unpaid one after 23 hours", async () => {
    const user = await signUp("billing-elements-3ds");
    const started = await intent(user, pro.monthly);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const action = await confirm(
      user,
      started.body.payment_intent_id,
      "pm_card_authenticationRequired",
    );
    expect(action.status, JSON.stringify(action.body)).toBe(200);
    expect(action.body).toMatchObject({
      status: "requires_action",
      payment_intent_id: started.body.payment_intent_id,
      client_secret: started.body.client_secret,
      next_action: "use_stripe_sdk",
    });
    const subId = started.body.stripe_subscription_id as string;
    await settled(user, subId, "incomplete");

    // Never authenticated: 23 hours later (the stand-in's clock) Stripe ends it.
    const expired = await stripeControl(`subscriptions/${subId}/expire_incomplete`, {});
    expect(expired.status, JSON.stringify(expired.body)).toBe(200);
    await settled(user, subId, "incomplete_expired");
    const { data: invoices } = await user.client.from("stripe_invoices").select("status")
      .eq("stripe_subscription_id", subId);
    expect(invoices).toEqual([{ status: "void" }]);

    // Then a new one may start, a new subscription.
    const fresh = await intent(user, pro.monthly);
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);
    expect(fresh.body.stripe_subscription_id).not.toBe(subId);
  });

  it("replaces a waiting subscription of another price in the family, and starts a trial without a payment", async () => {
    const user = await signUp("billing-elements-switch");
    const first = await intent(user, pro.monthly);
    expect(first.status).toBe(201);
    const switched = await intent(user, basic.monthly);
    expect(switched.status, JSON.stringify(switched.body)).toBe(201);
    expect(switched.body.stripe_subscription_id).not.toBe(first.body.stripe_subscription_id);
    expect((await stripeSdk().subscriptions.retrieve(first.body.stripe_subscription_id)).status)
      .toBe("canceled");
    await settled(user, switched.body.stripe_subscription_id, "incomplete");
    await settled(user, first.body.stripe_subscription_id, "canceled");

    const trial = await createPlan(staff, "elements-trial", 19900, { trial_days: 7 });
    await syncPlans(staff);
    const trialist = await signUp("billing-elements-trial");
    const started = await intent(trialist, trial.monthly);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body).toMatchObject({ status: "trialing", client_secret: null, amount_due: 0 });
    await settled(trialist, started.body.stripe_subscription_id, "trialing");
  });
});

describe("proration behaviour, set by staff per plan", () => {
  it("is refused to a subscriber and to a bad value, audited, and used by preview and change", async () => {
    const user = await signUp("billing-prorations");
    const denied = await user.client.rpc("update_plan", {
      plan_id: team.id,
      fields: { proration_behavior: "none" },
    });
    expect(denied.error?.code).toBe("42501");
    const bad = await staff.client.rpc("update_plan", {
      plan_id: team.id,
      fields: { proration_behavior: "sometimes" },
    });
    expect(bad.error).toMatchObject({
      code: "22023",
      message: "proration_behavior is create_prorations, always_invoice or none",
    });

    const subId = await subscribeByCheckout(user, pro.monthly);
    const row = await settled(user, subId, "active");
    const updateInvoices = async () => {
      const { data } = await user.client.from("stripe_invoices").select("billing_reason")
        .eq("stripe_subscription_id", subId).eq("billing_reason", "subscription_update");
      return data!.length;
    };

    // none (basic): no proration line at all, nothing invoiced.
    expect(
      (await staff.client.rpc("update_plan", {
        plan_id: basic.id,
        fields: { proration_behavior: "none" },
      })).error,
    ).toBeNull();
    const { data: audit } = await admin().from("audit_log").select("*")
      .eq("table_name", "plans").eq("row_id", basic.id).order("id", { ascending: false }).limit(1);
    expect(audit?.[0]).toMatchObject({
      action: "update",
      before: expect.objectContaining({ proration_behavior: "always_invoice" }),
      after: expect.objectContaining({ proration_behavior: "none" }),
    });
    const none = await manage(user, {
      action: "preview_change",
      subscription_id: row.id,
      plan_price_id: basic.monthly,
    });
    expect(none.status, JSON.stringify(none.body)).toBe(200);
    expect(none.body.proration_behavior).toBe("none");
    expect((none.body.lines as { proration: boolean }[]).some((l) => l.proration)).toBe(false);
    const toBasic = await manage(user, {
      action: "change_plan",
      subscription_id: row.id,
      plan_price_id: basic.monthly,
    });
    expect(toBasic.status, JSON.stringify(toBasic.body)).toBe(200);
    expect(toBasic.body.proration_behavior).toBe("none");
    await drainWebhooks();
    await eventually("on basic", async () => {
      const r = await mirrorOf(user, subId);
      return r?.plan_price_id === basic.monthly ? r : undefined;
    });
    expect(await updateInvoices()).toBe(0);

    // create_prorations (team): the preview shows the two prorations and the next period at
    // the new price; the change invoices nothing now (the prorations wait for the renewal).
    expect(
      (await staff.client.rpc("update_plan", {
        plan_id: team.id,
        fields: { proration_behavior: "create_prorations" },
      })).error,
    ).toBeNull();
    const preview = await manage(user, {
      action: "preview_change",
      subscription_id: row.id,
      plan_price_id: team.monthly,
    });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.proration_behavior).toBe("create_prorations");
    const lines = preview.body.lines as { amount: number; proration: boolean }[];
    expect(lines.filter((l) => l.proration)).toHaveLength(2);
    expect(lines.filter((l) => !l.proration).map((l) => l.amount)).toEqual([29900]);
    const toTeam = await manage(user, {
      action: "change_plan",
      subscription_id: row.id,
      plan_price_id: team.monthly,
    });
    expect(toTeam.status, JSON.stringify(toTeam.body)).toBe(200);
    await drainWebhooks();
    await eventually("on team", async () => {
      const r = await mirrorOf(user, subId);
      return r?.plan_price_id === team.monthly ? r : undefined;
    });
    expect(await updateInvoices()).toBe(0);

    // always_invoice (pro, the default): the prorations are invoiced and charged now, those
    // left pending by the team change included.
    const back = await manage(user, {
      action: "preview_change",
      subscription_id: row.id,
      plan_price_id: pro.monthly,
    });
    expect(back.body.proration_behavior).toBe("always_invoice");
    const backLines = back.body.lines as { proration: boolean }[];
    expect(backLines.length).toBe(4);
    expect(backLines.every((l) => l.proration)).toBe(true);
    expect(
      (await manage(user, {
        action: "change_plan",
        subscription_id: row.id,
        plan_price_id: pro.monthly,
      })).status,
    ).toBe(200);
    await drainWebhooks();
    await eventually(
      "a subscription_update invoice",
      async () => (await updateInvoices()) === 1 || undefined,
    );
    const { data: charged } = await user.client.from("stripe_invoices").select("amount_due, lines")
      .eq("stripe_subscription_id", subId).eq("billing_reason", "subscription_update").single();
    expect(charged!.amount_due).toBe(back.body.amount_due);
  });
});

describe("a staff force cancel with refund", () => {
  it("posts the refund to the ledger once, balanced, and payments-reconcile finds a tampered row", async () => {
    const user = await signUp("billing-refunded");
    const subId = await subscribeByCheckout(user, pro.monthly);
    const row = await settled(user, subId, "active");
    const { data: invoice } = await user.client.from("stripe_invoices").select("*")
      .eq("stripe_subscription_id", subId).eq("status", "paid").single();

    const body = {
      action: "force_cancel",
      subscription_id: row.id,
      reason: "chargeback risk",
      refund: true,
    };
    const forced = await manage(staff, body);
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body).toMatchObject({ status: "canceled", refunded: 9900, refund_posted: true });
    // The same request again (a retry): the same refund, nothing posted twice.
    const again = await manage(staff, body);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.refund_id).toBe(forced.body.refund_id);
    await settled(user, subId, "canceled");

    const key = `subscription_refund:${invoice!.stripe_invoice_id}:${forced.body.refund_id}`;
    const { data: postings } = await admin().from("ledger_transactions")
      .select("id, ledger_entries(amount, ledger_accounts(kind, currency))").eq(
        "idempotency_key",
        key,
      );
    expect(postings).toHaveLength(1);
    const entries = (postings![0] as unknown as {
      ledger_entries: { amount: number; ledger_accounts: { kind: string; currency: string } }[];
    }).ledger_entries.map((e) => [e.ledger_accounts.kind, e.ledger_accounts.currency, e.amount]);
    expect(entries.sort()).toEqual([
      ["subscription_refunds", "KRW", 9900],
      ["subscription_revenue", "KRW", -9900],
    ]);
    const { data: refunded } = await user.client.from("stripe_invoices").select("amount_refunded")
      .eq("id", invoice!.id).single();
    expect(refunded!.amount_refunded).toBe(9900);

    // The user's payment history shows the invoice refunded.
    const { data: history } = await user.client.rpc("my_payment_history", {});
    expect(history).toContainEqual(expect.objectContaining({
      kind: "subscription_invoice",
      id: invoice!.stripe_invoice_id,
      status: "refunded",
      amount: 9900,
      currency: "KRW",
    }));

    // Reconciliation: the invoice agrees with Stripe and the ledger...
    const reconcile = async () => {
      const response = await fetch(`${SUPABASE_URL}/functions/v1/payments-reconcile`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${SERVICE_ROLE_KEY}`,
          apikey: SERVICE_ROLE_KEY,
          "Content-Type": "application/json",
        },
        body: JSON.stringify({ days: 1, triggered_by: "billing-test" }),
      });
      const res = { status: response.status, body: await response.json() };
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.subscription_invoices).toBeGreaterThan(0);
      return (res.body.differences as { order_id: string; subject?: string; problems: string[] }[])
        .find((d) => d.order_id === invoice!.id);
    };
    expect(await reconcile()).toBeUndefined();
    // ...until its row is tampered with: reported in the run's format, then put back.
    await withDatabase((db) =>
      db.query("update public.stripe_invoices set amount_paid = amount_paid + 100 where id = $1", [
        invoice!.id,
      ])
    );
    try {
      const found = await reconcile();
      expect(found).toEqual({
        subject: "subscription_invoice",
        order_id: invoice!.id,
        currency: "KRW",
        status: "paid",
        problems: [
          `subscription invoice ${invoice!.stripe_invoice_id}: ledger paid 9900 <> invoice 10000`,
          `subscription invoice ${invoice!.stripe_invoice_id}: Stripe paid 9900 <> invoice 10000`,
        ],
      });
    } finally {
      await withDatabase((db) =>
        db.query(
          "update public.stripe_invoices set amount_paid = amount_paid - 100 where id = $1",
          [invoice!.id],
        )
      );
    }
  });
});
