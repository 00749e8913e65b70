// The one way functions call the database's functions (RPCs): by name, with the arguments and
// result types/database.ts gives them, and a refusal turned into the project's error format by
// orThrow. Every RPC goes through call() (or callJson()), so where they are called (a schema,
// a client) is decided here.
import { z } from "npm:zod@4.6.7";
import type { Database, Json } from "../../../types/database.ts";
import { type DatabaseResult, orThrow, type SqlStateCodes } from "./database-errors.ts";

type PublicFunctions = Database["public"]["Functions"];
type OpsFunctions = Database["ops"]["Functions"];
type Functions = PublicFunctions & OpsFunctions;

/** Client RPCs, in `public`: what a signed-in user may call under auth.uid(). */
export type PublicRpcName = keyof PublicFunctions & string;
/** Service-only RPCs, in `ops`: exposed through the API, usable by the service role alone. */
export type OpsRpcName = keyof OpsFunctions & string;
export type RpcName = PublicRpcName | OpsRpcName;

/**
 * Which RPCs live in `ops`, checked against the generated types: a name that is missing here,
 * or that is not in Database["ops"], fails deno check.
 */
const opsRpcs: Record<OpsRpcName, true> = {
  abandon_refund: true,
  abandon_release: true,
  abandon_shop_refund: true,
  abandon_shop_transfer: true,
  accept_bid: true,
  admin_edit_user: true,
  apply_billing_event: true,
  billing_change_target: true,
  billing_customer_of: true,
  billing_plans_to_sync: true,
  billing_send_invoice: true,
  billing_subscribe_check: true,
  billing_subscription_for: true,
  begin_payment: true,
  begin_shop_payment: true,
  claim_refund: true,
  claim_email_deliveries: true,
  claim_release: true,
  claim_shop_late_refund: true,
  claim_shop_refund: true,
  claim_shop_transfers: true,
  due_refunds: true,
  due_releases: true,
  due_shop_transfers: true,
  erase_account: true,
  fan_out_broadcasts: true,
  flush_email_digests: true,
  payments_reconciliation: true,
  process_stripe_event: true,
  publish_event: true,
  record_admin_action: true,
  record_billing_admin_action: true,
  record_billing_stripe_ids: true,
  record_email_delivery: true,
  record_impersonation: true,
  record_order_payment: true,
  record_payment_session: true,
  record_reconciliation_run: true,
  record_refund: true,
  record_requests: true,
  record_refund_reversal: true,
  record_release: true,
  record_shop_late_refund: true,
  record_shop_payment_session: true,
  record_shop_refund: true,
  record_shop_stripe_fee: true,
  record_shop_transfer: true,
  record_stripe_subscription_refund: true,
  record_subscription_refund: true,
  register_billing_customer: true,
  register_payment_account: true,
  resolve_dispute: true,
  run_scheduled_job: true,
  scheduled_jobs: true,
  seller_payment_account: true,
  shop_fee_due: true,
  shop_reconciliation: true,
  subscription_reconciliation: true,
  unsubscribe_email: true,
};

/** The schema an RPC lives in. */
export function rpcSchema(fn: RpcName): "public" | "ops" {
  return Object.hasOwn(opsRpcs, fn) ? "ops" : "public";
}

/**
 * The service-only RPCs for which acting_user null means the system acting by policy (the
 * scheduled release and refund of due escrows; see the functions' SQL comments). The type
 * generator gives every argument a non-null type: it cannot see that a function handles null.
 */
type SystemActingRpc = "claim_release" | "claim_refund";

export type RpcArgs<F extends RpcName> = F extends SystemActingRpc
  ? Omit<Functions[F]["Args"], "acting_user"> & { acting_user: string | null }
  : Functions[F]["Args"];

export type RpcResult<F extends RpcName> = Functions[F]["Returns"];

/**
 * The part of a Supabase client the logic uses: RPCs in `public`, and in `ops` through
 * .schema("ops") (any client of the project satisfies it; only the service role's may call ops).
 */
export interface Db {
  rpc<F extends PublicRpcName>(fn: F, args: RpcArgs<F>): PromiseLike<DatabaseResult<RpcResult<F>>>;
  // The result is typed unknown here: supabase-js's rpc result type for a generic name in a
  // small schema does not reduce. call() types it from the generated types.
  schema(name: "ops"): {
    rpc<F extends OpsRpcName>(
      fn: F,
      args: OpsFunctions[F]["Args"],
    ): PromiseLike<DatabaseResult<unknown>>;
  };
}

/**
 * Calls a database function in its schema; its result, or its refusal as the right 4xx (see
 * orThrow).
 */
export async function call<F extends RpcName>(
  db: Db,
  fn: F,
  args: RpcArgs<F>,
  overrides?: SqlStateCodes,
): Promise<RpcResult<F>> {
  const result = rpcSchema(fn) === "ops"
    ? await db.schema("ops").rpc(fn as OpsRpcName, args as RpcArgs<OpsRpcName>)
    : await db.rpc(fn as PublicRpcName, args as RpcArgs<PublicRpcName>);
  return orThrow(result as DatabaseResult<RpcResult<F>>, overrides);
}

/**
 * Calls a database function that answers jsonb (typed Json: the generator cannot see inside)
 * and reads the answer with `schema`. An answer
 * that does not match is the server's bug, a 500 (never a ZodError, which would be a 400).
 */
export async function callJson<F extends RpcName, Schema extends z.ZodType>(
  db: Db,
  fn: F,
  args: RpcArgs<F>,
  schema: Schema,
): Promise<z.infer<Schema>> {
  const parsed = schema.safeParse(await call(db, fn, args));
  if (!parsed.success) {
    throw new Error(`${fn} answered in an unexpected shape: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/**
 * A value as the JSON supabase-js sends for a jsonb argument (it JSON.stringify's the
 * arguments): for an SDK object, such as a Stripe event's or account's, whose type is not Json.
 */
export function asJson(value: object): Json {
  return JSON.parse(JSON.stringify(value));
}
