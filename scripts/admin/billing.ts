// billing: the admin's subscription desk (004 admin subscriptions) and invoice and statement
// tools. Reads through the database's RPCs with the service-role key (admin_subscriptions,
// subscription_stats, monthly_statement); changes through the edge functions, which make the
// Stripe calls and write the audit log naming the staff account --as gives:
// billing-admin-subscription (modify, force cancel, refund: billing-manage-subscription's own
// Stripe code) and billing-send-invoice.

import { randomUUID } from "node:crypto";
import { z } from "zod";
import { findAccount } from "./accounts.ts";
import { type Command, defineCommand, userReference, uuid, wholeNumber } from "./command.ts";
import type { AdminClient } from "./connection.ts";
import { CommandError, reasonOf, unwrap } from "./errors.ts";
import { type Column, fields, sections, table, when } from "./output.ts";

const isoDate = z.iso.date({ error: "must be a day, YYYY-MM-DD" });
const STATUSES = [
  "incomplete",
  "incomplete_expired",
  "trialing",
  "active",
  "past_due",
  "canceled",
  "unpaid",
  "paused",
] as const;

interface Listed {
  id: string;
  email: string | null;
  plan_slug: string;
  status: string;
  billing_period: string | null;
  currency: string | null;
  amount: number | null;
  monthly_amount: number;
  cancel_at_period_end: boolean;
  current_period_end: string | null;
  created_at: string;
  total_count: number;
}

const listColumns: Column<Listed>[] = [
  ["ID", (s) => s.id],
  ["USER", (s) => s.email],
  ["PLAN", (s) => s.plan_slug],
  ["STATUS", (s) => s.status + (s.cancel_at_period_end ? " (ends)" : "")],
  ["PRICE", (s) => (s.amount === null ? "-" : `${s.amount} ${s.currency}/${s.billing_period}`)],
  ["MRR", (s) => s.monthly_amount],
  ["PERIOD END", (s) => when(s.current_period_end)],
  ["CREATED", (s) => when(s.created_at)],
];

const list = defineCommand({
  name: "billing subscriptions list",
  synopsis:
    "[--status STATUS] [--plan SLUG] [--search USER] [--from DAY] [--to DAY] [--page N] [--limit N]",
  summary:
    "subscriptions, newest first, filtered by status, plan, user (id or part of the e-mail) and creation days",
  input: z.object({
    status: z.enum(STATUSES).optional(),
    plan: z.string().min(1).optional(),
    search: z.string().min(1).optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    page: wholeNumber(1, 100_000).default(1),
    limit: wholeNumber(1, 100).default(20),
  }),
  async run({ client }, input) {
    const rows = unwrap(
      await client.rpc("admin_subscriptions", {
        with_status: input.status,
        plan: input.plan,
        user_query: input.search,
        created_from: input.from,
        created_to: input.to,
        page: input.page,
        page_size: input.limit,
      }),
      "listing subscriptions",
    ) as Listed[];
    const total = rows[0]?.total_count ?? 0;
    return {
      data: { total, page: input.page, subscriptions: rows },
      text: () => `${table(rows, listColumns)}\n${rows.length} of ${total} (page ${input.page})`,
    };
  },
});

const show = defineCommand({
  name: "billing subscriptions show",
  args: ["subscription"],
  summary:
    "one subscription: its user, plan, price, status, periods, cancellation and its Stripe invoices",
  input: z.object({ subscription: uuid }),
  async run({ client }, { subscription }) {
    const sub = unwrap(
      await client.from("subscriptions").select(
        "*, plan:plans(slug, name), price:plan_prices(billing_period, currency, amount)",
      )
        .eq("id", subscription).maybeSingle(),
      "reading the subscription",
    );
    if (!sub) throw new CommandError(`no subscription ${subscription}`);
    const invoices = unwrap(
      await client.from("stripe_invoices").select(
        "stripe_invoice_id, number, status, currency, total, amount_paid, paid_at",
      )
        .eq("stripe_subscription_id", sub.stripe_subscription_id).order("stripe_created_at", {
          ascending: false,
        }),
      "reading its invoices",
    );
    const { snapshot: _, ...data } = sub;
    return {
      data: { ...data, invoices },
      text: () =>
        sections([
          [
            "Subscription",
            fields([
              ["id", sub.id],
              ["user", sub.user_id],
              ["plan", `${sub.plan?.slug} (${sub.plan?.name})`],
              [
                "price",
                sub.price
                  ? `${sub.price.amount} ${sub.price.currency}/${sub.price.billing_period}`
                  : "-",
              ],
              ["status", sub.status],
              ["period", `${when(sub.current_period_start)} to ${when(sub.current_period_end)}`],
              ["cancel at period end", sub.cancel_at_period_end ? "yes" : "no"],
              ["canceled", when(sub.canceled_at)],
              ["reason", sub.cancellation_reason],
              ["stripe", sub.stripe_subscription_id],
            ]),
          ],
          [
            "Invoices",
            table(invoices, [
              ["INVOICE", (i) => i.stripe_invoice_id],
              ["NUMBER", (i) => i.number],
              ["STATUS", (i) => i.status],
              ["TOTAL", (i) => `${i.total} ${i.currency}`],
              ["PAID", (i) => i.amount_paid],
              ["PAID AT", (i) => when(i.paid_at)],
            ]),
          ],
        ]),
    };
  },
});

interface Stats {
  counts: {
    active: number;
    trialing: number;
    new: number;
    canceled: number;
    by_status: Record<string, number>;
  };
  currencies: {
    currency: string;
    mrr: number;
    arr: number;
    subscriptions: number;
    revenue_churn: { mrr_at_start: number; churned_mrr: number; rate: number | null };
  }[];
  logo_churn: { customers_at_start: number; churned: number; rate: number | null };
  plan_mix: {
    slug: string;
    currency: string;
    subscriptions: number;
    mrr: number;
    share: number | null;
  }[];
}

const percent = (rate: number | null) => (rate === null ? "-" : `${(rate * 100).toFixed(2)}%`);

const stats = defineCommand({
  name: "billing subscriptions stats",
  synopsis: "--from DAY --to DAY",
  summary:
    "active and cancelled counts, MRR and ARR per currency, logo and revenue churn, plan mix for the days given (definitions: docs/domains/billing.md)",
  input: z.object({ from: isoDate, to: isoDate }),
  async run({ client }, { from, to }) {
    const result = unwrap(
      await client.rpc("subscription_stats", { from_date: from, to_date: to }),
      "reading subscription stats",
    ) as unknown as Stats;
    return {
      data: result,
      text: () =>
        sections([
          [
            "Counts",
            fields([
              ["counting in MRR at the end", result.counts.active],
              ["trialing at the end", result.counts.trialing],
              ["new", result.counts.new],
              ["canceled", result.counts.canceled],
              [
                "by status now",
                Object.entries(result.counts.by_status).map(([k, v]) => `${k} ${v}`).join(", "),
              ],
            ]),
          ],
          [
            "Revenue",
            table(result.currencies, [
              ["CURRENCY", (c) => c.currency],
              ["MRR", (c) => c.mrr],
              ["ARR", (c) => c.arr],
              ["SUBSCRIPTIONS", (c) => c.subscriptions],
              ["MRR AT START", (c) => c.revenue_churn.mrr_at_start],
              ["CHURNED MRR", (c) => c.revenue_churn.churned_mrr],
              ["REVENUE CHURN", (c) => percent(c.revenue_churn.rate)],
            ]),
          ],
          [
            "Logo churn",
            fields([
              ["customers at the start", result.logo_churn.customers_at_start],
              ["churned", result.logo_churn.churned],
              ["rate", percent(result.logo_churn.rate)],
            ]),
          ],
          [
            "Plan mix",
            table(result.plan_mix, [
              ["PLAN", (m) => m.slug],
              ["CURRENCY", (m) => m.currency],
              ["SUBSCRIPTIONS", (m) => m.subscriptions],
              ["MRR", (m) => m.mrr],
              ["SHARE", (m) => percent(m.share)],
            ]),
          ],
        ]),
    };
  },
});

/** The staff account --as names: the functions check its billing.manage and audit it. */
async function staffAccount(client: AdminClient, operator: string): Promise<string> {
  if (!userReference.safeParse(operator).success) {
    throw new CommandError(
      `this command acts as your staff account: name it with --as <your e-mail> (or ADMIN_ACTOR), not ${
        JSON.stringify(operator)
      }`,
    );
  }
  return (await findAccount(client, operator)).id;
}

async function invoke(
  client: AdminClient,
  slug: string,
  body: Record<string, unknown>,
  doing: string,
): Promise<Record<string, unknown>> {
  const { data, error } = await client.functions.invoke(slug, { body });
  if (error) throw new CommandError(`${doing} (${slug}): ${await reasonOf(error)}`);
  return data as Record<string, unknown>;
}

const desk = async (
  { client, operator }: { client: AdminClient; operator: string },
  body: Record<string, unknown>,
  doing: string,
) => {
  const result = await invoke(client, "billing-admin-subscription", {
    ...body,
    acting_user: await staffAccount(client, operator),
  }, doing);
  return {
    data: result,
    text: () =>
      fields(Object.entries(result).map(([key, value]) => [key.replaceAll("_", " "), value])) +
      "\nThe mirror follows when Stripe's webhook arrives.",
  };
};

const modify = defineCommand({
  name: "billing subscriptions modify",
  args: ["subscription"],
  synopsis: "<subscription> (--price PLAN_PRICE_ID | --pause | --resume) --as STAFF-EMAIL",
  summary:
    "change a subscription's plan (with the plan's proration) or pause or resume it, as your staff account (audited)",
  input: z.object({
    subscription: uuid,
    price: uuid.optional(),
    pause: z.boolean().optional(),
    resume: z.boolean().optional(),
  }).refine(
    (input) =>
      [input.price !== undefined, input.pause === true, input.resume === true].filter(Boolean)
        .length === 1,
    "give exactly one of --price, --pause, --resume",
  ),
  run(context, input) {
    const body = input.price
      ? { action: "change_plan", plan_price_id: input.price }
      : { action: input.pause ? "pause" : "resume" };
    return desk(
      context,
      { ...body, subscription_id: input.subscription },
      "modifying the subscription",
    );
  },
});

const cancel = defineCommand({
  name: "billing subscriptions cancel",
  args: ["subscription"],
  synopsis: "<subscription> --reason TEXT [--refund] --as STAFF-EMAIL",
  summary:
    "cancel a subscription now with a reason, --refund also refunds its latest paid invoice (audited)",
  input: z.object({
    subscription: uuid,
    reason: z.string().trim().min(3, "must be at least 3 characters").max(500),
    refund: z.boolean().default(false),
  }),
  run(context, input) {
    return desk(context, {
      action: "force_cancel",
      subscription_id: input.subscription,
      reason: input.reason,
      refund: input.refund,
    }, "cancelling the subscription");
  },
});

const refund = defineCommand({
  name: "billing subscriptions refund",
  args: ["subscription"],
  synopsis: "<subscription> --reason TEXT [--invoice in_…] --as STAFF-EMAIL",
  summary:
    "refund the paid payment of a subscription's invoice (its latest paid one by default), once (audited)",
  input: z.object({
    subscription: uuid,
    reason: z.string().trim().min(3, "must be at least 3 characters").max(500),
    invoice: z.string().regex(/^in_[A-Za-z0-9_]+$/, "must be a Stripe invoice id (in_…)")
      .optional(),
  }),
  run(context, input) {
    return desk(context, {
      action: "refund",
      subscription_id: input.subscription,
      reason: input.reason,
      ...(input.invoice ? { stripe_invoice_id: input.invoice } : {}),
    }, "refunding");
  },
});

const sendInvoice = defineCommand({
  name: "billing invoices send",
  args: ["invoice"],
  synopsis: "<invoice> [--request UUID] --as STAFF-EMAIL",
  summary:
    "e-mail an issued invoice to its customer with the PDF attached (audited); --request makes a retry send nothing twice",
  input: z.object({ invoice: uuid, request: uuid.optional() }),
  async run({ client, operator }, { invoice, request }) {
    const result = await invoke(client, "billing-send-invoice", {
      invoice_id: invoice,
      request_id: request ?? randomUUID(),
      acting_user: await staffAccount(client, operator),
    }, "sending the invoice");
    return {
      data: result,
      text: () =>
        fields([
          ["send", result.id],
          ["to", result.to_address],
          ["request", result.request_id],
          ["repeated", result.repeated ? "yes (the first send's answer)" : "no"],
        ]) +
        "\nThe e-mail goes out with the next notifications-consume and notifications-send-email runs.",
    };
  },
});

const statement = defineCommand({
  name: "billing statement",
  args: ["user"],
  synopsis: "<user> --month YYYY-MM",
  summary:
    "a user's monthly statement: per currency opening balance, charges, payments, refunds, closing, and the entries",
  input: z.object({
    user: userReference,
    month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be YYYY-MM"),
  }),
  async run({ client }, { user, month }) {
    const account = await findAccount(client, user);
    const result = unwrap(
      await client.rpc("monthly_statement", { month: `${month}-01`, user_id: account.id }),
      "reading the statement",
    ) as unknown as {
      currencies: Record<string, number | string>[];
      entries: Record<string, number | string>[];
    };
    return {
      data: result,
      text: () =>
        sections([
          [
            `Statement ${month} of ${account.email ?? account.id}`,
            table(result.currencies, [
              ["CURRENCY", (c) => c.currency],
              ["OPENING", (c) => c.opening_balance],
              ["CHARGES", (c) => c.charges],
              ["PAYMENTS", (c) => c.payments],
              ["REFUNDS", (c) => c.refunds],
              ["CLOSING", (c) => c.closing_balance],
            ], "(no activity)"),
          ],
          [
            "Entries",
            table(result.entries, [
              ["WHEN", (e) => when(String(e.occurred_at))],
              ["WHAT", (e) => e.description],
              ["CURRENCY", (e) => e.currency],
              ["CHARGE", (e) => e.charge],
              ["PAYMENT", (e) => e.payment],
              ["REFUND", (e) => e.refund],
            ]),
          ],
        ]),
    };
  },
});

export const billingCommands: Command[] = [
  list,
  show,
  stats,
  modify,
  cancel,
  refund,
  sendInvoice,
  statement,
];
