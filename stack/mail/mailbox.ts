// The catcher's mailbox: caught mails in memory, newest first, at most `capacity` of them (the
// oldest dropped first, as Mailpit prunes beyond its --max, 500 by default), and Mailpit's
// search syntax over them (internal/storage/search.go in axllent/mailpit).

import type { CaughtMail } from "./message.ts";
import { cleanSearchText } from "./message.ts";

/** Mailpit's default --max: how many mails it keeps before pruning the oldest. */
export const MAILPIT_DEFAULT_CAPACITY = 500;

/**
 * Mailpit's ArgsParser: the query split on spaces outside double quotes, quotes removed, so
 * `subject:"Confirm your signup"` is one term.
 */
export function searchTerms(query: string): string[] {
  const terms: string[] = [];
  let current = "";
  let quoted = false;
  const flush = () => {
    const term = current.replaceAll('"', "").trim();
    if (term) terms.push(term);
    current = "";
  };
  for (const char of query) {
    if (char === '"') {
      quoted = !quoted;
      current += char;
    } else if (!quoted && char === " ") flush();
    else current += char;
  }
  flush();
  return terms;
}

type Predicate = (mail: CaughtMail) => boolean;

/** Mailpit's SQL LIKE '%value%' over JSON or text: a case-insensitive substring. */
const contains = (haystack: string, needle: string) =>
  haystack.toLowerCase().includes(needle.toLowerCase());

/** Go's encoding/json form of an address list, which Mailpit's to:/from:/cc: terms match in. */
const addressJson = (value: unknown) => (value === null ? "{}" : JSON.stringify(value));

const listJson = (list: CaughtMail["to"]) => addressJson(list.length ? list : null);

/** Each term of Mailpit's search syntax as a predicate; every one must hold. */
export function searchPredicate(query: string): Predicate {
  const predicates: Predicate[] = [];
  for (let term of searchTerms(query)) {
    if (cleanSearchText(term) === "") continue;
    let exclude = false;
    if (term.length > 1 && (term.startsWith("-") || term.startsWith("!"))) {
      exclude = true;
      term = term.slice(1);
    }
    const lower = term.toLowerCase();
    const prefixed = (prefix: string, field: (mail: CaughtMail) => string, clean = true) => {
      if (!lower.startsWith(prefix)) return false;
      const value = clean ? cleanSearchText(term.slice(prefix.length)) : term.slice(prefix.length);
      if (value) predicates.push((mail) => contains(field(mail), value) !== exclude);
      return true;
    };
    if (
      prefixed("to:", (mail) => listJson(mail.to)) ||
      prefixed("from:", (mail) => addressJson(mail.from)) ||
      prefixed("cc:", (mail) => listJson(mail.cc)) ||
      prefixed("bcc:", (mail) => listJson(mail.bcc)) ||
      prefixed("reply-to:", (mail) => listJson(mail.replyTo)) ||
      prefixed(
        "addressed:",
        (mail) =>
          [mail.to, mail.cc, mail.bcc, mail.replyTo].map(listJson).join(" ") +
          addressJson(mail.from),
      ) ||
      prefixed("subject:", (mail) => mail.subject, false) ||
      prefixed("message-id:", (mail) => mail.messageId)
    ) continue;
    if (lower === "is:read" || lower === "is:unread") {
      const read = lower === "is:read";
      predicates.push((mail) => (mail.read === read) !== exclude);
    } else if (lower === "has:attachment" || lower === "has:attachments") {
      predicates.push((mail) => (mail.attachmentCount > 0) !== exclude);
    } else if (lower === "has:inline" || lower === "has:inlines") {
      predicates.push((mail) => (mail.inline.length > 0) !== exclude);
    } else {
      const words = cleanSearchText(lower);
      predicates.push((mail) => mail.searchText.includes(words) !== exclude);
    }
  }
  return (mail) => predicates.every((predicate) => predicate(mail));
}

export class Mailbox {
  /** Newest first. */
  private mails: CaughtMail[] = [];

  constructor(readonly capacity = MAILPIT_DEFAULT_CAPACITY) {}

  add(mail: CaughtMail): void {
    this.mails.unshift(mail);
    if (this.mails.length > this.capacity) this.mails.length = this.capacity;
  }

  all(): readonly CaughtMail[] {
    return this.mails;
  }

  search(query: string): CaughtMail[] {
    return this.mails.filter(searchPredicate(query));
  }

  get(id: string): CaughtMail | undefined {
    return this.mails.find((mail) => mail.id === id);
  }

  get unread(): number {
    return this.mails.filter((mail) => !mail.read).length;
  }

  delete(ids: Iterable<string>): void {
    const doomed = new Set(ids);
    this.mails = this.mails.filter((mail) => !doomed.has(mail.id));
  }

  clear(): void {
    this.mails = [];
  }
}
