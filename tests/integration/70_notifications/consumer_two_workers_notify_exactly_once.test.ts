// Exactly once under concurrency: a backlog of events for a group of users is consumed by two
// workers at the same time (two notifications-consume runs through two API connections, as
// overlapping pg_cron runs would be), round after round until it is gone; every user has one
// notification per event, never two, and one e-mail queued per event.

import { describe, expect, it } from "vitest";
import { signUp } from "../support/auth.ts";
import { admin } from "../support/clients.ts";

const USERS = 6;
const EVENTS = 25;

describe("the notifications consumer with two workers", () => {
  it("turns each (event, recipient, channel) into one delivery", async () => {
    const users = await Promise.all(Array.from({ length: USERS }, (_, n) => signUp(`cw-${n}`)));
    const service = admin().schema("ops");
    const projectId = crypto.randomUUID();
    for (let n = 0; n < EVENTS; n++) {
      const { error } = await service.rpc("publish_event", {
        event_type: "bid.accepted",
        subject_type: "bid",
        subject_id: crypto.randomUUID(),
        recipients: users.map((user) => user.id),
        payload: { project_id: projectId, order_id: `order-${n}` },
      });
      if (error) throw error;
    }

    const run = () =>
      admin().schema("ops").rpc("run_scheduled_job", { job_name: "notifications-consume" });
    const counts = async () =>
      await Promise.all(users.map(async (user) => {
        const { data, error } = await user.client.from("notifications").select("event_id")
          .eq("event_type", "bid.accepted");
        if (error) throw error;
        return data.map((row) => row.event_id);
      }));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [first, second] = await Promise.all([run(), run()]);
      if (first.error) throw first.error;
      if (second.error) throw second.error;
      const feeds = await counts();
      if (feeds.every((events) => events.length >= EVENTS)) break;
      if (Date.now() > deadline) throw new Error(`feeds incomplete: ${feeds.map((f) => f.length)}`);
    }
    // Two more overlapping runs change nothing.
    await Promise.all([run(), run()]);

    for (const events of await counts()) {
      expect(events).toHaveLength(EVENTS);
      expect(new Set(events).size).toBe(EVENTS);
    }
    const { data: mails, error } = await admin().from("email_deliveries").select(
      "recipient_id, event_id",
    )
      .in("recipient_id", users.map((user) => user.id)).eq("template_key", "bid.accepted");
    if (error) throw error;
    expect(mails).toHaveLength(USERS * EVENTS);
    expect(new Set(mails.map((m) => `${m.recipient_id}:${m.event_id}`)).size).toBe(USERS * EVENTS);
  }, 90_000);
});
