// The one way functions call the database's functions (RPCs): by name, with the arguments and
// result the generated types give them, and a refusal turned into the project's error format
// by orThrow. Service-only functions take acting_user and raise precise SQLSTATEs.
import { type DatabaseError, orThrow } from "./database-errors.ts";

/** The part of a Supabase client the logic uses: RPCs (a service-role client satisfies it). */
export interface Db {
  rpc(
    fn: string,
    args: Record<string, unknown>,
  ): PromiseLike<{ data: unknown; error: DatabaseError | null }>;
}

export async function call<T>(db: Db, fn: string, args: Record<string, unknown>): Promise<T> {
  return orThrow(await db.rpc(fn, args) as { data: T | null; error: DatabaseError | null });
}
