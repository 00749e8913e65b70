// A tailor may edit a pending bid while the designer accepts it. accept-bid takes the terms the
// designer read (amount, duration_days) and ops.accept_bid compares them with the bid under its
// row lock; an edit takes the same lock and is refused once the bid is decided. So whichever
// commits first, the order is never priced at anything but what the designer accepted: either
// the edit lands and the acceptance is refused (409, with the bid's terms now), or the
// acceptance lands and the edit is refused (409).
//
// The first two tests fix the order: a connection to the database holds the bid's row lock
// (only as a gate, it reads nothing), both requests queue behind it in a known order, and
// the gate opens. The third lets the two race freely, round after round.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { callFunction, eventually, withDatabase } from "../support/clients.ts";
import { acceptBody } from "../support/marketplace.ts";

type Bid = { id: string; amount: number; duration_days: number };

describe("a bid edited while it is accepted", () => {
  let designer: TestUser;
  let tailor: TestUser;

  beforeAll(async () => {
    [designer, tailor] = await Promise.all([signUp("race-designer"), signUp("race-tailor")]);
  });

  /** A new project and the tailor's bid on it, as the designer reads it. */
  async function readBid(amount = 55_000, duration_days = 21): Promise<Bid> {
    const project = await designer.client.from("projects")
      .insert({ title: "A raced waistcoat", budget_amount: amount, currency: "EUR" })
      .select("id").single();
    if (project.error) throw project.error;
    const bid = await tailor.client.from("bids")
      .insert({ project_id: project.data.id, amount, duration_days })
      .select("id").single();
    if (bid.error) throw bid.error;
    const read = await designer.client.from("bids").select("id, amount, duration_days")
      .eq("id", bid.data.id).single();
    if (read.error) throw read.error;
    return read.data;
  }

  const reprice = async (bid: Bid, amount: number) =>
    await tailor.client.from("bids").update({ amount }).eq("id", bid.id).select("amount").single();

  /**
   * Holds the bid's row lock on a connection of its own while `queue` starts requests (each
   * waits for the one before it to be blocked on the lock), then releases it and returns what
   * the requests answered.
   */
  function queuedBehindLock(
    bid: Bid,
    queue: { blocked: string; start: () => Promise<unknown> }[],
  ): Promise<unknown[]> {
    return withDatabase(async (gate) => {
      await gate.query("begin");
      await gate.query("select 1 from public.bids where id = $1 for update", [bid.id]);
      const started: Promise<unknown>[] = [];
      // The backends the next request must queue behind: the gate, then each queued request.
      const ahead: number[] = [(await gate.query("select pg_backend_pid() as pid")).rows[0].pid];
      for (const [i, request] of queue.entries()) {
        started.push(request.start());
        const pid = await eventually(
          `request ${i + 1} to queue for the bid's row lock`,
          async () => {
            // A transaction sees one snapshot of pg_stat_activity unless it asks for a fresh one.
            await gate.query("select pg_stat_clear_snapshot()");
            const { rows } = await gate.query(
              `select pid from pg_stat_activity
              where wait_event_type = 'Lock' and query ilike $1
                and pg_blocking_pids(pid) && $2::int[] and not pid = any($2::int[])`,
              [request.blocked, ahead],
            );
            return rows[0]?.pid as number | undefined;
          },
          60_000,
        );
        ahead.push(pid);
      }
      await gate.query("rollback");
      return await Promise.all(started);
    });
  }

  type Edited = Awaited<ReturnType<typeof reprice>>;
  type Answer = Awaited<ReturnType<typeof callFunction>>;

  const edit = (bid: Bid, amount: number) => ({
    blocked: '%update "public"."bids"%',
    start: () => reprice(bid, amount),
  });
  const accept = (bid: Bid) => ({
    blocked: "%accept_bid%",
    start: () => callFunction(designer.client, "accept-bid", acceptBody(bid)),
  });

  it("the edit first: the acceptance is refused with the bid's new terms, and nothing is accepted", async () => {
    const seen = await readBid();
    const [edited, accepted] = await queuedBehindLock(seen, [
      edit(seen, 99_999_999),
      accept(seen),
    ]) as [
      Edited,
      Answer,
    ];

    expect(edited.error).toBeNull();
    expect(edited.data).toEqual({ amount: 99_999_999 });
    expect(accepted).toEqual({
      status: 409,
      body: {
        error: {
          code: "conflict",
          message:
            `bid ${seen.id} has changed: it now asks 99999999 for 21 days, not 55000 for 21 days ` +
            "(minor units of EUR); read it again before accepting",
        },
      },
    });
    const bid = await designer.client.from("bids").select("status, amount").eq("id", seen.id)
      .single();
    expect(bid.data).toEqual({ status: "pending", amount: 99_999_999 });
    expect((await designer.client.from("orders").select("id").eq("bid_id", seen.id)).data).toEqual(
      [],
    );

    // The designer reads the bid again; accepting what it says now is their choice to make.
    const again = await designer.client.from("bids").select("id, amount, duration_days").eq(
      "id",
      seen.id,
    )
      .single();
    const order = await callFunction(designer.client, "accept-bid", acceptBody(again.data!));
    expect(order).toMatchObject({
      status: 201,
      body: { created: true, order: { price_amount: 99_999_999 } },
    });
  });

  it("the acceptance first: the order has the price the designer saw, and the edit is refused", async () => {
    const seen = await readBid();
    const [accepted, edited] = await queuedBehindLock(seen, [
      accept(seen),
      edit(seen, 99_999_999),
    ]) as [
      Answer,
      Edited,
    ];

    expect(accepted).toMatchObject({
      status: 201,
      body: { created: true, order: { bid_id: seen.id, price_amount: 55_000, duration_days: 21 } },
    });
    expect(edited.data).toBeNull();
    expect(edited.status).toBe(409);
    expect(edited.error).toMatchObject({
      code: "PT409",
      message: `bid ${seen.id} is accepted: only a pending bid can be edited`,
    });
    const bid = await tailor.client.from("bids").select("status, amount").eq("id", seen.id)
      .single();
    expect(bid.data).toEqual({ status: "accepted", amount: 55_000 });
    const order = await tailor.client.from("orders").select("price_amount").eq("bid_id", seen.id)
      .single();
    expect(order.data).toEqual({ price_amount: 55_000 });
  });

  it("raced freely, round after round: the order is always priced at what the designer accepted", async () => {
    for (let round = 0; round < 8; round++) {
      const seen = await readBid(50_000 + round);
      const [edited, accepted] = await Promise.all([
        reprice(seen, 99_999_999),
        callFunction(designer.client, "accept-bid", acceptBody(seen)),
      ]);
      const orders = await designer.client.from("orders").select("price_amount").eq(
        "bid_id",
        seen.id,
      );
      const bid = await designer.client.from("bids").select("status, amount").eq("id", seen.id)
        .single();
      if (accepted.status === 201) {
        // The acceptance won: priced as seen, and the edit was refused.
        expect(accepted.body.order.price_amount).toBe(seen.amount);
        expect(orders.data).toEqual([{ price_amount: seen.amount }]);
        expect(edited.error).toMatchObject({
          code: "PT409",
          message: `bid ${seen.id} is accepted: only a pending bid can be edited`,
        });
        expect(bid.data).toEqual({ status: "accepted", amount: seen.amount });
      } else {
        // The edit won: the acceptance was refused and nothing was accepted.
        expect(accepted).toEqual({
          status: 409,
          body: {
            error: {
              code: "conflict",
              message:
                `bid ${seen.id} has changed: it now asks 99999999 for 21 days, not ${seen.amount} for 21 days ` +
                "(minor units of EUR); read it again before accepting",
            },
          },
        });
        expect(edited.error).toBeNull();
        expect(orders.data).toEqual([]);
        expect(bid.data).toEqual({ status: "pending", amount: 99_999_999 });
      }
    }
  });
});
