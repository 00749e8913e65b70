// The commissions flow of spec 000 end to end, as clients do it: supabase-js under RLS for
// projects, requirements, bids and order actions, the accept-bid edge function for the one
// step a client must not do itself, Storage for deliverables.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, callFunction, client } from "../support/clients.ts";
import { acceptBody } from "../support/marketplace.ts";
import { TINY_PNG } from "../support/storage.ts";

const PATTERN = {
  version: 1,
  units: "cm",
  width: 100,
  height: 120,
  pieces: [{ name: "front", points: [[0, 0], [50, 0], [50, 80], [0, 80]], closed: true }],
};

const inDays = (days: number) =>
  new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

async function postProject(designer: TestUser, fields: Record<string, unknown> = {}) {
  const { data, error } = await designer.client
    .from("projects")
    .insert({
      title: "A wool coat",
      description: "Single-breasted, lined",
      budget_amount: 50_000,
      currency: "EUR",
      deadline: inDays(30),
      ...fields,
    })
    .select()
    .single();
  if (error) throw error;
  return data;
}

async function bid(tailor: TestUser, projectId: string, amount = 45_000) {
  const { data, error } = await tailor.client
    .from("bids")
    .insert({ project_id: projectId, amount, duration_days: 14, message: "Happy to make it" })
    .select()
    .single();
  if (error) throw error;
  return data;
}

describe("projects, bids and bid acceptance", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let rival: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    [designer, tailor, rival, stranger] = await Promise.all([
      signUp("designer", { is_designer: true }),
      signUp("tailor", { is_tailor: true }),
      signUp("rival", { is_tailor: true }),
      signUp("stranger"),
    ]);
  });

  it("lists open projects with text search, budget filters and a keyset cursor", async () => {
    const tag = `zq${Date.now().toString(36)}`;
    for (const [i, budget] of [10_000, 20_000, 30_000].entries()) {
      await postProject(designer, { title: `Linen shirt ${tag} ${i}`, budget_amount: budget });
    }
    const page = (cursor?: string) => {
      let query = stranger.client
        .from("projects")
        .select("id, title, budget_amount, created_at")
        .eq("status", "open")
        .textSearch("search", tag, { type: "websearch", config: "simple" })
        .gte("budget_amount", 15_000)
        .order("created_at", { ascending: false })
        .order("id", { ascending: false })
        .limit(1);
      if (cursor) query = query.lt("created_at", cursor);
      return query;
    };
    const first = await page();
    expect(first.error).toBeNull();
    expect(first.data!.map((p) => p.budget_amount)).toEqual([30_000]);
    const second = await page(first.data![0].created_at);
    expect(second.data!.map((p) => p.budget_amount)).toEqual([20_000]);
    const third = await page(second.data![0].created_at);
    expect(third.data).toEqual([]);
  });

  it("refuses bad projects with a precise error and stores nothing", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ budget_amount: 0 }, "budget must be a positive whole number"],
      [{ budget_amount: -5 }, "budget must be a positive whole number"],
      [{ budget_amount: 100_000_000 }, "exceeds the maximum"],
      [{ currency: "XXX" }, "currency XXX is not supported"],
      [{ deadline: "2000-01-01" }, "is in the past"],
    ];
    for (const [fields, message] of cases) {
      const { error } = await designer.client.from("projects").insert({
        title: "Bad",
        budget_amount: 100,
        currency: "EUR",
        ...fields,
      });
      expect(error?.code, JSON.stringify(fields)).toBe("22023");
      expect(error?.message).toContain(message);
    }
    const { count } = await designer.client.from("projects").select("id", {
      count: "exact",
      head: true,
    }).eq("title", "Bad");
    expect(count).toBe(0);
  });

  it("takes one bid per tailor, never on one's own or a closed project", async () => {
    const project = await postProject(designer);
    await bid(tailor, project.id);

    const again = await tailor.client.from("bids").insert({
      project_id: project.id,
      amount: 40_000,
      duration_days: 10,
    });
    expect(again.error?.code).toBe("23505");
    const own = await designer.client.from("bids").insert({
      project_id: project.id,
      amount: 40_000,
      duration_days: 10,
    });
    expect(own.error?.code).toBe("42501");
    const zero = await rival.client.from("bids").insert({
      project_id: project.id,
      amount: 0,
      duration_days: 10,
    });
    expect(zero.error?.code).toBe("22023");

    // The designer sees every bid; a tailor only their own; a stranger none.
    await bid(rival, project.id, 42_000);
    const seen = async (u: TestUser) =>
      (await u.client.from("bids").select("tailor_id").eq("project_id", project.id)).data!.length;
    expect(await seen(designer)).toBe(2);
    expect(await seen(tailor)).toBe(1);
    expect(await seen(stranger)).toBe(0);

    const closed = await designer.client.rpc("close_project", { project_id: project.id });
    expect(closed.data?.status).toBe("closed");
    const late = await stranger.client.from("bids").insert({
      project_id: project.id,
      amount: 40_000,
      duration_days: 10,
    });
    expect(late).toMatchObject({ status: 409, error: { code: "PT409" } });
    const statuses =
      (await designer.client.from("bids").select("status").eq("project_id", project.id)).data!;
    expect(statuses.map((b) => b.status)).toEqual(["rejected", "rejected"]);
    // A bidder still sees the project they bid on; a stranger no longer does.
    expect((await tailor.client.from("projects").select("id").eq("id", project.id)).data)
      .toHaveLength(1);
    expect((await stranger.client.from("projects").select("id").eq("id", project.id)).data)
      .toHaveLength(0);
  });

  it("accept-bid: 20 concurrent accepts of one project make exactly one order, and a retry returns it", async () => {
    const project = await postProject(designer);
    const bids = await Promise.all([
      bid(tailor, project.id, 44_000),
      bid(rival, project.id, 41_000),
    ]);

    // Ten requests for each bid at once: one wins, the same bid's others get its order, the
    // other bid's requests find the project taken.
    const results = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => callFunction(designer.client, "accept-bid", acceptBody(bids[i % 2])),
      ),
    );
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(1);
    const order = created[0].body.order;
    const winner = bids.find((b) => b.id === order.bid_id)!;
    for (const r of results) {
      if (r.status === 201) continue;
      if (r.body.order) {
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ created: false, order: { id: order.id } });
      } else {
        expect(r.status).toBe(409);
        expect(r.body.error.code).toBe("conflict");
      }
    }
    const { data: orders } = await admin().from("orders").select("id").eq("project_id", project.id);
    expect(orders).toHaveLength(1);

    expect(order).toMatchObject({
      kind: "project",
      status: "awaiting_requirements",
      buyer_id: designer.id,
      seller_id: winner.tailor_id,
      price_amount: winner.amount,
      currency: "EUR",
      commission_rate_bps: 1000,
    });
    const retry = await callFunction(designer.client, "accept-bid", acceptBody(winner));
    expect(retry).toMatchObject({ status: 200, body: { created: false, order: { id: order.id } } });

    const { data: statuses } = await designer.client.from("bids").select("id, status").eq(
      "project_id",
      project.id,
    );
    expect(new Map(statuses!.map((b) => [b.id, b.status]))).toEqual(
      new Map(bids.map((b) => [b.id, b.id === winner.id ? "accepted" : "rejected"])),
    );
    const { data: thread } = await designer.client.from("thread_participants").select("user_id").eq(
      "thread_id",
      order.thread_id,
    );
    expect(thread!.map((p) => p.user_id).sort()).toEqual([designer.id, winner.tailor_id].sort());
  });

  it("accept-bid refuses strangers, bad bodies and signed-out callers in the error format", async () => {
    const project = await postProject(designer);
    const b = await bid(tailor, project.id);
    expect(await callFunction(stranger.client, "accept-bid", acceptBody(b))).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden" } },
    });
    expect(
      await callFunction(designer.client, "accept-bid", { ...acceptBody(b), bid_id: "not-a-uuid" }),
    )
      .toMatchObject({
        status: 400,
        body: { error: { code: "invalid_request" } },
      });
    // The owner must say what they accept: a bid id alone is refused.
    expect(await callFunction(designer.client, "accept-bid", { bid_id: b.id })).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_request" } },
    });
    expect(
      await callFunction(designer.client, "accept-bid", {
        ...acceptBody(b),
        bid_id: crypto.randomUUID(),
      }),
    )
      .toMatchObject({
        status: 404,
        body: { error: { code: "not_found" } },
      });
    expect((await callFunction(client(), "accept-bid", acceptBody(b))).status).toBe(401);
    expect(
      (await designer.client.from("bids").select("status").eq("id", b.id).single()).data?.status,
    ).toBe("pending");
  });
});

describe("an order from requirements to completion", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let stranger: TestUser;
  let orderId: string;
  let projectId: string;

  beforeAll(async () => {
    [designer, tailor, stranger] = await Promise.all([
      signUp("o-designer"),
      signUp("o-tailor"),
      signUp("o-stranger"),
    ]);
    const { data: design, error } = await designer.client.from("designs").insert({
      title: "Coat",
      pattern: PATTERN,
    }).select().single();
    if (error) throw error;
    const project = await postProject(designer);
    projectId = project.id;
    await designer.client.from("project_designs").insert({
      project_id: project.id,
      design_id: design.id,
    }).throwOnError();
    await designer.client.from("project_requirements").insert({
      project_id: project.id,
      title: "Wool, 80% minimum",
    }).throwOnError();
    const b = await bid(tailor, project.id);
    // A private design attached to an open project is shown to those who may bid on it...
    const sees = async (u: TestUser) =>
      (await u.client.from("designs").select("id").eq("id", design.id)).data!.length;
    expect([await sees(tailor), await sees(stranger)]).toEqual([1, 1]);
    const accepted = await callFunction(designer.client, "accept-bid", acceptBody(b));
    expect(accepted.status).toBe(201);
    orderId = accepted.body.order.id;
    // ...and, once the project is under way, to its bidders only.
    expect([await sees(tailor), await sees(stranger)]).toEqual([1, 0]);
  });

  it("needs both parties' approval of the requirements, and a change withdraws approvals", async () => {
    await designer.client.rpc("approve_requirements", { order_id: orderId }).throwOnError();
    await designer.client.from("project_requirements").insert({
      project_id: projectId,
      title: "Horn buttons",
    }).throwOnError();
    let { data: order } = await tailor.client.from("orders").select("*").eq("id", orderId).single();
    expect(order).toMatchObject({
      status: "awaiting_requirements",
      requirements_approved_by_buyer_at: null,
    });

    await tailor.client.rpc("approve_requirements", { order_id: orderId }).throwOnError();
    await designer.client.rpc("approve_requirements", { order_id: orderId }).throwOnError();
    ({ data: order } = await tailor.client.from("orders").select("*").eq("id", orderId).single());
    expect(order!.status).toBe("awaiting_payment");

    const locked = await designer.client.from("project_requirements").insert({
      project_id: projectId,
      title: "Late change",
    });
    expect(locked).toMatchObject({ status: 409, error: { code: "PT409" } });
  });

  it("keeps status and price out of clients' hands, and the order away from strangers", async () => {
    const status = await designer.client.from("orders").update({ status: "completed" }).eq(
      "id",
      orderId,
    );
    expect(status.error?.code).toBe("42501");
    const price = await tailor.client.from("orders").update({ price_amount: 1 }).eq("id", orderId);
    expect(price.error?.code).toBe("42501");
    const notes = await tailor.client.from("orders").update({ metadata: { fabric_ordered: true } })
      .eq("id", orderId).select("metadata");
    expect(notes.data).toEqual([{ metadata: { fabric_ordered: true } }]);
    expect((await stranger.client.from("orders").select("id").eq("id", orderId)).data).toEqual([]);
    expect(
      (await stranger.client.rpc("cancel_order", { order_id: orderId, reason: "mine now" })).error
        ?.code,
    ).toBe("PT404");
    // Work cannot be delivered before the payment is held.
    expect(
      (await tailor.client.rpc("submit_delivery", { order_id: orderId, message: "early" })).error
        ?.code,
    ).toBe("PT409");
  });

  it("delivers files privately, takes a revision, and completes on approval", async () => {
    await admin().schema("ops").rpc("record_order_payment", { order_id: orderId }).throwOnError();

    const path = `${orderId}/coat-photo.png`;
    const png = new Blob([TINY_PNG], { type: "image/png" });
    expect(
      (await stranger.client.storage.from("deliverables").upload(`${orderId}/fake.png`, png)).error,
    ).not.toBeNull();
    expect(
      (await designer.client.storage.from("deliverables").upload(`${orderId}/buyer.png`, png))
        .error,
    ).not.toBeNull();
    await tailor.client.storage.from("deliverables").upload(path, png, { contentType: "image/png" })
      .then(({ error }) => {
        if (error) throw error;
      });
    const missing = await tailor.client.rpc("submit_delivery", {
      order_id: orderId,
      message: "Done",
      file_paths: [`${orderId}/nope.png`],
    });
    expect(missing.error?.code).toBe("22023");

    await tailor.client.rpc("submit_delivery", {
      order_id: orderId,
      message: "First fitting",
      file_paths: [path],
    }).throwOnError();
    expect((await designer.client.storage.from("deliverables").download(path)).error).toBeNull();
    expect((await stranger.client.storage.from("deliverables").download(path)).error).not
      .toBeNull();

    await designer.client.rpc("request_revision", {
      order_id: orderId,
      note: "Sleeves 2 cm shorter",
    }).throwOnError();
    await tailor.client.rpc("submit_delivery", {
      order_id: orderId,
      message: "Sleeves shortened",
      file_paths: [path],
    }).throwOnError();
    const done = await designer.client.rpc("approve_delivery", { order_id: orderId });
    expect(done.data).toMatchObject({ status: "completed", revisions_used: 1 });

    const { data: timeline } = await tailor.client.from("order_events").select(
      "event_type, to_status",
    ).eq("order_id", orderId).order("id");
    expect(timeline!.filter((e) => e.event_type === "status_changed").map((e) => e.to_status))
      .toEqual([
        "awaiting_payment",
        "in_progress",
        "delivered",
        "revision_requested",
        "delivered",
        "completed",
      ]);
    expect(
      (await designer.client.from("projects").select("status").eq("id", projectId).single()).data
        ?.status,
    ).toBe("completed");
    expect((await stranger.client.from("order_events").select("id").eq("order_id", orderId)).data)
      .toEqual([]);
  });

  it("lets the buyer dispute paid work but not cancel it, and leaves a dispute to admins", async () => {
    const project = await postProject(designer);
    const b = await bid(tailor, project.id);
    const { body } = await callFunction(designer.client, "accept-bid", acceptBody(b));
    const id = body.order.id;
    await tailor.client.rpc("approve_requirements", { order_id: id }).throwOnError();
    await designer.client.rpc("approve_requirements", { order_id: id }).throwOnError();
    await admin().schema("ops").rpc("record_order_payment", { order_id: id }).throwOnError();

    const cancel = await designer.client.rpc("cancel_order", {
      order_id: id,
      reason: "changed my mind",
    });
    expect(cancel.error?.code).toBe("42501");
    const short = await designer.client.rpc("open_dispute", { order_id: id, reason: "bad" });
    expect(short.error?.code).toBe("22023");
    const dispute = await designer.client.rpc("open_dispute", {
      order_id: id,
      reason: "No work after three weeks",
    });
    expect(dispute.data).toMatchObject({ status: "open", order_id: id });
    expect((await tailor.client.from("disputes").select("reason").eq("order_id", id)).data)
      .toHaveLength(1);
    // Once disputed, only an admin's resolution ends the order.
    const stepBack = await tailor.client.rpc("cancel_order", {
      order_id: id,
      reason: "cannot finish",
    });
    expect(stepBack.error?.code).toBe("42501");
  });
});
