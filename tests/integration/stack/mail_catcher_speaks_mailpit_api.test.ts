// The mail catcher answers as Mailpit (what `supabase start` runs) does: mail sent over SMTP
// (nodemailer) is read back through Mailpit's API v1 with its JSON shapes, paging, search
// syntax, read marks, deletes and plain-text errors. Every assertion but the web page's holds
// for Mailpit itself too; the page is the local stand-in's own, so it is checked only there.
// The file empties the mailbox first (files run one at a time) so counts are its own.

import { createHash } from "node:crypto";
import nodemailer, { type SendMailOptions } from "nodemailer";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  clearMailbox,
  codeIn,
  deleteMailTo,
  linksIn,
  type MailList,
  mailpitUrl,
  messageOf,
  searchMail,
  smtpTarget,
  waitForMail,
} from "../support/mail.ts";

const base = mailpitUrl();
const transport = nodemailer.createTransport({ ...smtpTarget(), secure: false });
const run = crypto.randomUUID().slice(0, 8);
const address = (who: string) => `${who}-${run}@mail-test.local`;

// Mailpit's MessageSummary and Message fields (internal/storage/structs.go), in its order.
const SUMMARY_FIELDS = [
  "ID",
  "MessageID",
  "Read",
  "From",
  "To",
  "Cc",
  "Bcc",
  "ReplyTo",
  "Subject",
  "Created",
  "Username",
  "Tags",
  "Size",
  "Attachments",
  "Snippet",
];
const MESSAGE_FIELDS = [
  "ID",
  "MessageID",
  "From",
  "To",
  "Cc",
  "Bcc",
  "ReplyTo",
  "ReturnPath",
  "Subject",
  "ListUnsubscribe",
  "Date",
  "Tags",
  "Username",
  "Text",
  "HTML",
  "Size",
  "Inline",
  "Attachments",
];
const LIST_FIELDS = [
  "total",
  "unread",
  "count",
  "messages_count",
  "messages_unread",
  "start",
  "tags",
  "messages",
];

function get(path: string): Promise<Response> {
  return fetch(`${base}${path}`);
}

async function list(query = ""): Promise<MailList> {
  const response = await get(`/api/v1/messages${query}`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  return response.json();
}

async function send(mail: SendMailOptions): Promise<void> {
  await transport.sendMail({ from: `"Mail Test" <${address("sender")}>`, ...mail });
}

/** Waits until the mailbox holds `count` mails (SMTP answers before the catcher lists them). */
async function mailboxHolds(count: number): Promise<MailList> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await list();
    if (answer.total >= count || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const homePage = await (await fetch(`${base}/`)).text();
const isStandIn = homePage.includes('content="marketplace local stack: Mailpit stand-in"');

beforeAll(async () => {
  await clearMailbox();
});

afterAll(async () => {
  transport.close();
  await clearMailbox();
});

describe("the mail catcher speaks Mailpit's API", () => {
  const ids: Record<string, string> = {};

  test("the list is newest first, Mailpit's summary shape, with start and limit paging", async () => {
    for (const n of [1, 2, 3]) {
      await send({ to: address("list"), subject: `List ${n} ${run}`, text: `Mail number ${n}` });
      await mailboxHolds(n);
    }
    const all = await list();
    expect(Object.keys(all)).toEqual(LIST_FIELDS);
    expect(all).toMatchObject({
      total: 3,
      unread: 3,
      count: 3,
      messages_count: 3,
      messages_unread: 3,
      start: 0,
      tags: [],
    });
    expect(all.messages.map((m) => m.Subject)).toEqual([3, 2, 1].map((n) => `List ${n} ${run}`));
    const created = all.messages.map((m) => Date.parse(m.Created));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    const newest = all.messages[0];
    expect(Object.keys(newest)).toEqual(SUMMARY_FIELDS);
    expect(newest).toMatchObject({
      Read: false,
      From: { Name: "Mail Test", Address: address("sender") },
      To: [{ Name: "", Address: address("list") }],
      Cc: null,
      Bcc: null,
      ReplyTo: [],
      Tags: [],
      Attachments: 0,
      Snippet: "Mail number 3",
    });
    expect(newest.ID).toMatch(/^[A-Za-z0-9]{22}$/);
    expect(newest.Size).toBeGreaterThan(100);
    expect(newest.Created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    ids.list = newest.ID;

    const second = await list("?start=1&limit=1");
    expect(second).toMatchObject({ total: 3, count: 1, messages_count: 3, start: 1 });
    expect(second.messages.map((m) => m.Subject)).toEqual([`List 2 ${run}`]);
    const beyond = await list("?start=5&limit=2");
    expect(beyond).toMatchObject({ total: 3, count: 0, start: 5, messages: [] });
  });

  test("one message: From, To, Cc, ReplyTo, Text, HTML, Date, ReturnPath; reading it marks it read", async () => {
    const html =
      `<p>Hello <b>Ada</b>, confirm: <a href="https://app.local/confirm?token=abc&amp;type=signup">Confirm</a></p>` +
      `<p>Your code is 482913.</p>`;
    await send({
      to: `"Ada Lovelace" <${address("ada")}>`,
      cc: address("cc"),
      replyTo: address("reply"),
      subject: `Confirm your signup ${run}`,
      text: "Hello Ada, your code is 482913.",
      html,
      date: new Date("2026-11-30T10:00:00Z"),
      messageId: `<confirm-${run}@mail-test.local>`,
    });
    const found = await waitForMail({ to: address("ada"), subject: "Confirm your signup" });
    expect(Object.keys(found)).toEqual(MESSAGE_FIELDS);
    expect(found).toMatchObject({
      MessageID: `confirm-${run}@mail-test.local`,
      From: { Name: "Mail Test", Address: address("sender") },
      To: [{ Name: "Ada Lovelace", Address: address("ada") }],
      Cc: [{ Name: "", Address: address("cc") }],
      Bcc: [],
      ReplyTo: [{ Name: "", Address: address("reply") }],
      ReturnPath: address("sender"),
      Subject: `Confirm your signup ${run}`,
      Date: "2026-11-30T10:00:00Z",
      Tags: [],
      HTML: html,
      Inline: [],
      Attachments: [],
      ListUnsubscribe: { Header: "", Links: [], Errors: "", HeaderPost: "" },
    });
    expect(found.Text.trim()).toBe("Hello Ada, your code is 482913.");
    expect(linksIn(found)).toEqual(["https://app.local/confirm?token=abc&type=signup"]);
    expect(codeIn(found)).toBe("482913");
    ids.confirm = found.ID;

    const summary = (await list()).messages.find((m) => m.ID === found.ID)!;
    expect(summary.Read).toBe(true);
    // Mailpit's snippet: the HTML's text, block ends as spaces, inline tags gone.
    expect(summary.Snippet).toBe("Hello Ada, confirm: Confirm Your code is 482913.");
  });

  test("headers: each header's values under its canonical name; raw: the source as received", async () => {
    const headers = await get(`/api/v1/message/${ids.confirm}/headers`);
    expect(headers.status).toBe(200);
    const byName = await headers.json();
    expect(Object.keys(byName)).toEqual([...Object.keys(byName)].sort());
    expect(byName.Subject).toEqual([`Confirm your signup ${run}`]);
    expect(byName["Message-Id"]).toEqual([`<confirm-${run}@mail-test.local>`]);
    expect(byName["Return-Path"]).toEqual([`<${address("sender")}>`]);
    expect(byName.Received).toHaveLength(1);
    for (const values of Object.values(byName)) expect(Array.isArray(values)).toBe(true);

    const raw = await get(`/api/v1/message/${ids.confirm}/raw`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const source = await raw.text();
    expect(source).toMatch(new RegExp(`^Subject: Confirm your signup ${run}\\r?$`, "m"));
    expect(source).toContain("Hello Ada, your code is 482913.");
  });

  test("latest is the newest message, for the message, its headers and its source", async () => {
    const newest = (await list()).messages[0];
    const latest = await (await get("/api/v1/message/latest")).json();
    expect(latest).toEqual(await messageOf(newest.ID));
    expect((await (await get("/api/v1/message/latest/headers")).json()).Subject).toEqual([
      newest.Subject,
    ]);
    expect(await (await get("/api/v1/message/latest/raw")).text()).toContain(newest.Subject);
  });

  test("a To with several recipients lists each, and each finds the mail", async () => {
    await send({
      to: [`"First One" <${address("one")}>`, address("two"), `Third <${address("three")}>`],
      subject: `Team update ${run}`,
      text: "For all three of you.",
    });
    const found = await waitForMail({ to: address("two"), subject: "Team update" });
    expect(found.To).toEqual([
      { Name: "First One", Address: address("one") },
      { Name: "", Address: address("two") },
      { Name: "Third", Address: address("three") },
    ]);
    for (const who of ["one", "three"]) {
      expect((await searchMail(`to:${address(who)}`)).messages.map((m) => m.ID)).toEqual([
        found.ID,
      ]);
    }
  });

  test("an envelope recipient the headers do not name is added to Bcc", async () => {
    await send({
      to: address("visible"),
      bcc: address("hidden"),
      subject: `Blind ${run}`,
      text: ".",
    });
    const found = await waitForMail({ to: address("visible"), subject: "Blind" });
    expect(found.Bcc).toEqual([{ Name: "", Address: address("hidden") }]);
    expect((await searchMail(`bcc:${address("hidden")}`)).messages.map((m) => m.ID)).toEqual([
      found.ID,
    ]);
  });

  test("an attachment is listed in Attachments, counted in the summary and downloadable", async () => {
    await send({
      to: address("files"),
      subject: `Your export ${run}`,
      text: "Attached.",
      attachments: [{
        filename: "export.json",
        content: '{"ok":true}',
        contentType: "application/json",
      }],
    });
    const found = await waitForMail({ to: address("files"), subject: "Your export" });
    expect(found.Attachments).toHaveLength(1);
    const [attachment] = found.Attachments;
    expect(attachment).toMatchObject({
      FileName: "export.json",
      ContentType: "application/json",
      ContentID: "",
      Size: 11,
    });
    expect(Object.keys(attachment)).toEqual([
      "PartID",
      "FileName",
      "ContentType",
      "ContentID",
      "Size",
      "Checksums",
    ]);
    const digest = (algorithm: string) => createHash(algorithm).update('{"ok":true}').digest("hex");
    expect(attachment.Checksums).toEqual({
      MD5: digest("md5"),
      SHA1: digest("sha1"),
      SHA256: digest("sha256"),
    });
    const summary = (await searchMail(`to:${address("files")}`)).messages[0];
    expect(summary.Attachments).toBe(1);
    expect((await searchMail(`has:attachment to:${address("files")}`)).messages_count).toBe(1);
    const part = await get(`/api/v1/message/${found.ID}/part/${attachment.PartID}`);
    expect(part.status).toBe(200);
    expect(part.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await part.text()).toBe('{"ok":true}');
  });

  test("search: to:, from:, subject: with a quoted phrase, plain words, negation; the list's shape", async () => {
    const bySubject = await searchMail(`subject:"Confirm your signup ${run}"`);
    expect(Object.keys(bySubject)).toEqual(LIST_FIELDS);
    expect(bySubject).toMatchObject({ messages_count: 1, count: 1, start: 0, tags: [] });
    expect(bySubject.total).toBeGreaterThan(bySubject.messages_count);
    expect(bySubject.messages[0].ID).toBe(ids.confirm);
    expect(Object.keys(bySubject.messages[0])).toEqual(SUMMARY_FIELDS);

    expect((await searchMail(`to:${address("list")}`)).messages.map((m) => m.Subject)).toEqual(
      [3, 2, 1].map((n) => `List ${n} ${run}`),
    );
    expect((await searchMail(`from:${address("sender")}`)).messages_count).toBe(
      (await list()).total,
    );
    expect((await searchMail(`from:nobody-${run}@mail-test.local`)).messages).toEqual([]);
    // Plain words match the headers and the body's text; quotes keep a phrase together.
    expect((await searchMail(`"all three of you" ${run}`)).messages.map((m) => m.Subject))
      .toEqual([`Team update ${run}`]);
    expect(
      (await searchMail(`to:${address("list")} -subject:"List 2"`)).messages.map((m) => m.Subject),
    ).toEqual([`List 3 ${run}`, `List 1 ${run}`]);
    const paged = await searchMail(`to:${address("list")}`, 1);
    expect(paged).toMatchObject({ messages_count: 3, count: 1 });

    const noQuery = await get("/api/v1/search");
    expect(noQuery.status).toBe(400);
    expect(await noQuery.text()).toBe("Error: no search query");
  });

  test("an unknown ID is Mailpit's plain-text 404", async () => {
    for (const path of ["", "/headers", "/raw"]) {
      const response = await get(`/api/v1/message/NoSuchMessage${run}${path}`);
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await response.text()).toBe("404 page not found");
    }
  });

  test.runIf(isStandIn)("the web page lists each mail's subject and shows one safely", async () => {
    const page = await (await get("/")).text();
    expect(page).toContain(`Confirm your signup ${run}`);
    expect(page).toContain(`Team update ${run}`);
    expect(page.indexOf(`List 3 ${run}`)).toBeLessThan(page.indexOf(`List 1 ${run}`));
    expect(page).toContain(`view/${ids.confirm}`);
    const view = await get(`/view/${ids.confirm}`);
    expect(view.status).toBe(200);
    const body = await view.text();
    expect(body).toContain(`Confirm your signup ${run}`);
    expect(body).toContain('<iframe sandbox=""');
    expect(body).not.toContain('<a href="https://app.local/confirm'); // only escaped, in srcdoc
    expect(body).toContain("https://app.local/confirm?token=abc&amp;amp;type=signup");
  });

  test("delete by IDs, by search and all; latest of an empty mailbox is 404", async () => {
    const before = await list();
    const deleted = await fetch(`${base}/api/v1/messages`, {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ IDs: [ids.list] }),
    });
    expect(deleted.status).toBe(200);
    expect(await deleted.text()).toBe("ok");
    expect((await get(`/api/v1/message/${ids.list}`)).status).toBe(404);
    expect((await list()).total).toBe(before.total - 1);

    await deleteMailTo(address("list"));
    expect((await searchMail(`to:${address("list")}`)).messages_count).toBe(0);
    expect((await list()).total).toBe(before.total - 3);

    const all = await fetch(`${base}/api/v1/messages`, { method: "DELETE" });
    expect(await all.text()).toBe("ok");
    expect(await list()).toMatchObject({ total: 0, unread: 0, count: 0, messages: [] });
    const latest = await get("/api/v1/message/latest");
    expect(latest.status).toBe(404);
    expect(await latest.text()).toBe("Message not found");
  });
});
