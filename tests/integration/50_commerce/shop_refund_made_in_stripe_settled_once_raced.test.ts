// Refunds of a shop checkout made in Stripe's Dashboard (here stripe.refunds.create on the
// charge through the stand-in, booked by the refund.created webhook) are settled by commerce
// staff with rpc('resolve_shop_external_refund'): racing resolutions of one refund by two staff
// members end with exactly one winner, the others answered 409 PT409 "already resolved at
// <when>", one audit entry, the winner's note kept; the buyer and the seller are refused 403.
// Then the admin CLI, as an operator: `shop external-refunds list` shows the open one,
// `… resolve <re> --note` settles it audited under the operator's name, a second time exits 1
// with the same refusal, and `list --status resolved` shows both.

import { beforeAll, describe, expect, it } from "vitest";
import { signUpWithRole, type TestUser } from "../support/auth.ts";
import { runAdminCli } from "../support/admin_cli.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin } from "../support/clients.ts";
import { buyerWithAddress, onboard, payAndComplete } from "../support/shop_payments.ts";
import { drainWebhooks, stripeSdk } from "../support/stripe.ts";

/** The moment as the refusal names it: UTC, to the second. */
const toSecond = (timestamp: string) => new Date(timestamp).toISOString().slice(0, 19) + "Z";

describe("refunds made in Stripe's Dashboard settled by commerce staff", () => {
  let seller: TestUser;
  let buyer: TestUser;
  let staff: TestUser[];
  let refundIds: string[];

  beforeAll(async () => {
    let placed;
    [seller, placed, ...staff] = await Promise.all([
      openShop("settle-seller"),
      buyerWithAddress("settle-buyer"),
      signUpWithRole("settle-staff-a", "staff"),
      signUpWithRole("settle-staff-b", "staff"),
    ]);
    buyer = placed.buyer;
    await onboard(seller);
    const lamp = await activeProduct(seller, { title: "Settled lamp", price: 6000 }, 10);
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: lamp, quantity: 1 }],
      address_id: placed.addressId,
    }).throwOnError();
    const completed = await payAndComplete(buyer, checkout!.id);
    const stripe = stripeSdk();
    refundIds = [];
    for (let i = 0; i < 4; i++) {
      const refund = await stripe.refunds.create({ charge: completed.charge.id, amount: 200 });
      refundIds.push(refund.id);
    }
    await drainWebhooks();
    const { data: open } = await staff[0].client.from("shop_external_refunds")
      .select("stripe_refund_id").in("stripe_refund_id", refundIds).is("resolved_at", null)
      .throwOnError();
    expect(open!.map((r) => r.stripe_refund_id).sort()).toEqual([...refundIds].sort());
  });

  it("one of six racing resolutions wins, the others are told when it was resolved", async () => {
    for (const refundId of refundIds.slice(0, 3)) {
      const answers = await Promise.all(
        Array.from(
          { length: 6 },
          (_, i) =>
            staff[i % 2].client.rpc("resolve_shop_external_refund", {
              stripe_refund_id: refundId,
              resolution: `settled by call ${i}`,
            }),
        ),
      );
      const won = answers.filter((a) => a.error === null);
      expect(won, JSON.stringify(answers.map((a) => a.error))).toHaveLength(1);
      const row = won[0].data!;
      expect(row.stripe_refund_id).toBe(refundId);
      const winner = answers.indexOf(won[0]);
      expect(row.resolution).toBe(`settled by call ${winner}`);
      for (const lost of answers.filter((a) => a.error !== null)) {
        expect(lost.status).toBe(409);
        expect(lost.error).toMatchObject({
          code: "PT409",
          message: `refund ${refundId} made in Stripe was already resolved at ${
            toSecond(row.resolved_at!)
          }`,
        });
      }
      const { data: stored } = await staff[1].client.from("shop_external_refunds")
        .select("resolved_at, resolution").eq("stripe_refund_id", refundId).single()
        .throwOnError();
      expect(stored).toEqual({ resolved_at: row.resolved_at, resolution: row.resolution });
      const { data: audited } = await admin().from("audit_log")
        .select("action, actor_id, after").eq("table_name", "shop_external_refunds")
        .eq("row_id", refundId).throwOnError();
      expect(audited).toEqual([{
        action: "resolve",
        actor_id: staff[winner % 2].id,
        after: { resolved_at: expect.any(String), resolution: row.resolution },
      }]);
    }
  });

  it("refuses the buyer and the seller", async () => {
    for (const who of [buyer, seller]) {
      const refused = await who.client.rpc("resolve_shop_external_refund", {
        stripe_refund_id: refundIds[3],
        resolution: "mine now",
      });
      expect(refused.status).toBe(403);
      expect(refused.error).toMatchObject({
        code: "42501",
        message: "resolving a refund made in Stripe needs the commerce.manage permission",
      });
    }
  });

  it("is listed and settled by the admin CLI, audited with the operator", async () => {
    const listed = await runAdminCli(["shop", "external-refunds", "list", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const open = JSON.parse(listed.stdout) as { stripe_refund_id: string }[];
    expect(open.map((r) => r.stripe_refund_id)).toContain(refundIds[3]);
    expect(open.map((r) => r.stripe_refund_id)).not.toContain(refundIds[0]);

    const resolved = await runAdminCli([
      "shop",
      "external-refunds",
      "resolve",
      refundIds[3],
      "--note",
      "Borne by the platform: goodwill refund",
      "--as",
      "ops-settle@example.com",
      "--json",
    ]);
    expect(resolved.code, resolved.stderr).toBe(0);
    const row = JSON.parse(resolved.stdout);
    expect(row).toMatchObject({
      stripe_refund_id: refundIds[3],
      resolution: "Borne by the platform: goodwill refund",
    });
    const { data: audited } = await admin().from("audit_log")
      .select("actor_id, actor_label").eq("table_name", "shop_external_refunds")
      .eq("row_id", refundIds[3]).throwOnError();
    expect(audited).toEqual([{ actor_id: null, actor_label: "ops-settle@example.com" }]);

    const again = await runAdminCli([
      "shop",
      "external-refunds",
      "resolve",
      refundIds[3],
      "--note",
      "again",
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `refund ${refundIds[3]} made in Stripe was already resolved at ${
        toSecond(row.resolved_at)
      } (PT409)`,
    );
    const empty = await runAdminCli(["shop", "external-refunds", "resolve", refundIds[3]]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("shop external-refunds resolve: --note: is required");

    const done = await runAdminCli([
      "shop",
      "external-refunds",
      "list",
      "--status",
      "resolved",
      "--json",
    ]);
    expect(done.code, done.stderr).toBe(0);
    const ids = (JSON.parse(done.stdout) as { stripe_refund_id: string }[])
      .map((r) => r.stripe_refund_id);
    for (const id of refundIds) expect(ids).toContain(id);
  });
});
