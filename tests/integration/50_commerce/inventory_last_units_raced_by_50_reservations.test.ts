// Fifty checkouts race for the last ten units of a product (issue 17, anchors trap 8): each
// reserves one unit through private.reserve_stock on its own database connection, as the
// checkout does in its transaction, all released at once. Exactly ten hold a unit, the other
// forty are refused with the exact message, and the level and the stock book agree.

import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin, requireEnv } from "../support/clients.ts";

describe("commerce: inventory under concurrency", () => {
  let seller: TestUser;
  let productId: string;
  const connections: pg.Client[] = [];

  beforeAll(async () => {
    seller = await openShop("race-seller");
    productId = await activeProduct(seller, { title: "Last lamps", price: 4000 }, 10);
    for (let i = 0; i < 50; i++) {
      const db = new pg.Client({ connectionString: requireEnv("SUPABASE_DB_URL") });
      await db.connect();
      connections.push(db);
    }
  });

  afterAll(async () => {
    await Promise.all(connections.map((db) => db.end()));
  });

  it("reserves exactly the last 10 units among 50 concurrent checkouts and refuses the rest precisely", async () => {
    const run = randomUUID();
    // Each connection opens its transaction first, so all fifty reservations are queued on
    // the level's row lock together rather than one after another.
    await Promise.all(connections.map((db) => db.query("begin")));
    const outcomes = await Promise.allSettled(connections.map(async (db, i) => {
      await db.query(
        "select * from private.reserve_stock($1::jsonb, $2, now() + interval '15 minutes')",
        [JSON.stringify([{ product_id: productId, quantity: 1 }]), `checkout:race-${run}-${i}`],
      ).catch(async (error) => {
        await db.query("rollback");
        throw error;
      });
      await db.query("commit");
    }));

    const held = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(held).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const r of refused) {
      expect(r.reason.code).toBe("PT409");
      expect(r.reason.message).toBe(`product ${productId} has only 0 available, 1 requested`);
    }

    const { data: level } = await seller.client.from("inventory_levels")
      .select("on_hand, reserved, available").eq("product_id", productId).single().throwOnError();
    expect(level).toEqual({ on_hand: 10, reserved: 10, available: 0 });
    const { data: moves } = await admin().from("stock_moves")
      .select("kind, reserved_delta").eq("product_id", productId).eq("kind", "reservation")
      .throwOnError();
    expect(moves).toHaveLength(10);
    const { count } = await admin().from("stock_reservations")
      .select("id", { count: "exact", head: true }).eq("product_id", productId).eq(
        "status",
        "active",
      );
    expect(count).toBe(10);
    const { data: product } = await admin().from("products").select("in_stock").eq("id", productId)
      .single();
    expect(product?.in_stock).toBe(false);
  });
});
