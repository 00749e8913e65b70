// A buyer cancels a checkout before paying it, through commerce-checkout-cancel and supabase-js,
// against the Stripe stand-in: the checkout and its shop order are cancelled, stock and coupon
// released, and its open Checkout Session is expired at Stripe (the buyer cannot pay it); asking
// again answers the same (the expiry's key repeats Stripe's first answer); a stranger and the seller get 404, anon 401. A cancel raced against the
// payment's completion and the expiry job ends in exactly one outcome each round: either paid
// (the cancel refused 409: ask for a refund) or cancelled / expired with nothing sold (and a
// payment that reached Stripe first refunded). A paid order's receipt reaches the buyer through
// the notifications consumer and the e-mail sender, in Mailpit.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin, callFunction, client } from "../support/clients.ts";
import { waitForMail } from "../support/mail.ts";
import { consumeNotifications, drainEmail } from "../support/notifications.ts";
import {
  available,
  buyerWithAddress,
  onboard,
  pay,
  payAndComplete,
} from "../support/shop_payments.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";

function cancel(who: TestUser["client"], checkoutId: string, reason?: string) {
  return callFunction(who, "commerce-checkout-cancel", { checkout_id: checkoutId, reason });
}

describe("cancelling a checkout before paying", () => {
  let seller: TestUser;
  let vase: string;

  beforeAll(async () => {
    seller = await openShop("cancel-seller");
    await onboard(seller);
    vase = await activeProduct(seller, { title: "Cancelled vase", price: 3200 }, 100);
  });

  it("cancels once, releases stock and coupon, and expires the open session", async () => {
    const code = `CANCEL${Date.now() % 1_000_000}`;
    await admin().from("coupons").insert({
      code,
      kind: "percentage",
      percent_bps: 1000,
      usage_limit: 10,
    })
      .throwOnError();
    const { buyer, addressId } = await buyerWithAddress("cancel-buyer");
    const before = await available(vase);
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: vase, quantity: 2 }],
      address_id: addressId,
      coupon_code: code,
    }).throwOnError();
    expect(await available(vase)).toBe(before - 2);
    const started = await pay(buyer, checkout!.id);
    expect(started.status, JSON.stringify(started.body)).toBe(201);

    const stranger = await signUp("cancel-stranger");
    for (const other of [stranger, seller]) {
      const refused = await cancel(other.client, checkout!.id);
      expect(refused.status).toBe(404);
      expect(refused.body.error.message).toBe(`checkout ${checkout!.id} not found`);
    }
    const anon = await cancel(client(), checkout!.id);
    expect(anon.status).toBe(401);

    const cancelled = await cancel(buyer.client, checkout!.id, "found it cheaper");
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.checkout).toMatchObject({ id: checkout!.id, status: "cancelled" });
    expect(cancelled.body.stripe_session).toEqual({
      id: started.body.checkout_session_id,
      status: "expired",
    });
    const session = await stripeSdk().checkout.sessions.retrieve(started.body.checkout_session_id);
    expect(session.status).toBe("expired");
    await drainWebhooks(); // checkout.session.expired arrives for a cancelled checkout: nothing moves

    const { data: after } = await buyer.client.from("checkouts")
      .select("status, shop_orders(status, cancellation_reason)").eq("id", checkout!.id).single()
      .throwOnError();
    expect(after).toEqual({
      status: "cancelled",
      shop_orders: [{ status: "cancelled", cancellation_reason: "found it cheaper" }],
    });
    expect(await available(vase)).toBe(before);
    const { data: coupon } = await admin().from("coupons").select("times_used").eq("code", code)
      .single().throwOnError();
    expect(coupon!.times_used).toBe(0);

    const again = await cancel(buyer.client, checkout!.id);
    expect(again.status).toBe(200);
    expect(again.body.checkout.status).toBe("cancelled");
    expect(again.body.stripe_session).toEqual(cancelled.body.stripe_session); // the same answer
    const payAgain = await pay(buyer, checkout!.id);
    expect(payAgain.status).toBe(409);
    expect(payAgain.body.error.message).toBe(
      `checkout ${checkout!.id} is cancelled: only a checkout awaiting payment can be paid`,
    );
  });

  it("refuses once paid: the buyer asks for a refund instead", async () => {
    const { buyer, addressId } = await buyerWithAddress("cancel-paid-buyer");
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: vase, quantity: 1 }],
      address_id: addressId,
    }).throwOnError();
    await payAndComplete(buyer, checkout!.id);
    const refused = await cancel(buyer.client, checkout!.id);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe(
      `checkout ${
        checkout!.id
      } is paid: it cannot be cancelled, ask for a refund of its shop orders instead`,
    );
    // The paid order's receipt, by e-mail.
    await consumeNotifications();
    await drainEmail();
    const receipt = await waitForMail({ to: buyer.email, subject: "Receipt" });
    expect(receipt.Subject).toMatch(/^Receipt: \d+\.\d{2} USD paid to /);
    expect(receipt.Text).toContain("is paid");
    const toSeller = await waitForMail({ to: seller.email, subject: "New order to fulfil" });
    expect(toSeller.Text).toContain("mark it shipped");
  });

  it("a cancel raced against the payment and the expiry job ends one way", async () => {
    for (let round = 0; round < 4; round++) {
      const { buyer, addressId } = await buyerWithAddress(`cancel-race-${round}`);
      const before = await available(vase);
      const { data: checkout } = await buyer.client.rpc("place_order", {
        items: [{ product_id: vase, quantity: 1 }],
        address_id: addressId,
      }).throwOnError();
      const started = await pay(buyer, checkout!.id);
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      // Due for the expiry job too.
      await admin().from("checkouts").update({
        expires_at: new Date(Date.now() - 1000).toISOString(),
      })
        .eq("id", checkout!.id).throwOnError();

      const [cancelled, completed] = await Promise.all([
        cancel(buyer.client, checkout!.id),
        stripeControl(`checkout/sessions/${started.body.checkout_session_id}/complete`, {
          outcome: "paid",
        }),
        admin().schema("ops").rpc("run_scheduled_job", { job_name: "commerce-expire-checkouts" }),
      ]);
      await drainWebhooks();

      const { data: end } = await admin().from("checkouts")
        .select(
          "status, shop_orders(status), shop_payments(status, amount_captured, amount_refunded)",
        )
        .eq("id", checkout!.id).single().throwOnError();
      const { data: reservations } = await admin().from("stock_reservations").select("status")
        .eq("reference", `checkout:${checkout!.id}`).throwOnError();
      const paidAtStripe = completed.status === 200;
      if (end!.status === "paid") {
        expect(paidAtStripe).toBe(true);
        expect(cancelled.status).toBe(409);
        expect(end!.shop_orders.map((o) => o.status)).toEqual(["paid"]);
        expect(reservations!.map((r) => r.status)).toEqual(["consumed"]);
        expect(await available(vase)).toBe(before - 1);
      } else {
        expect(["cancelled", "expired"]).toContain(end!.status);
        expect(cancelled.status === 200).toBe(end!.status === "cancelled");
        expect(end!.shop_orders.map((o) => o.status)).toEqual(["cancelled"]);
        expect(reservations!.map((r) => r.status)).toEqual(["released"]);
        expect(await available(vase)).toBe(before);
        const payment = end!.shop_payments as unknown as
          | { status: string; amount_captured: number; amount_refunded: number }
          | null;
        if (paidAtStripe) {
          // Paid at Stripe after the checkout ended: refunded in full, nothing sold.
          expect(payment).toMatchObject({ status: "refunded" });
          expect(payment!.amount_refunded).toBe(payment!.amount_captured);
        } else {
          expect(payment?.amount_captured ?? 0).toBe(0);
        }
      }
    }
  });
});
