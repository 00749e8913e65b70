// reconcile: the ledger and our escrow records beside what Stripe says happened, order by
// order. The database compares the ledger with the escrow rows (payments_reconciliation);
// this command adds Stripe's side: each order's charge (captured, refunded) and transfers
// (amount, reversed), fetched by the ids and transfer group we recorded. Every difference is
// listed; the exit code is 1 when there is any, so a scheduled run can alert.

import Stripe from "stripe";
import { z } from "zod";
import { type Command, defineCommand } from "./command.ts";
import { localStackStatus } from "./connection.ts";
import { CommandError, unwrap } from "./errors.ts";
import { type Column, table } from "./output.ts";

/** The Stripe SDK as the functions use it: STRIPE_SECRET_KEY and STRIPE_API_BASE, else the local stack's. */
function stripeFromEnvironment(env: NodeJS.ProcessEnv = process.env): Stripe {
  let key = env.STRIPE_SECRET_KEY;
  let base = env.STRIPE_API_BASE;
  if (!key) {
    const status = localStackStatus(["STRIPE_SECRET_KEY"], "STRIPE_SECRET_KEY is not set");
    key = status.STRIPE_SECRET_KEY;
    base = status.STRIPE_API_BASE;
  }
  if (!base) return new Stripe(key);
  const url = new URL(base);
  const protocol = url.protocol === "https:" ? "https" : "http";
  return new Stripe(key, { host: url.hostname, port: Number(url.port || (protocol === "https" ? 443 : 80)), protocol });
}

interface Finding {
  order_id: string;
  currency: string;
  status: string;
  problems: string[];
}

const columns: Column<Finding>[] = [
  ["ORDER", (f) => f.order_id],
  ["STATUS", (f) => f.status],
  ["CURRENCY", (f) => f.currency],
  ["DIFFERENCES", (f) => f.problems.join("; ")],
];

const reconcile = defineCommand({
  name: "reconcile",
  synopsis: "[--limit N]",
  summary: "compare the ledger, the escrow records and Stripe's charges, refunds and transfers",
  input: z.object({ limit: z.coerce.number().int().min(1).max(100_000).default(1000) }),
  async run({ client }, { limit }) {
    const rows = unwrap(await client.rpc("payments_reconciliation", { only_problems: false }).limit(limit), "reconciling the ledger");
    const stripe = stripeFromEnvironment();
    const findings: Finding[] = [];
    for (const row of rows) {
      const problems = [...(row.problems ?? [])];
      try {
        if (row.stripe_charge_id) {
          const charge = await stripe.charges.retrieve(row.stripe_charge_id);
          if (charge.amount_captured !== row.amount_captured) {
            problems.push(`Stripe captured ${charge.amount_captured} <> escrow ${row.amount_captured}`);
          }
          if (charge.amount_refunded !== row.amount_refunded) {
            problems.push(`Stripe refunded ${charge.amount_refunded} <> escrow ${row.amount_refunded}`);
          }
        } else if (row.amount_captured > 0) {
          problems.push(`escrow captured ${row.amount_captured} without a Stripe charge`);
        }
        const transfers = await stripe.transfers.list({ transfer_group: `order_${row.order_id}`, limit: 100 });
        const transferred = transfers.data.reduce((sum, t) => sum + t.amount, 0);
        const reversed = transfers.data.reduce((sum, t) => sum + t.amount_reversed, 0);
        if (transferred !== row.amount_transferred) problems.push(`Stripe transferred ${transferred} <> escrow ${row.amount_transferred}`);
        if (reversed !== row.amount_reversed) problems.push(`Stripe reversed ${reversed} <> escrow ${row.amount_reversed}`);
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeError)) throw error;
        if (error.type === "StripeConnectionError" || error.type === "StripeAuthenticationError") {
          throw new CommandError(`reaching Stripe: ${error.message}`);
        }
        problems.push(`Stripe: ${error.message}`);
      }
      findings.push({ order_id: row.order_id, currency: row.currency, status: row.status, problems });
    }
    const differing = findings.filter((f) => f.problems.length > 0);
    return {
      data: { orders: findings.length, differences: differing },
      exitCode: differing.length > 0 ? 1 : 0,
      text: () =>
        `${findings.length} orders compared, ${differing.length} with differences\n` +
        (differing.length > 0 ? table(differing, columns) : ""),
    };
  },
});

export const paymentCommands: Command[] = [reconcile];
