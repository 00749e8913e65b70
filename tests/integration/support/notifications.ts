// Running the notifications jobs now rather than waiting for pg_cron: the consumer
// (notifications-consume, through ops.run_scheduled_job) and the e-mail sender
// (notifications-send-email, called with the service-role key as the job calls it).

import { admin, SERVICE_ROLE_KEY, SUPABASE_URL } from "./clients.ts";

/** Runs the outbox consumer once: due events become deliveries, e-mails are queued. */
export async function consumeNotifications(): Promise<void> {
  const { error } = await admin().schema("ops").rpc("run_scheduled_job", {
    job_name: "notifications-consume",
  });
  if (error) throw error;
}

export interface SendRun {
  status: number;
  body: { claimed: number; sent: number; failed: { id: string; error: string }[] };
}

/** One run of notifications-send-email with the service-role key. */
export async function sendEmailOnce(body: Record<string, unknown> = {}): Promise<SendRun> {
  const response = await fetch(`${SUPABASE_URL}/functions/v1/notifications-send-email`, {
    method: "POST",
    headers: { Authorization: `Bearer ${SERVICE_ROLE_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/**
 * Runs the sender until it finds nothing more due: earlier tests' mail may be queued ahead of
 * this test's (the sender takes the oldest first). Answers every run's failures.
 */
export async function drainEmail(
  body: Record<string, unknown> = {},
): Promise<{ id: string; error: string }[]> {
  const failed: { id: string; error: string }[] = [];
  for (let run = 0; run < 50; run++) {
    const { status, body: result } = await sendEmailOnce({ limit: 500, ...body });
    if (status !== 200) throw new Error(`notifications-send-email answered ${status}`);
    failed.push(...result.failed);
    if (result.claimed < 500) return failed;
  }
  throw new Error("notifications-send-email still had mail due after 50 runs");
}
