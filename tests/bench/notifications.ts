// The notifications scenario: the outbox consumer and the broadcast fan-out against a
// database of BROADCAST_USERS users.
//
// Measured: events turned into notifications per second: EVENTS bid.accepted events for
// seeded users (each with an in-app and an e-mail delivery, as the defaults say), consumed by
// one run of the notifications-consume job (`call private.run_notification_consumer()`, batches
// of CONSUME_BATCH events each committed, looping until nothing is due; called again should
// its time budget run out) until no event or delivery is pending; then the time to fan out one broadcast to every user
// (BROADCAST_USERS) in batches of FAN_OUT_BATCH, each batch its own transaction as the
// notifications-fan-out job commits them, and the longest batch: how long one transaction
// holds its locks.

import pg from "pg";
import type { Scenario } from "./scenarios.ts";
import { count, progress, seconds, seedUsers } from "./support.ts";

const BROADCAST_USERS = 100_000;
const EVENTS = 5_000;
const CONSUME_BATCH = 500;
const FAN_OUT_BATCH = 5_000;

async function pendingWork(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select (select count(*) from private.domain_events where processed_at is null)
          + (select count(*) from private.notification_deliveries where status = 'pending')::integer as n`,
  );
  return Number(rows[0].n);
}

export const notifications: Scenario = {
  name: "notifications",
  describe: `${
    count(EVENTS)
  } events into notifications (in-app and e-mail) by the consumer, and a broadcast fanned out to ${
    count(BROADCAST_USERS)
  } users`,
  async run(_stack, db) {
    const { rows: existing } = await db.query<{ n: string }>(
      "select count(*) as n from auth.users where not is_anonymous",
    );
    const missing = BROADCAST_USERS - Number(existing[0].n);
    if (missing > 0) await seedUsers(db, "notif-bench", missing);
    // Nothing else pending: this run's events only.
    await db.query(
      "update private.domain_events set processed_at = now() where processed_at is null",
    );
    await db.query(
      "update private.notification_deliveries set status = 'failed' where status = 'pending'",
    );
    await db.query(
      "update public.notification_broadcasts set status = 'done' where status = 'pending'",
    );

    // Events into notifications.
    await db.query(
      `select private.emit_event('bid.accepted', 'bid', gen_random_uuid(), array[u.id],
                                 jsonb_build_object('project_id', gen_random_uuid(), 'order_id', gen_random_uuid()), null)
         from (select id from auth.users where not is_anonymous order by random() limit $1) u`,
      [EVENTS],
    );
    const line = progress(`  consuming ${count(EVENTS)} events`);
    const consumeBegun = performance.now();
    let runs = 0;
    for (;;) {
      // Autocommit, a top-level CALL: the procedure commits after each batch, as under pg_cron.
      await db.query("call private.run_notification_consumer(null, $1, 50)", [CONSUME_BATCH]);
      runs++;
      const left = await pendingWork(db);
      line.update(`${count(left)} events and deliveries pending`);
      if (left === 0) break;
    }
    const consumeMs = performance.now() - consumeBegun;
    const { rows: made } = await db.query<{ in_app: string; email: string }>(
      `select count(*) filter (where d.channel = 'in_app') as in_app, count(*) filter (where d.channel = 'email') as email
         from private.notification_deliveries d join private.domain_events e on e.id = d.event_id
        where e.created_at > now() - interval '1 hour' and e.event_type = 'bid.accepted' and d.status = 'sent'
          and d.delivered_at >= to_timestamp($1 / 1000.0)`,
      [Date.now() - consumeMs - 1000],
    );
    const eventsPerSecond = EVENTS / (consumeMs / 1000);
    line.done(
      `${count(EVENTS)} events in ${seconds(consumeMs)} (${runs} job run${
        runs === 1 ? "" : "s"
      }): ${eventsPerSecond.toFixed(0)} events/s (${
        count(Number(made[0].in_app))
      } in-app notifications, ${count(Number(made[0].email))} e-mails queued)`,
    );

    // A broadcast to everyone.
    // Inserted, then counted: an update in the same statement would not see the new row.
    const { rows: inserted } = await db.query<{ id: string }>(
      "insert into public.notification_broadcasts (title, body) values ('Bench broadcast', 'To everyone') returning id",
    );
    const { rows: created } = await db.query<{ id: string; total: number }>(
      `update public.notification_broadcasts n
          set recipients_total = (select count(*) from private.broadcast_audience(n, null, null))
        where n.id = $1
       returning n.id, n.recipients_total as total`,
      [inserted[0].id],
    );
    const fan = progress(`  fanning out a broadcast to ${count(created[0].total)} users`);
    const fanBegun = performance.now();
    let longestBatchMs = 0;
    let batches = 0;
    for (;;) {
      const batchBegun = performance.now();
      const { rows } = await db.query<{ n: number }>("select private.fan_out_broadcasts($1) as n", [
        FAN_OUT_BATCH,
      ]);
      longestBatchMs = Math.max(longestBatchMs, performance.now() - batchBegun);
      if (rows[0].n === 0) break;
      batches++;
      fan.update(`${count(batches * FAN_OUT_BATCH)} users`);
    }
    const fanOutMs = performance.now() - fanBegun;
    const { rows: reached } = await db.query<{ n: string }>(
      "select count(*) as n from public.notifications where broadcast_id = $1",
      [created[0].id],
    );
    fan.done(
      `${count(Number(reached[0].n))} notifications in ${
        seconds(fanOutMs)
      } (${batches} batches of ${count(FAN_OUT_BATCH)}; longest ${longestBatchMs.toFixed(0)} ms)`,
    );
    return {
      numbers: {
        events: EVENTS,
        consumeMs,
        eventsPerSecond,
        broadcastUsers: created[0].total,
        broadcastNotifications: Number(reached[0].n),
        fanOutMs,
        fanOutBatches: batches,
        longestBatchMs,
      },
      checks: [
        {
          row: "notifications: events consumed per second",
          value: eventsPerSecond,
          unit: "/s",
          min: 200,
        },
        {
          row: `notifications: broadcast to ${count(BROADCAST_USERS)} users`,
          value: fanOutMs / 1000,
          unit: "s",
          below: 120,
        },
        {
          row: "notifications: longest fan-out transaction",
          value: longestBatchMs,
          unit: "ms",
          below: 5000,
        },
        {
          row: "notifications: broadcast recipients missed",
          value: created[0].total - Number(reached[0].n),
          unit: "",
          below: 1,
        },
      ],
    };
  },
};
