// The Stripe client, made in one place from validated environment variables (no fallback to
// ''): STRIPE_SECRET_KEY, and STRIPE_API_BASE to point the SDK at a local stand-in (e.g.
// http://127.0.0.1:54334). Deno has no Node http module worth using here, so the SDK talks
// through fetch; webhooks are verified with the Web Crypto provider.
import Stripe from "npm:stripe@23.1.0";
import { z } from "npm:zod@4.6.7";

const requiredVariable = z.string({ error: "missing" }).min(1, { error: "empty" });

const stripeEnvSchema = z.object({
  STRIPE_SECRET_KEY: requiredVariable,
  STRIPE_API_BASE: z.url({ protocol: /^https?$/ }).optional(),
});

function fail(error: z.ZodError): never {
  const names = [...new Set(error.issues.map((issue) => String(issue.path[0])))];
  throw new Error(`Missing or invalid environment variables: ${names.join(", ")}`);
}

export function stripeEnv(): z.infer<typeof stripeEnvSchema> {
  const result = stripeEnvSchema.safeParse({
    STRIPE_SECRET_KEY: Deno.env.get("STRIPE_SECRET_KEY"),
    STRIPE_API_BASE: Deno.env.get("STRIPE_API_BASE") || undefined,
  });
  return result.success ? result.data : fail(result.error);
}

/** The webhook signing secret (whsec_...), for the stripe-webhook function only. */
export function stripeWebhookSecret(): string {
  const result = z.object({ STRIPE_WEBHOOK_SECRET: requiredVariable }).safeParse({
    STRIPE_WEBHOOK_SECRET: Deno.env.get("STRIPE_WEBHOOK_SECRET"),
  });
  return result.success ? result.data.STRIPE_WEBHOOK_SECRET : fail(result.error);
}

export function stripeClient(): Stripe {
  const { STRIPE_SECRET_KEY, STRIPE_API_BASE } = stripeEnv();
  const base = STRIPE_API_BASE ? new URL(STRIPE_API_BASE) : undefined;
  const protocol = base?.protocol === "http:" ? "http" : "https";
  return new Stripe(STRIPE_SECRET_KEY, {
    httpClient: Stripe.createFetchHttpClient(),
    ...(base
      ? {
        host: base.hostname,
        port: base.port ? Number(base.port) : (protocol === "http" ? 80 : 443),
        protocol,
      }
      : {}),
  });
}

export const stripeCryptoProvider = Stripe.createSubtleCryptoProvider();
