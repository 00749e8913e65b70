// Deleting an account (GDPR erasure): proof of the password, then the caller's files, then the
// auth user. The database's foreign keys take the rest: rows the user owns cascade away with
// auth.users, references to them from other people's rows are set null (see the migrations).
import { isAuthRetryableFetchError, type User } from "npm:@supabase/supabase-js@2.119.1";
import { z } from "npm:zod@4.6.7";
import { HttpError } from "../_shared/http/errors.ts";
import { orThrow } from "../_shared/platform/database-errors.ts";
import type { Client } from "../_shared/platform/supabase.ts";
import { removeFolder } from "../_shared/platform/storage.ts";

export const deleteRequestSchema = z.object({
  password: z.string().min(1),
  // Typed out by the user: a stray or replayed request without it deletes nothing.
  confirm: z.literal("DELETE", { error: 'confirm must be "DELETE"' }),
});

/** The buckets that keep files under <uid>/; deleting an account empties the user's folder. */
export const USER_BUCKETS = ["avatars", "account-exports"] as const;

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
 * Refuses to delete the platform's only admin, who would leave nobody able to grant roles.
 * Checked here, not by a trigger, because the cascade from auth.users must always be able to
 * remove user_roles rows. Two last admins deleting at the same instant could both pass.
 */
export async function assertNotLastAdmin(service: Client, userId: string): Promise<void> {
  const assignments = orThrow(
    await service
      .from("user_roles")
      .select("user_id, expires_at, roles!inner(name)")
      .eq("roles.name", "admin"),
  );
  const now = Date.now();
  const admins = new Set(
    assignments
      .filter((row) => row.expires_at === null || Date.parse(row.expires_at) > now)
      .map((row) => row.user_id),
  );
  if (admins.has(userId) && admins.size === 1) {
    throw new HttpError(
      "last_admin_protection",
      "You are the platform's only admin: make someone else admin before deleting your account",
    );
  }
}

/**
 * Deletes the account with the service role. Files go first: should a step fail, the account
 * is still there and the user can simply try again, as every step can be repeated.
 */
export async function deleteAccount(service: Client, user: User): Promise<void> {
  await assertNotLastAdmin(service, user.id);
  for (const bucket of USER_BUCKETS) await removeFolder(service, bucket, user.id);
  // Redemptions name the e-mail, not the user (no foreign key to cascade): keep the count of
  // uses and drop the address.
  if (user.email) {
    orThrow(
      await service.from("invite_redemptions").update({ email: "" }).eq("email", user.email),
    );
  }
  // Auth failing to delete the user it has just authenticated is the server's fault: a 500.
  const { error } = await service.auth.admin.deleteUser(user.id);
  if (error) throw error;
}
