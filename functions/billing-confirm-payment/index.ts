import { env } from "../_shared/platform/env.ts";
import { stripeEnv } from "../_shared/payments/stripe.ts";
import { handler } from "./handler.ts";

// A deployment missing a variable fails at start-up, not in the first request.
env();
stripeEnv();
Deno.serve(handler);
