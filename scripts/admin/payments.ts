// reconcile: the ledger and our escrow records beside what Stripe says happened, order by
// order. The comparison has one implementation, the payments-reconcile edge function (which
// pg_cron also calls on a schedule): the database compares the ledger with the escrow rows
// (payments_reconciliation), the function adds Stripe's side (each order's charge: captured,
// refunded; its transfers: amount, reversed) and records the run in
// payments_reconciliation_runs. This command asks for a run as "cli" and prints it; the exit
// code is 1 when there is any difference, so a script can alert.

import { z } from "zod";
import { type Command, defineCommand, wholeNumber } from "./command.ts";
import type { AdminClient } from "./connection.ts";
import { CommandError, reasonOf } from "./errors.ts";
import { type Column, table } from "./output.ts";

const finding = z.object({
  order_id: z.string(),
  currency: z.string(),
  status: z.string(),
  problems: z.array(z.string()),
});

type Finding = z.infer<typeof finding>;

/** What payments-reconcile answers. */
const reconcileAnswer = z.object({
  run_id: z.string(),
  orders: z.number(),
  complete: z.boolean(),
  differences: z.array(finding),
});

const columns: Column<Finding>[] = [
  ["ORDER", (f) => f.order_id],
  ["STATUS", (f) => f.status],
  ["CURRENCY", (f) => f.currency],
  ["DIFFERENCES", (f) => f.problems.join("; ")],
];

async function invokeReconcile(
  client: AdminClient,
  days: number,
  limit: number,
): Promise<z.infer<typeof reconcileAnswer>> {
  const { data, error } = await client.functions.invoke("payments-reconcile", {
    body: { days, limit, triggered_by: "cli" },
  });
  if (error) throw new CommandError(`reconciling (payments-reconcile): ${await reasonOf(error)}`);
  const answer = reconcileAnswer.safeParse(data);
  if (!answer.success) {
    throw new CommandError(
      `reconciling (payments-reconcile): unexpected answer ${JSON.stringify(data)}`,
    );
  }
  return answer.data;
}

const reconcile = defineCommand({
  name: "reconcile",
  synopsis: "[--days N] [--limit N]",
  summary:
    "compare the ledger, the escrow records and Stripe's charges, refunds and transfers for orders active in the last --days (180); the run is recorded",
  input: z.object({
    days: wholeNumber(1, 3650).default(180),
    limit: wholeNumber(1, 100_000).default(20_000),
  }),
  async run({ client }, { days, limit }) {
    const { run_id, orders, complete, differences } = await invokeReconcile(client, days, limit);
    return {
      data: { run_id, orders, complete, differences },
      exitCode: differences.length > 0 ? 1 : 0,
      text: () =>
        `${orders} orders compared${
          complete ? "" : ` (stopped at --limit ${limit}: more orders were active)`
        }, ` +
        `${differences.length} with differences (run ${run_id})\n` +
        (differences.length > 0 ? table(differences, columns) : ""),
    };
  },
});

export const paymentCommands: Command[] = [reconcile];
