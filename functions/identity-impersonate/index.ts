import { env } from "../_shared/platform/env.ts";
import { smtpEnv, smtpMailer } from "../_shared/platform/mail.ts";
import { createImpersonateHandler } from "./handler.ts";

// A deployment missing a variable fails at start-up, not in the first request.
env();
smtpEnv();
Deno.serve(createImpersonateHandler(smtpMailer));
