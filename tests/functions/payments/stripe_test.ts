import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  parseStripeEnv,
  Stripe,
  stripeClient,
  stripeConfig,
  stripeCryptoProvider,
  stripeWebhookSecret,
} from "../../../functions/_shared/payments/stripe.ts";
import { withEnv } from "../platform/with_env.ts";

Deno.test("a missing or malformed Stripe key fails loudly", () => {
  throws(() => parseStripeEnv({}), { message: /STRIPE_SECRET_KEY \(missing\)/ });
  throws(() => parseStripeEnv({ STRIPE_SECRET_KEY: "" }), { message: /STRIPE_SECRET_KEY/ });
  throws(() => parseStripeEnv({ STRIPE_SECRET_KEY: "pk_test_123" }), {
    message: /STRIPE_SECRET_KEY/,
  });
  throws(
    () => parseStripeEnv({ STRIPE_SECRET_KEY: "sk_test_1", STRIPE_API_BASE: "127.0.0.1:54334" }),
    { message: /STRIPE_API_BASE/ },
  );
});

Deno.test("without STRIPE_API_BASE the SDK goes to Stripe itself", () => {
  const config = stripeConfig(
    parseStripeEnv({ STRIPE_SECRET_KEY: "sk_test_1", STRIPE_API_BASE: "" }),
  );
  strictEqual(config.host, undefined);
  strictEqual(config.port, undefined);
});

Deno.test("STRIPE_API_BASE points the SDK at the stand-in by host, port and protocol", () => {
  const config = stripeConfig(
    parseStripeEnv({ STRIPE_SECRET_KEY: "sk_test_1", STRIPE_API_BASE: "http://127.0.0.1:54334" }),
  );
  deepStrictEqual([config.host, config.port, config.protocol], ["127.0.0.1", 54334, "http"]);
});

Deno.test("stripeClient() reads Deno.env when called", async () => {
  await withEnv({ STRIPE_SECRET_KEY: undefined, STRIPE_API_BASE: undefined }, () => {
    throws(() => stripeClient(), { message: /STRIPE_SECRET_KEY/ });
  });
  await withEnv(
    { STRIPE_SECRET_KEY: "sk_test_local_1", STRIPE_API_BASE: "http://127.0.0.1:54334" },
    () => strictEqual(stripeClient() instanceof Stripe, true),
  );
});

Deno.test("a webhook signed with the secret verifies with the subtle-crypto provider", async () => {
  await withEnv({ STRIPE_WEBHOOK_SECRET: undefined }, () => {
    throws(() => stripeWebhookSecret(), { message: /STRIPE_WEBHOOK_SECRET \(missing\)/ });
  });
  await withEnv({ STRIPE_WEBHOOK_SECRET: "whsec_test_local" }, async () => {
    const secret = stripeWebhookSecret();
    const stripe = new Stripe("sk_test_1");
    const payload = JSON.stringify({ id: "evt_1", object: "event", type: "charge.succeeded" });
    const header = await stripe.webhooks.generateTestHeaderStringAsync({
      payload,
      secret,
      cryptoProvider: stripeCryptoProvider,
    });
    const event = await stripe.webhooks.constructEventAsync(
      payload,
      header,
      secret,
      undefined,
      stripeCryptoProvider,
    );
    strictEqual(event.id, "evt_1");
  });
});
