// notifications: admin sends and broadcasts of in-app notifications, optionally by e-mail too
// (the RPCs send_notification and broadcast_notification, audited with the operator the CLI
// names), their progress, fanning pending broadcasts out now (one batch per call of
// ops.fan_out_broadcasts, each its own transaction) instead of waiting for the
// notifications-fan-out job, and the e-mail templates (list_email_templates,
// get_email_template, create_/update_/delete_email_template: checked and audited in the
// database; a preview through the notifications-preview-template function).

import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Database } from "../../types/database.ts";
import { findAccount } from "./accounts.ts";
import { type Command, defineCommand, limit, roleName, userReference } from "./command.ts";
import { CommandError, reasonOf, unwrap } from "./errors.ts";
import { type Column, fields, sections, table, when } from "./output.ts";

type Broadcast = Database["public"]["Tables"]["notification_broadcasts"]["Row"];
type Template = Database["public"]["CompositeTypes"]["email_template"];

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
  "by-email": z.boolean().default(false),
};

const broadcastColumns: Column<Broadcast>[] = [
  ["ID", (b) => b.id],
  ["CREATED", (b) => when(b.created_at)],
  ["CATEGORY", (b) => b.category],
  ["TITLE", (b) => b.title],
  ["AUDIENCE", audienceOf],
  ["PROGRESS", (b) => `${b.recipients_done}/${b.recipients_total}`],
  ["MAILS", (b) => (b.email ? b.emails_queued : "-")],
  ["STATUS", (b) => b.status],
];

function audienceOf(b: Broadcast): string {
  if (b.user_ids) return `${b.user_ids.length} chosen users`;
  const parts = [
    b.roles ? `roles ${b.roles.join(",")}` : null,
    b.locales ? `locales ${b.locales.join(",")}` : null,
    b.signed_up_after ? `signed up from ${b.signed_up_after.slice(0, 10)}` : null,
    b.signed_up_before ? `signed up before ${b.signed_up_before.slice(0, 10)}` : null,
    b.plan_ids
      ? `subscribers of ${b.plan_ids.length} plan${b.plan_ids.length === 1 ? "" : "s"}`
      : null,
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
    ["e-mail", b.email ? `${b.emails_queued} queued` : "no"],
  ]);

const send = defineCommand({
  name: "notifications send",
  args: ["user"],
  synopsis: "<user> --title TEXT [--body TEXT] [--category KEY] [--url URL] [--by-email]",
  summary:
    "send an in-app notification to one user now, --by-email also as a mail if their preferences allow (audited)",
  input: z.object({ user: userReference, ...content }),
  async run({ client }, { user, title, body, category, url, "by-email": email }) {
    const account = await findAccount(client, user);
    const sent = unwrap(
      await client.rpc("send_notification", {
        user_ids: [account.id],
        title,
        body,
        category,
        action_url: url,
        email,
      }),
      `sending to ${user}`,
    );
    return { data: sent, text: () => summary(sent) };
  },
});

const broadcast = defineCommand({
  name: "notifications broadcast",
  synopsis:
    "--title TEXT [--body TEXT] [--category KEY] [--url URL] [--role ROLE] [--locale LOCALE] [--signed-up-before DATE] [--signed-up-after DATE] [--plan SLUG[,SLUG]] [--by-email]",
  summary:
    "broadcast an in-app notification to everyone, or those matching the filters, --by-email also as a mail to those whose preferences allow it (audited)",
  input: z.object({
    ...content,
    role: roleName.optional(),
    locale: z.string().regex(/^[a-z]{2,3}(-[A-Z]{2})?$/, "must be a locale like en or pt-BR")
      .optional(),
    "signed-up-before": moment.optional(),
    "signed-up-after": moment.optional(),
    // Subscribers (trialing, active, past_due, unpaid, paused) of any of these plans.
    plan: z.string().regex(
      /^[a-z0-9][a-z0-9-]{1,62}(,[a-z0-9][a-z0-9-]{1,62})*$/,
      "must be plan slugs like pro or pro,team",
    )
      .optional(),
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
        email: input["by-email"],
        plans: input.plan ? input.plan.split(",") : undefined,
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

// ---------------------------------------------------------------------------------------
// E-mail templates.

const templateKey = z.string().regex(
  /^[a-z_]+(\.[a-z_]+)?$/,
  "must be a template key like bid.accepted",
);
const templateLocale = z.string().regex(
  /^[a-z]{2,3}(-[A-Z]{2})?$/,
  "must be a locale like en, ko or pt-BR",
);
/** --variables a,b,c (an empty value: none). */
const variableList = z.string().transform((text) =>
  text.split(",").map((name) => name.trim()).filter((name) => name !== "")
);

const templateColumns: Column<Template>[] = [
  ["KEY", (t) => t.key],
  ["LOCALE", (t) => t.locale],
  ["SUBJECT", (t) => t.subject],
  ["VARIABLES", (t) => t.variables],
  ["EVENTS", (t) => t.event_types],
  ["UPDATED", (t) => when(t.updated_at)],
];

const showTemplate = (t: Template) =>
  sections([
    [
      `${t.key}/${t.locale}`,
      fields([
        ["subject", t.subject],
        ["variables", t.variables],
        ["events", t.event_types],
        ["updated", when(t.updated_at)],
      ]),
    ],
    ["HTML:", t.html ?? ""],
    ["Text:", t.text_body ?? ""],
  ]);

const templatesList = defineCommand({
  name: "notifications templates list",
  synopsis: "[--key KEY] [--locale LOCALE]",
  summary: "the e-mail templates (of one key, one locale) with the events that use them",
  input: z.object({ key: templateKey.optional(), locale: templateLocale.optional() }),
  async run({ client }, { key, locale }) {
    const rows = unwrap(
      await client.rpc("list_email_templates", { key, locale }),
      "listing e-mail templates",
    );
    return { data: rows, text: () => table(rows, templateColumns, "no templates") };
  },
});

const templatesShow = defineCommand({
  name: "notifications templates show",
  args: ["key"],
  synopsis: "<key> [--locale LOCALE]",
  summary: "one e-mail template with its subject, HTML and text (default locale en)",
  input: z.object({ key: templateKey, locale: templateLocale.default("en") }),
  async run({ client }, { key, locale }) {
    const template = unwrap(
      await client.rpc("get_email_template", { key, locale }),
      `reading template ${key}/${locale}`,
    );
    return { data: template, text: () => showTemplate(template) };
  },
});

/** A body from --html/--text, or from the file --html-file/--text-file names. */
function bodyFrom(inline: string | undefined, file: string | undefined, flag: string) {
  if (inline !== undefined && file !== undefined) {
    throw new CommandError(`give --${flag} or --${flag}-file, not both`);
  }
  if (file === undefined) return inline;
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new CommandError(`reading --${flag}-file ${file}: ${(error as Error).message}`);
  }
}

const templatesUpsert = defineCommand({
  name: "notifications templates upsert",
  args: ["key"],
  synopsis:
    "<key> [--locale LOCALE] [--subject TEXT] [--html TEXT | --html-file PATH] [--text TEXT | --text-file PATH] [--variables a,b]",
  summary:
    "create an e-mail template (subject, HTML, text and variables needed) or change the parts given of an existing one (checked and audited)",
  input: z.object({
    key: templateKey,
    locale: templateLocale.default("en"),
    subject: z.string().min(1, "must not be empty").optional(),
    html: z.string().optional(),
    "html-file": z.string().optional(),
    text: z.string().optional(),
    "text-file": z.string().optional(),
    variables: variableList.optional(),
  }),
  async run({ client }, input) {
    const { key, locale, subject, variables } = input;
    const html = bodyFrom(input.html, input["html-file"], "html");
    const text = bodyFrom(input.text, input["text-file"], "text");
    const existing = await client.rpc("get_email_template", { key, locale });
    if (existing.error && existing.error.code !== "PT404") {
      unwrap(existing, `reading template ${key}/${locale}`);
    }
    let saved: Template;
    let created = false;
    if (existing.error) {
      const missing = [
        subject === undefined ? "--subject" : null,
        html === undefined ? "--html or --html-file" : null,
        text === undefined ? "--text or --text-file" : null,
        variables === undefined ? "--variables" : null,
      ].filter((part) => part !== null);
      if (missing.length > 0) {
        throw new CommandError(
          `template ${key}/${locale} does not exist: creating it needs ${missing.join(", ")}`,
        );
      }
      saved = unwrap(
        await client.rpc("create_email_template", {
          key,
          locale,
          subject: subject!,
          html: html!,
          text_body: text!,
          variables: variables!,
        }),
        `creating template ${key}/${locale}`,
      );
      created = true;
    } else {
      saved = unwrap(
        await client.rpc("update_email_template", {
          key,
          locale,
          subject,
          html,
          text_body: text,
          variables,
        }),
        `updating template ${key}/${locale}`,
      );
    }
    return {
      data: saved,
      text: () => `${created ? "created" : "updated"} ${key}/${locale}\n\n${showTemplate(saved)}`,
    };
  },
});

const templatesDelete = defineCommand({
  name: "notifications templates delete",
  args: ["key"],
  synopsis: "<key> --locale LOCALE",
  summary: "delete an e-mail template (en only when no other locale, event or queued mail uses it)",
  input: z.object({ key: templateKey, locale: templateLocale }),
  async run({ client }, { key, locale }) {
    const deleted = unwrap(
      await client.rpc("delete_email_template", { key, locale }),
      `deleting template ${key}/${locale}`,
    );
    return { data: deleted, text: () => `deleted ${key}/${locale}` };
  },
});

/** --payload '{"name": "value"}': a JSON object. */
const jsonObject = z.string().transform((text, context) => {
  try {
    const value = JSON.parse(text);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // reported below
  }
  context.addIssue({ code: "custom", message: "must be a JSON object" });
  return z.NEVER;
});

const previewAnswer = z.object({
  key: z.string(),
  locale: z.string(),
  subject: z.string(),
  text: z.string(),
  html: z.string(),
  missing: z.array(z.string()),
});

const templatesPreview = defineCommand({
  name: "notifications templates preview",
  args: ["key"],
  synopsis: "<key> [--locale LOCALE] [--payload JSON]",
  summary:
    "render an e-mail template against a sample payload as the sender would (nothing is sent)",
  input: z.object({
    key: templateKey,
    locale: templateLocale.default("en"),
    payload: jsonObject.default({}),
  }),
  async run({ client }, { key, locale, payload }) {
    const { data, error } = await client.functions.invoke("notifications-preview-template", {
      body: { key, locale, payload },
    });
    if (error) {
      throw new CommandError(
        `previewing ${key}/${locale} (notifications-preview-template): ${await reasonOf(error)}`,
      );
    }
    const answer = previewAnswer.parse(data);
    return {
      data: answer,
      text: () =>
        sections([
          [
            `${answer.key}/${answer.locale}`,
            fields([["subject", answer.subject], ["missing", answer.missing]]),
          ],
          ["Text:", answer.text],
          ["HTML:", answer.html],
        ]),
    };
  },
});

export const notificationCommands: Command[] = [
  send,
  broadcast,
  list,
  fanOut,
  templatesList,
  templatesShow,
  templatesUpsert,
  templatesDelete,
  templatesPreview,
];
