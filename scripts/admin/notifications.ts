// notifications: admin sends and broadcasts of in-app notifications (the RPCs
// send_notification and broadcast_notification, audited with the operator the CLI names),
// their progress, and fanning pending broadcasts out now (one batch per call of
// ops.fan_out_broadcasts, each its own transaction) instead of waiting for the
// notifications-fan-out job.

import { z } from "zod";
import type { Database } from "../../types/database.ts";
import { findAccount } from "./accounts.ts";
import { type Command, defineCommand, limit, roleName, userReference } from "./command.ts";
import { unwrap } from "./errors.ts";
import { type Column, fields, table, when } from "./output.ts";

type Broadcast = Database["public"]["Tables"]["notification_broadcasts"]["Row"];

const isoDate = z.iso.date();
const isoTimestamp = z.iso.datetime({ offset: true });

/** A moment: YYYY-MM-DD (midnight UTC) or an ISO timestamp; as ISO. */
const moment = z.string().transform((text, context) => {
  if (isoDate.safeParse(text).success) return `${text}T00:00:00.000Z`;
  if (isoTimestamp.safeParse(text).success) return new Date(text).toISOString();
  context.addIssue({ code: "custom", message: "must be YYYY-MM-DD or an ISO timestamp" });
  return z.NEVER;
});

const content = {
  title: z.string().min(1, "must not be empty").max(200, "must be at most 200 characters"),
  body: z.string().max(5000, "must be at most 5000 characters").default(""),
  category: z.string().regex(/^[a-z_]+$/, "must be a category key like system").default("system"),
  url: z.string().regex(/^(\/|https:\/\/)\S*$/, "must be a path (/...) or an https:// URL")
    .optional(),
};

const broadcastColumns: Column<Broadcast>[] = [
  ["ID", (b) => b.id],
  ["CREATED", (b) => when(b.created_at)],
  ["CATEGORY", (b) => b.category],
  ["TITLE", (b) => b.title],
  ["AUDIENCE", audienceOf],
  ["PROGRESS", (b) => `${b.recipients_done}/${b.recipients_total}`],
  ["STATUS", (b) => b.status],
];

function audienceOf(b: Broadcast): string {
  if (b.user_ids) return `${b.user_ids.length} chosen users`;
  const parts = [
    b.roles ? `roles ${b.roles.join(",")}` : null,
    b.locales ? `locales ${b.locales.join(",")}` : null,
    b.signed_up_after ? `signed up from ${b.signed_up_after.slice(0, 10)}` : null,
    b.signed_up_before ? `signed up before ${b.signed_up_before.slice(0, 10)}` : null,
  ].filter((part) => part !== null);
  return parts.length ? parts.join("; ") : "everyone";
}

const summary = (b: Broadcast) =>
  fields([
    ["id", b.id],
    ["title", b.title],
    ["category", b.category],
    ["audience", audienceOf(b)],
    ["progress", `${b.recipients_done}/${b.recipients_total} (${b.status})`],
  ]);

const send = defineCommand({
  name: "notifications send",
  args: ["user"],
  synopsis: "<user> --title TEXT [--body TEXT] [--category KEY] [--url URL]",
  summary: "send an in-app notification to one user now (audited)",
  input: z.object({ user: userReference, ...content }),
  async run({ client }, { user, title, body, category, url }) {
    const account = await findAccount(client, user);
    const sent = unwrap(
      await client.rpc("send_notification", {
        user_ids: [account.id],
        title,
        body,
        category,
        action_url: url,
      }),
      `sending to ${user}`,
    );
    return { data: sent, text: () => summary(sent) };
  },
});

const broadcast = defineCommand({
  name: "notifications broadcast",
  synopsis:
    "--title TEXT [--body TEXT] [--category KEY] [--url URL] [--role ROLE] [--locale LOCALE] [--signed-up-before DATE] [--signed-up-after DATE]",
  summary: "broadcast an in-app notification to everyone, or those matching the filters (audited)",
  input: z.object({
    ...content,
    role: roleName.optional(),
    locale: z.string().regex(/^[a-z]{2,3}(-[A-Z]{2})?$/, "must be a locale like en or pt-BR")
      .optional(),
    "signed-up-before": moment.optional(),
    "signed-up-after": moment.optional(),
  }),
  async run({ client }, input) {
    const created = unwrap(
      await client.rpc("broadcast_notification", {
        title: input.title,
        body: input.body,
        category: input.category,
        action_url: input.url,
        roles: input.role ? [input.role] : undefined,
        locales: input.locale ? [input.locale] : undefined,
        signed_up_before: input["signed-up-before"],
        signed_up_after: input["signed-up-after"],
      }),
      "broadcasting",
    );
    return {
      data: created,
      text: () =>
        summary(created) +
        "\nThe notifications-fan-out job delivers it in batches; `notifications fan-out` does it now.\n",
    };
  },
});

const list = defineCommand({
  name: "notifications broadcasts",
  synopsis: "[--limit N]",
  summary: "admin sends and broadcasts, newest first, with their progress",
  input: z.object({ limit: limit(20) }),
  async run({ client }, { limit }) {
    const rows = unwrap(
      await client.from("notification_broadcasts").select("*")
        .order("created_at", { ascending: false }).limit(limit),
      "listing broadcasts",
    );
    return { data: rows, text: () => table(rows, broadcastColumns, "no broadcasts") };
  },
});

const fanOut = defineCommand({
  name: "notifications fan-out",
  synopsis: "[--limit BATCH]",
  summary: "deliver pending broadcasts now, in batches of users (default 5000)",
  input: z.object({ limit: z.coerce.number().int().min(1).max(50000).default(5000) }),
  async run({ client }, { limit }) {
    let users = 0;
    let batches = 0;
    for (;;) {
      const handled = unwrap(
        await client.schema("ops").rpc("fan_out_broadcasts", { batch_size: limit }),
        "fanning out broadcasts",
      );
      if (handled === 0) break;
      users += handled;
      batches++;
    }
    return {
      data: { batches, users },
      text: () => `fanned out ${batches} batches, ${users} users\n`,
    };
  },
});

export const notificationCommands: Command[] = [send, broadcast, list, fanOut];
