// invites create | list | revoke

import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Database } from "../../types/database.ts";
import { type Command, defineCommand, futureTime, wholeNumber } from "./command.ts";
import { CommandError, unwrap } from "./errors.ts";
import { table, when } from "./output.ts";

type Invite = Database["public"]["Tables"]["invite_codes"]["Row"];

// 16 random bytes: 128 bits as 32 hex characters, within invite_codes_code_format. Not
// base64url: a code starting with "-" would be read as an option when pasted back in.
const newInviteCode = () => randomBytes(16).toString("hex");

function inviteState(invite: Invite): string {
  if (invite.revoked_at) return "revoked";
  if (invite.expires_at && Date.parse(invite.expires_at) <= Date.now()) return "expired";
  return invite.use_count >= invite.max_uses ? "used up" : "open";
}

const create = defineCommand({
  name: "invites create",
  synopsis: "[--uses N] [--expires YYYY-MM-DD|ISO] [--note TEXT]",
  summary: "make a new invite code and print it",
  input: z.object({
    uses: wholeNumber(1, 100000).default(1),
    expires: futureTime.optional(),
    note: z.string().max(500).default(""),
  }),
  async run({ client }, { uses, expires, note }) {
    const invite = unwrap(
      await client
        .from("invite_codes")
        .insert({ code: newInviteCode(), max_uses: uses, expires_at: expires ?? null, note })
        .select()
        .single(),
      "creating the invite",
    );
    return { data: invite, text: () => invite.code };
  },
});

const list = defineCommand({
  name: "invites list",
  summary: "invite codes, newest first, with their uses and state",
  input: z.object({}),
  async run({ client }) {
    const rows = unwrap(
      await client.from("invite_codes").select("*").order("created_at", { ascending: false }),
      "reading invites",
    );
    const invites = rows.map((invite) => ({ ...invite, state: inviteState(invite) }));
    return {
      data: invites,
      text: () =>
        table(invites, [
          ["CODE", (i) => i.code],
          ["STATE", (i) => i.state],
          ["USES", (i) => `${i.use_count}/${i.max_uses}`],
          ["EXPIRES", (i) => (i.expires_at ? when(i.expires_at) : "never")],
          ["CREATED", (i) => when(i.created_at)],
          ["NOTE", (i) => i.note],
        ], "no invites"),
    };
  },
});

const revoke = defineCommand({
  name: "invites revoke",
  args: ["code"],
  summary: "stop an invite code from being used",
  input: z.object({ code: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "is not an invite code") }),
  async run({ client }, { code }) {
    const revoked = unwrap(
      await client
        .from("invite_codes")
        .update({ revoked_at: new Date().toISOString() })
        .eq("code", code)
        .is("revoked_at", null)
        .select()
        .maybeSingle(),
      "revoking the invite",
    );
    if (!revoked) {
      const existing = unwrap(
        await client.from("invite_codes").select("revoked_at").eq("code", code).maybeSingle(),
        "reading the invite",
      );
      if (!existing) throw new CommandError(`no invite code ${code}`);
      throw new CommandError(`invite ${code} was already revoked at ${when(existing.revoked_at)}`);
    }
    return { data: revoked, text: () => `invite ${code} revoked` };
  },
});

export const inviteCommands: Command[] = [create, list, revoke];
