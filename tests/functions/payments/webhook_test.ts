import { deepStrictEqual, strictEqual } from "node:assert/strict";
import Stripe from "npm:stripe@23.1.0";
import { createHandler } from "../../../functions/_shared/http/handler.ts";
import { stripeCryptoProvider } from "../../../functions/_shared/payments/stripe.ts";
import { handleWebhook, stripeVerifier } from "../../../functions/stripe-webhook/handler.ts";
import { fakeDb, fakeStripe } from "./fake_payments.ts";

const secret = "whsec_test_secret";
const sdk = new Stripe("sk_test_unused", { httpClient: Stripe.createFetchHttpClient() });
const fixture = (name: string) =>
  Deno.readTextFile(new URL(`./fixtures/stripe/${name}.json`, import.meta.url));

async function signed(payload: string, withSecret = secret): Promise<string> {
  return await sdk.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: withSecret,
    cryptoProvider: stripeCryptoProvider,
  });
}

function webhook(
  answer: unknown = [{ event_id: "evt", event_type: "t", duplicate: false, outcome: "applied" }],
) {
  const database = fakeDb({ process_stripe_event: answer });
  const fake = fakeStripe();
  const handler = createHandler((req) =>
    handleWebhook(
      { db: database.db, stripe: fake.stripe, verify: stripeVerifier(sdk, secret) },
      req,
    )
  );
  return { handler, database, fake };
}

const post = (body: string, signature?: string) =>
  new Request("http://localhost/stripe-webhook", {
    method: "POST",
    headers: signature ? { "Stripe-Signature": signature, "Content-Type": "application/json" } : {},
    body,
  });

Deno.test("a correctly signed event is handed to process_stripe_event as Stripe sent it", async () => {
  const payload = await fixture("checkout.session.completed");
  const { handler, database } = webhook([{
    event_id: "evt_1QcheckoutCompleted01",
    event_type: "checkout.session.completed",
    duplicate: false,
    outcome: "applied",
  }]);
  const res = await handler(post(payload, await signed(payload)));
  strictEqual(res.status, 200);
  deepStrictEqual(await res.json(), {
    received: true,
    event_id: "evt_1QcheckoutCompleted01",
    event_type: "checkout.session.completed",
    duplicate: false,
    outcome: "applied",
  });
  strictEqual(database.calls.length, 1);
  strictEqual(database.calls[0].fn, "process_stripe_event");
  deepStrictEqual(database.calls[0].args, {
    event: JSON.parse(payload),
    balance_transaction: null,
  });
});

Deno.test("a forged signature is 400 invalid_signature and nothing is stored", async () => {
  const payload = await fixture("payment_intent.succeeded");
  const { handler, database } = webhook();
  const res = await handler(post(payload, await signed(payload, "whsec_someone_else")));
  strictEqual(res.status, 400);
  strictEqual((await res.json()).error.code, "invalid_signature");
  strictEqual(database.calls.length, 0);
});

Deno.test("a body changed after signing is refused", async () => {
  const payload = await fixture("payment_intent.succeeded");
  const signature = await signed(payload);
  const { handler, database } = webhook();
  const res = await handler(
    post(payload.replace('"amount_received": 9000', '"amount_received": 1'), signature),
  );
  strictEqual(res.status, 400);
  strictEqual(database.calls.length, 0);
});

Deno.test("a missing signature is 400 and nothing is stored", async () => {
  const payload = await fixture("payment_intent.succeeded");
  const { handler, database } = webhook();
  const res = await handler(post(payload));
  strictEqual(res.status, 400);
  deepStrictEqual((await res.json()).error.code, "invalid_signature");
  strictEqual(database.calls.length, 0);
});

Deno.test("a signature outside the 300 s tolerance is refused", async () => {
  const payload = await fixture("payment_intent.succeeded");
  const old = await sdk.webhooks.generateTestHeaderStringAsync({
    payload,
    secret,
    timestamp: Math.floor(Date.now() / 1000) - 301,
    cryptoProvider: stripeCryptoProvider,
  });
  const { handler, database } = webhook();
  strictEqual((await handler(post(payload, old))).status, 400);
  strictEqual(database.calls.length, 0);
});

Deno.test("an unhandled event type is acknowledged with 2xx", async () => {
  const payload = await fixture("customer.created");
  const { handler } = webhook([{
    event_id: "evt_1QcustomerCreated001",
    event_type: "customer.created",
    duplicate: false,
    outcome: "ignored: unhandled event type",
  }]);
  const res = await handler(post(payload, await signed(payload)));
  strictEqual(res.status, 200);
  strictEqual((await res.json()).outcome, "ignored: unhandled event type");
});

Deno.test("a duplicate delivery is acknowledged with 2xx as a duplicate", async () => {
  const payload = await fixture("account.updated");
  const { handler } = webhook([{
    event_id: "evt_1QaccountUpdated0001",
    event_type: "account.updated",
    duplicate: true,
    outcome: "applied",
  }]);
  const res = await handler(post(payload, await signed(payload)));
  strictEqual(res.status, 200);
  strictEqual((await res.json()).duplicate, true);
});

Deno.test("a database failure is 500, so Stripe retries", async () => {
  const payload = await fixture("account.updated");
  const { handler } = webhook({ error: { code: "XX000", message: "boom" } });
  strictEqual((await handler(post(payload, await signed(payload)))).status, 500);
});

Deno.test("charge.updated brings Stripe's fee: its balance transaction is fetched and passed on", async () => {
  const payload = await fixture("charge.updated");
  const { handler, database, fake } = webhook();
  strictEqual((await handler(post(payload, await signed(payload)))).status, 200);
  deepStrictEqual(fake.calls.map((c) => c.method), ["balanceTransactions.retrieve"]);
  strictEqual((database.calls[0].args.balance_transaction as { fee: number }).fee, 291);
});

Deno.test("the webhook answers only POST", async () => {
  const { handler } = webhook();
  strictEqual((await handler(new Request("http://localhost/stripe-webhook"))).status, 405);
});
