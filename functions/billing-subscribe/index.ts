import { env } from "../_shared/platform/env.ts";
import { allowedRedirectOrigins } from "../_shared/payments/redirects.ts";
import { stripeEnv } from "../_shared/payments/stripe.ts";
import { handler } from "./handler.ts";

// A deployment missing a variable fails at start-up, not in the first request.
env();
stripeEnv();
allowedRedirectOrigins();
Deno.serve(handler);
