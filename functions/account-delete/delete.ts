// Deleting an account (GDPR erasure): proof of the password, then what the personal-data and
// bucket registries say goes (ops.erase_account, the user's folders), then the auth user. The
// database's foreign keys take the rest: rows the user owns cascade away with auth.users,
// references to them from other people's rows are set null, as the registry records.
import { isAuthRetryableFetchError, type User } from "npm:@supabase/supabase-js@2.119.1";
import { z } from "npm:zod@4.6.7";
import { HttpError } from "../_shared/http/errors.ts";
import { call } from "../_shared/platform/rpc.ts";
import type { Client } from "../_shared/platform/supabase.ts";
import { removeFolder } from "../_shared/platform/storage.ts";

export const deleteRequestSchema = z.object({
  password: z.string().min(1),
  // Typed out by the user: a stray or replayed request without it deletes nothing.
  confirm: z.literal("DELETE", { error: 'confirm must be "DELETE"' }),
});

function reauthenticationFailed(message: string): HttpError {
  return new HttpError("reauthentication_failed", message);
}

/**
 * Signs in with the caller's e-mail and the given password on a client of its own. A stolen
 * access token alone must not be enough to delete an account.
 */
export async function reauthenticate(
  anon: Client,
  user: User,
  password: string,
): Promise<void> {
  if (!user.email) {
    throw reauthenticationFailed("This account has no e-mail address to confirm a password for");
  }
  const { data, error } = await anon.auth.signInWithPassword({ email: user.email, password });
  if (error) {
    // Auth being unreachable or failing is the server's fault: a 500, not a wrong password.
    if (isAuthRetryableFetchError(error) || !error.status || error.status >= 500) throw error;
    if (error.status === 429) {
      throw new HttpError("rate_limited", "Too many sign-in attempts; try again later");
    }
    throw reauthenticationFailed("The password is not correct");
  }
  if (data.user.id !== user.id) throw reauthenticationFailed("The password is not correct");
  // The sign-in was only a proof: end the session it opened. Should that fail, it is a session
  // nobody holds, which expires, or goes with the user.
  await anon.auth.signOut({ scope: "local" });
}

/**
 * Deletes the account with the service role, in an order that can always be repeated: the
 * database's half first (ops.erase_account refuses the platform's only admin, anonymises what
 * no foreign key covers and names the folders to empty, from the registries in
 * supabase/schemas/00_platform/70_registries.sql), then those folders in Storage, then the
 * auth user, whose deletion cascades or nulls every other registered row. Should a step fail,
 * the account is still there and the user can simply try again.
 */
export async function deleteAccount(service: Client, user: User): Promise<void> {
  const folders = await call(service, "erase_account", { user_id: user.id }, {
    "42501": "last_admin_protection",
  });
  for (const { bucket_id, prefix } of folders) {
    await removeFolder(service, bucket_id, prefix.replace(/\/$/, ""));
  }
  // Auth failing to delete the user it has just authenticated is the server's fault: a 500.
  const { error } = await service.auth.admin.deleteUser(user.id);
  if (error) throw error;
}
