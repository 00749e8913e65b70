// Escrow payments end to end, as the apps and Stripe drive them: the payment functions,
// supabase-js under RLS for the escrow status and ledger, and the stack's Stripe stand-in
// (through its /_test/ controls) playing the customer, the card network and Stripe's
// webhooks, which reach our stripe-webhook function signed. Needs STRIPE_API_BASE.

import { beforeAll, describe, expect, it } from "vitest";
import { runAdminCli } from "../support/admin_cli.ts";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { admin, callFunction, eventually, withDatabase } from "../support/clients.ts";
import { orderAwaitingPayment } from "../support/marketplace.ts";
import {
  APP_URL,
  drainWebhooks,
  payThroughCheckout,
  signUpOnboardedSeller,
  stripeControl,
  stripeSdk,
} from "../support/stripe.ts";

const APP = APP_URL;
const PRICE = 50_000; // minor units of EUR
const COMMISSION = 5_000; // 10%, the rate in force

async function escrow(user: TestUser, orderId: string) {
  const { data, error } = await user.client.from("payment_status").select("*").eq(
    "order_id",
    orderId,
  ).single();
  if (error) throw error;
  return data;
}

async function deliverAndApprove(
  buyer: TestUser,
  seller: TestUser,
  orderId: string,
): Promise<void> {
  await seller.client.rpc("submit_delivery", { order_id: orderId, message: "Finished" })
    .throwOnError();
  await buyer.client.rpc("approve_delivery", { order_id: orderId }).throwOnError();
}

/** Every ledger account touched by the order and its seller, as the service role sees them. */
async function balances(orderId: string, sellerId: string): Promise<Record<string, number | null>> {
  const { data, error } = await admin().from("ledger_balances").select(
    "kind, balance, order_id, user_id",
  )
    .or(`order_id.eq.${orderId},user_id.eq.${sellerId}`);
  if (error) throw error;
  return Object.fromEntries(data.map((row) => [row.kind, row.balance]));
}

/**
 * Runs a scheduled job that calls an edge function, as pg_cron would, and waits for the
 * function's answer: the job only queues the POST; pg_net (locally, the stack's worker)
 * sends it after the job's transaction commits.
 */
async function runJobThroughPgNet(jobName: string) {
  const { data: requestId } = await admin().schema("ops").rpc("run_scheduled_job", {
    job_name: jobName,
  })
    .throwOnError();
  return await eventually(
    `the answer to ${jobName}'s call`,
    () =>
      withDatabase(async (db) =>
        (await db.query(
          "select status_code, error_msg, content from net._http_response where id = $1",
          [requestId],
        )).rows[0]
      ),
  );
}

describe("escrow payments through Stripe Connect", () => {
  let buyer: TestUser;
  let seller: TestUser;
  let stranger: TestUser;
  let operator: TestUser;

  beforeAll(async () => {
    [buyer, stranger, operator] = await Promise.all([
      signUp("pay-buyer", { is_designer: true }),
      signUp("pay-stranger"),
      signUpWithRole("pay-admin", "admin"),
    ]);
    seller = await signUpOnboardedSeller("pay-seller");
  });

  it("holds the payment in escrow, releases price minus commission once, and books every step", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);

    // The amount comes from the order: one in the body is not even read.
    const initiated = await callFunction(buyer.client, "payments-initiate", {
      order_id: orderId,
      success_url: `${APP}/paid`,
      cancel_url: `${APP}/cancelled`,
      amount: 1,
    });
    expect(initiated.status).toBe(201);
    const session = await stripeSdk().checkout.sessions.retrieve(
      initiated.body.checkout_session_id,
    );
    expect([session.amount_total, session.currency, session.metadata?.order_id]).toEqual([
      PRICE,
      "eur",
      orderId,
    ]);
    const again = await callFunction(buyer.client, "payments-initiate", {
      order_id: orderId,
      success_url: `${APP}/paid`,
      cancel_url: `${APP}/cancelled`,
    });
    expect(again).toMatchObject({ status: 200, body: { checkout_session_id: session.id } });

    await stripeControl(`checkout/sessions/${session.id}/complete`, { outcome: "paid" });
    await drainWebhooks();
    expect(await escrow(buyer, orderId)).toMatchObject({ status: "held", amount_captured: PRICE });
    expect(
      (await seller.client.from("orders").select("status").eq("id", orderId).single()).data?.status,
    ).toBe("in_progress");
    expect(
      (await stranger.client.from("payment_status").select("order_id").eq("order_id", orderId))
        .data,
    ).toEqual([]);

    // Release is refused before the buyer approves the delivery.
    expect((await callFunction(buyer.client, "payments-release", { order_id: orderId })).status)
      .toBe(409);
    await deliverAndApprove(buyer, seller, orderId);

    // Five concurrent releases (and a retry): one transfer.
    const releases = await Promise.all(
      Array.from(
        { length: 5 },
        () => callFunction(buyer.client, "payments-release", { order_id: orderId }),
      ),
    );
    const released = releases.filter((r) => r.status === 200);
    expect(released.length).toBeGreaterThanOrEqual(1);
    for (const r of releases.filter((r) => r.status !== 200)) expect(r.status).toBe(409);
    expect(released[0].body).toMatchObject({
      status: "released",
      amount: PRICE - COMMISSION,
      commission: COMMISSION,
    });
    const retry = await callFunction(buyer.client, "payments-release", { order_id: orderId });
    expect(retry).toMatchObject({
      status: 200,
      body: { already_released: true, transfer_id: released[0].body.transfer_id },
    });
    await drainWebhooks();
    const transfers = await stripeSdk().transfers.list({ transfer_group: `order_${orderId}` });
    expect(transfers.data.map((t) => [t.amount, t.source_transaction !== null])).toEqual([[
      PRICE - COMMISSION,
      true,
    ]]);

    expect(await escrow(seller, orderId)).toMatchObject({
      status: "released",
      amount_transferred: PRICE - COMMISSION,
    });
    const book = await balances(orderId, seller.id);
    expect(book).toMatchObject({
      buyer_funding: -PRICE,
      escrow: 0,
      seller_payable: 0,
      seller_transfers: PRICE - COMMISSION,
    });
  });

  it("ends in the same state whether webhooks come twice, shuffled or late", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await stripeControl("webhooks/pause", {});
    try {
      const initiated = await callFunction(buyer.client, "payments-initiate", {
        order_id: orderId,
        success_url: `${APP}/paid`,
        cancel_url: `${APP}/cancelled`,
      });
      const completed = await stripeControl(
        `checkout/sessions/${initiated.body.checkout_session_id}/complete`,
        { outcome: "paid" },
      );
      const events: string[] = completed.body.events;
      await stripeControl("webhooks/deliver", { order: "reversed", events });
      await drainWebhooks();
      for (const id of events) await stripeControl(`events/${id}/deliver`, { signature: "valid" });
    } finally {
      await stripeControl("webhooks/resume", {});
    }
    await drainWebhooks();
    expect(await escrow(buyer, orderId)).toMatchObject({ status: "held", amount_captured: PRICE });
    // Booked once each: the payment into escrow and Stripe's fee on the charge.
    const { data: postings } = await admin().from("ledger_transactions").select("idempotency_key")
      .eq("order_id", orderId);
    expect(postings!.map((p) => p.idempotency_key.split(":")[0]).sort()).toEqual([
      "fee",
      "payment",
    ]);
  });

  it("refuses a forged signature with 400 and changes nothing", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await stripeControl("webhooks/pause", {});
    try {
      const initiated = await callFunction(buyer.client, "payments-initiate", {
        order_id: orderId,
        success_url: `${APP}/paid`,
        cancel_url: `${APP}/cancelled`,
      });
      const completed = await stripeControl(
        `checkout/sessions/${initiated.body.checkout_session_id}/complete`,
        { outcome: "paid" },
      );
      const forged = await stripeControl(`events/${completed.body.events.at(-1)}/deliver`, {
        signature: "forged",
      });
      expect(forged.body.status).toBe(400);
      expect(await escrow(buyer, orderId)).toMatchObject({ status: "pending", amount_captured: 0 });
    } finally {
      await stripeControl("webhooks/resume", { discard_held: true });
    }
  });

  it("refunds partially then fully, never beyond what was captured, and only for admins or by policy", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await payThroughCheckout(buyer, orderId);
    expect(
      (await callFunction(buyer.client, "payments-refund", {
        order_id: orderId,
        amount: 1000,
        reason: "want it back",
      })).status,
    )
      .toBe(403);
    const part = await callFunction(operator.client, "payments-refund", {
      order_id: orderId,
      amount: 20_000,
      reason: "late",
    });
    expect(part.status, JSON.stringify(part.body)).toBe(200);
    const tooMuch = await callFunction(operator.client, "payments-refund", {
      order_id: orderId,
      amount: 30_001,
      reason: "more",
    });
    expect(tooMuch.status).toBe(400);
    const rest = await callFunction(operator.client, "payments-refund", {
      order_id: orderId,
      amount: 30_000,
      reason: "the rest",
    });
    expect(rest.status, JSON.stringify(rest.body)).toBe(200);
    await drainWebhooks();
    expect(await escrow(buyer, orderId)).toMatchObject({
      status: "refunded",
      amount_refunded: PRICE,
    });
    const charge = (await stripeSdk().charges.list({ transfer_group: `order_${orderId}` })).data[0];
    expect(charge.amount_refunded).toBe(PRICE);
    expect((await balances(orderId, seller.id)).escrow).toBe(0);
  });

  it("freezes release while the buyer's dispute is open, and an admin resolves it", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await payThroughCheckout(buyer, orderId);
    await buyer.client.rpc("open_dispute", {
      order_id: orderId,
      reason: "Nothing delivered after a month",
    }).throwOnError();
    expect((await callFunction(buyer.client, "payments-release", { order_id: orderId })).status)
      .toBe(409);
    expect(
      (await callFunction(buyer.client, "payments-resolve-dispute", {
        order_id: orderId,
        resolution: "release",
      })).status,
    )
      .toBe(403);

    const resolved = await callFunction(operator.client, "payments-resolve-dispute", {
      order_id: orderId,
      resolution: "refund",
      refund_amount: 10_000,
    });
    expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
    expect(resolved.body).toMatchObject({ resolution: "refund", order_status: "cancelled" });
    await drainWebhooks();
    expect(await escrow(buyer, orderId)).toMatchObject({ amount_refunded: 10_000 });
    expect(
      (await buyer.client.from("disputes").select("status, resolution").eq("order_id", orderId)
        .single()).data,
    )
      .toEqual({ status: "resolved", resolution: "refund" });
  });

  it("records a chargeback and freezes the escrow", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    const chargeId = await payThroughCheckout(buyer, orderId);
    await stripeControl(`charges/${chargeId}/dispute`, { reason: "fraudulent" });
    await drainWebhooks();
    expect(await escrow(buyer, orderId)).toMatchObject({ chargeback_open: true });
    await deliverAndApprove(buyer, seller, orderId);
    expect((await callFunction(buyer.client, "payments-release", { order_id: orderId })).status)
      .toBe(409);
  });

  it("does not take payment for a seller who cannot receive payouts", async () => {
    const unpaid = await signUp("pay-unboarded", { is_tailor: true });
    const orderId = await orderAwaitingPayment(buyer, unpaid, PRICE);
    const initiated = await callFunction(buyer.client, "payments-initiate", {
      order_id: orderId,
      success_url: `${APP}/paid`,
      cancel_url: `${APP}/cancelled`,
    });
    expect(initiated.status).toBe(409);
    expect(initiated.body.error.code).toBe("conflict");
    expect(await escrow(buyer, orderId).catch(() => null)).toBeNull();
  });

  it("refuses strangers and unknown orders in the error format, sending nothing to Stripe", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    const body = { order_id: orderId, success_url: `${APP}/paid`, cancel_url: `${APP}/cancelled` };
    expect(await callFunction(stranger.client, "payments-initiate", body)).toMatchObject({
      status: 404,
      body: { error: { code: "not_found" } },
    });
    expect(
      (await callFunction(buyer.client, "payments-initiate", {
        ...body,
        order_id: crypto.randomUUID(),
      })).status,
    ).toBe(404);
    expect(
      (await callFunction(buyer.client, "payments-initiate", {
        ...body,
        success_url: "https://evil.example/steal",
      })).status,
    )
      .toBe(400);
    const sessions = await stripeSdk().checkout.sessions.list({ limit: 100 });
    expect(sessions.data.filter((s) => s.metadata?.order_id === orderId)).toEqual([]);
  });

  it("reconcile (admin CLI) finds what Stripe did that the book does not know", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    const chargeId = await payThroughCheckout(buyer, orderId);
    const mine = async () => {
      const run = await runAdminCli(["reconcile", "--json", "--as", "reconcile-test"]);
      const report = JSON.parse(run.stdout) as {
        differences: { order_id: string; problems: string[] }[];
      };
      return {
        code: run.code,
        problems: report.differences.find((d) => d.order_id === orderId)?.problems ?? [],
      };
    };
    expect((await mine()).problems).toEqual([]);

    // A refund made in Stripe's dashboard whose webhook never arrives.
    await stripeControl("webhooks/pause", {});
    try {
      await stripeSdk().refunds.create({ charge: chargeId, amount: 1_234 });
    } finally {
      await stripeControl("webhooks/resume", { discard_held: true });
    }
    const after = await mine();
    expect(after.code).toBe(1);
    expect(after.problems).toEqual(["Stripe refunded 1234 <> escrow 0"]);
  });

  it("releases by itself when the buyer neither approves nor disputes within auto_release_days", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await payThroughCheckout(buyer, orderId);
    await seller.client.rpc("submit_delivery", { order_id: orderId, message: "Finished" })
      .throwOnError();
    // The buyer goes quiet; the default 14 days pass.
    await withDatabase((db) =>
      db.query("update public.orders set delivered_at = now() - interval '15 days' where id = $1", [
        orderId,
      ])
    );

    // The two jobs pg_cron runs (every 15 and every 5 minutes), run at once as an operator would.
    const service = admin();
    await service.schema("ops").rpc("run_scheduled_job", { job_name: "payments-auto-complete" })
      .throwOnError();
    const { data: order } = await buyer.client.from("orders").select("status").eq("id", orderId)
      .single().throwOnError();
    expect(order.status).toBe("completed");
    expect(await runJobThroughPgNet("payments-release-due")).toMatchObject({
      status_code: 200,
      error_msg: null,
    });
    await drainWebhooks();
    expect(await escrow(seller, orderId)).toMatchObject({
      status: "released",
      amount_transferred: PRICE - COMMISSION,
    });
    const transfers =
      (await stripeSdk().transfers.list({ transfer_group: `order_${orderId}` })).data;
    expect(transfers.map((t) => [t.amount, t.destination, t.source_transaction !== null])).toEqual([
      [PRICE - COMMISSION, expect.stringMatching(/^acct_/), true],
    ]);

    // The next scheduled run finds nothing more to do for it; the buyer's own late call gets the same transfer.
    expect(await service.schema("ops").rpc("due_releases", { max_rows: 1000 }).then((r) => r.data))
      .not.toContain(
        orderId,
      );
    const late = await callFunction(buyer.client, "payments-release", { order_id: orderId });
    expect([late.status, late.body.transfer_id]).toEqual([200, transfers[0].id]);
  });

  it("refunds by itself a paid order its seller cancels before delivery", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    const chargeId = await payThroughCheckout(buyer, orderId);
    await seller.client.rpc("cancel_order", {
      order_id: orderId,
      reason: "The fabric is no longer made",
    }).throwOnError();

    // Nobody asks for the money back: the payments-refund-due job (every 5 minutes) does.
    const response = await runJobThroughPgNet("payments-refund-due");
    expect(response.status_code, response.content).toBe(200);
    const { refunded, failed } = JSON.parse(response.content) as {
      refunded: { order_id: string }[];
      failed: { order_id: string }[];
    };
    expect([
      refunded.some((r) => r.order_id === orderId),
      failed.some((f) => f.order_id === orderId),
    ]).toEqual([true, false]);
    await drainWebhooks();
    expect(await escrow(buyer, orderId)).toMatchObject({
      status: "refunded",
      amount_refunded: PRICE,
      amount_refundable: 0,
    });
    expect((await stripeSdk().charges.retrieve(chargeId)).amount_refunded).toBe(PRICE);

    // Once: asking afterwards finds nothing left, and only the scheduler uses the due path.
    const late = await callFunction(buyer.client, "payments-refund", {
      order_id: orderId,
      reason: "Where is my money?",
    });
    expect([late.status, late.body.error?.code]).toEqual([409, "conflict"]);
    expect((await callFunction(buyer.client, "payments-refund", { due: true })).status).toBe(403);
    expect((await stripeSdk().refunds.list({ charge: chargeId })).data).toHaveLength(1);
  });

  it("reconciles on schedule: the payments-reconcile job's run is recorded, read by an admin and not by the buyer", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await payThroughCheckout(buyer, orderId);
    expect((await callFunction(buyer.client, "payments-reconcile", {})).status).toBe(403);

    // What pg_cron does daily: POST through pg_net with the service-role key from Vault.
    const response = await runJobThroughPgNet("payments-reconcile");
    expect(response.status_code, response.content).toBe(200);
    const report = JSON.parse(response.content) as {
      run_id: string;
      orders: number;
      /** The shop's checkouts, compared in the same run (functions/_shared/commerce/reconcile.ts). */
      checkouts?: number;
      /** Paid subscription invoices, when billing's half runs in the same run. */
      subscription_invoices?: number;
      differences: { order_id: string }[];
    };
    expect(report.orders).toBeGreaterThan(0);
    expect(report.differences.map((d) => d.order_id)).not.toContain(orderId);

    const asAdmin = await operator.client.from("payments_reconciliation_runs").select("*").eq(
      "id",
      report.run_id,
    );
    expect(asAdmin.error).toBeNull();
    expect(asAdmin.data).toHaveLength(1);
    expect(asAdmin.data?.[0]).toMatchObject({
      triggered_by: "schedule",
      orders_checked: report.orders + (report.checkouts ?? 0) + (report.subscription_invoices ?? 0),
      orders_with_differences: report.differences.length,
      differences: report.differences,
    });
    const asBuyer = await buyer.client.from("payments_reconciliation_runs").select("id").eq(
      "id",
      report.run_id,
    );
    expect(asBuyer).toMatchObject({ error: null, data: [] });
  });

  it("refunds after release by reversing the seller's share of the transfer first", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await payThroughCheckout(buyer, orderId);
    await deliverAndApprove(buyer, seller, orderId);
    expect((await callFunction(buyer.client, "payments-release", { order_id: orderId })).status)
      .toBe(200);

    const refund = await callFunction(operator.client, "payments-refund", {
      order_id: orderId,
      amount: 10_000,
      reason: "a seam came apart",
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(200);
    // The seller gives back their share of the refund (90%); the platform its commission on it.
    expect(refund.body.reversal_amount).toBe(9_000);
    await drainWebhooks();
    const [transfer] =
      (await stripeSdk().transfers.list({ transfer_group: `order_${orderId}` })).data;
    expect([transfer.amount, transfer.amount_reversed]).toEqual([PRICE - COMMISSION, 9_000]);
    expect(await escrow(buyer, orderId)).toMatchObject({
      amount_refunded: 10_000,
      amount_reversed: 9_000,
    });
  });

  it("resolves a buyer's dispute in the seller's favour: the escrow is released", async () => {
    const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
    await payThroughCheckout(buyer, orderId);
    await seller.client.rpc("submit_delivery", { order_id: orderId, message: "As agreed" })
      .throwOnError();
    await buyer.client.rpc("open_dispute", {
      order_id: orderId,
      reason: "The colour is not what I wanted",
    }).throwOnError();
    const resolved = await callFunction(operator.client, "payments-resolve-dispute", {
      order_id: orderId,
      resolution: "release",
    });
    expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
    expect(resolved.body).toMatchObject({ resolution: "release", order_status: "completed" });
    await drainWebhooks();
    expect(await escrow(seller, orderId)).toMatchObject({
      status: "released",
      amount_transferred: PRICE - COMMISSION,
    });
  });
});
