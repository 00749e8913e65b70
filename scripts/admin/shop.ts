// shop external-refunds list | resolve: the refunds of shop checkouts made in Stripe's Dashboard
// (public.shop_external_refunds), which stay open until commerce staff settle them. Resolving
// goes through resolve_shop_external_refund(), the one writer (once, under the row's lock,
// audited with the operator --as names).

import { z } from "zod";
import type { Database } from "../../types/database.ts";
import { type Command, defineCommand, limit } from "./command.ts";
import { unwrap } from "./errors.ts";
import { fields, table, when } from "./output.ts";

type ExternalRefund = Database["public"]["Tables"]["shop_external_refunds"]["Row"];

const list = defineCommand({
  name: "shop external-refunds list",
  synopsis: "[--status open|resolved|all] [--limit N]",
  summary:
    "refunds of shop checkouts made in Stripe's Dashboard, oldest first (open ones by default)",
  input: z.object({
    status: z.enum(["open", "resolved", "all"]).default("open"),
    limit: limit(100),
  }),
  async run({ client }, { status, limit: max }) {
    let query = client.from("shop_external_refunds").select("*");
    if (status === "open") query = query.is("resolved_at", null);
    if (status === "resolved") query = query.not("resolved_at", "is", null);
    const refunds: ExternalRefund[] = unwrap(
      await query.order("created_at").order("stripe_refund_id").limit(max),
      "reading refunds made in Stripe",
    );
    return {
      data: refunds,
      text: () =>
        table(refunds, [
          ["REFUND", (r) => r.stripe_refund_id],
          ["CHECKOUT", (r) => r.checkout_id],
          ["AMOUNT", (r) => `${r.amount} ${r.currency}`],
          ["REASON", (r) => r.reason],
          ["RECORDED", (r) => when(r.created_at)],
          ["RESOLVED", (r) => when(r.resolved_at)],
          ["RESOLUTION", (r) => r.resolution],
        ], `no ${status === "all" ? "" : `${status} `}refunds made in Stripe`),
    };
  },
});

const resolve = defineCommand({
  name: "shop external-refunds resolve",
  args: ["refundId"],
  synopsis: "<refundId> --note TEXT",
  summary: "settle a refund made in Stripe, saying how (at most 1000 characters); once",
  input: z.object({
    refundId: z.string().regex(/^re_[A-Za-z0-9_]+$/, "must be a Stripe refund id (re_…)"),
    note: z.string({ error: "is required" }).trim().min(1, "must say how it was settled").max(
      1000,
      "must be at most 1000 characters",
    ),
  }),
  async run({ client }, { refundId, note }) {
    const refund = unwrap(
      await client.rpc("resolve_shop_external_refund", {
        stripe_refund_id: refundId,
        resolution: note,
      }),
      `resolving ${refundId}`,
    );
    return {
      data: refund,
      text: () =>
        fields([
          ["refund", refund.stripe_refund_id],
          ["checkout", refund.checkout_id],
          ["amount", `${refund.amount} ${refund.currency}`],
          ["resolved", when(refund.resolved_at)],
          ["resolution", refund.resolution],
        ]),
    };
  },
});

export const shopCommands: Command[] = [list, resolve];
