// Fakes for the payments logic: a database answering RPCs by name and a Stripe recording
// every call (method, params, idempotency key) and answering with Stripe-shaped objects.
// No network: the logic modules take both as parameters.
import type Stripe from "npm:stripe@23.1.0";
import { errorResponse } from "../../../functions/_shared/http/errors.ts";
import type { StripeApi } from "../../../functions/_shared/payments/stripe.ts";
import type { DatabaseResult } from "../../../functions/_shared/platform/database-errors.ts";
import type { Db, RpcArgs, RpcName, RpcResult } from "../../../functions/_shared/platform/rpc.ts";

export interface RpcCall {
  fn: string;
  args: Record<string, unknown>;
}

type RpcAnswer = unknown | { error: { code: string; message: string } };

/**
 * A database whose RPCs answer from `answers` (a value, an error, or a function of the args),
 * by function name. The answers are the test's to get right: the functions under test read
 * jsonb answers with their zod schemas, as they read the real ones.
 */
export function fakeDb(
  answers: Partial<
    Record<RpcName, RpcAnswer | ((args: Record<string, unknown>) => RpcAnswer)>
  >,
) {
  const calls: RpcCall[] = [];
  /** The schema each function was called in (public, or ops through .schema("ops")). */
  const schemas: Record<string, string> = {};
  const db: Db = {
    rpc<F extends RpcName>(fn: F, rpcArgs: RpcArgs<F>) {
      schemas[fn] = "public";
      return answer(fn, rpcArgs);
    },
    schema(name: "ops") {
      return {
        rpc<F extends RpcName>(fn: F, rpcArgs: RpcArgs<F>) {
          schemas[fn] = name;
          return answer(fn, rpcArgs);
        },
      };
    },
  };
  function answer<F extends RpcName>(fn: F, rpcArgs: RpcArgs<F>) {
    // As supabase-js sends them (JSON): an argument left undefined is not sent at all, so
    // the SQL function uses its default.
    const args: Record<string, unknown> = JSON.parse(JSON.stringify(rpcArgs));
    calls.push({ fn, args });
    type Result = DatabaseResult<RpcResult<F>>;
    if (!(fn in answers)) {
      return Promise.resolve<Result>({
        data: null,
        error: { code: "42883", message: `function ${fn} is not faked` },
      });
    }
    const raw = answers[fn];
    const answer = typeof raw === "function"
      ? (raw as (a: Record<string, unknown>) => RpcAnswer)(args)
      : raw;
    if (answer && typeof answer === "object" && "error" in answer) {
      return Promise.resolve<Result>({
        data: null,
        error: (answer as { error: { code: string; message: string } }).error,
      });
    }
    return Promise.resolve<Result>({ data: answer as RpcResult<F>, error: null });
  }
  return { db, calls, schemas };
}

/** The HTTP status the logic's outcome would be answered with: 200, or its error's. */
export async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    return errorResponse(err).status;
  }
}

export function dbError(code: string, message: string) {
  return { error: { code, message } };
}

export interface StripeCall {
  method: string;
  params: unknown;
  idempotencyKey?: string;
}

/** An error shaped as the SDK's (type StripeInvalidRequestError, statusCode 400, ...). */
export function stripeError(type: string, statusCode: number | undefined, message: string): Error {
  return Object.assign(new Error(message), { type, statusCode, code: "test_error" });
}

/** What the fake Stripe already holds, for the calls that read: charges by id, transfers. */
export interface StripeObjects {
  charges?: Record<string, { amount_captured: number; amount_refunded: number }>;
  transfers?: { id: string; transfer_group: string; amount: number; amount_reversed: number }[];
}

export function fakeStripe(failures: Record<string, Error> = {}, objects: StripeObjects = {}) {
  const calls: StripeCall[] = [];
  let n = 0;
  const record = <T>(
    method: string,
    params: unknown,
    options: Stripe.RequestOptions | undefined,
    make: () => T,
  ) => {
    calls.push({ method, params, idempotencyKey: options?.idempotencyKey });
    if (failures[method]) return Promise.reject(failures[method]);
    return Promise.resolve(make());
  };
  const next = (prefix: string) => `${prefix}_test${++n}`;
  const stripe: StripeApi = {
    accounts: {
      create: (params, options) =>
        record("accounts.create", params, options, () =>
          ({
            id: "acct_1Qnew",
            object: "account",
            type: "express",
            charges_enabled: false,
            payouts_enabled: false,
            details_submitted: false,
            capabilities: { transfers: "inactive" },
            requirements: { currently_due: ["external_account"] },
          }) as unknown as Stripe.Account),
    },
    accountLinks: {
      create: (params, options) =>
        record("accountLinks.create", params, options, () =>
          ({
            object: "account_link",
            url: `https://connect.stripe.com/setup/e/${params.account}/link`,
            created: 1763726400,
            expires_at: 1763726700,
          }) as Stripe.AccountLink),
    },
    checkout: {
      sessions: {
        create: (params, options) =>
          record("checkout.sessions.create", params, options, () => {
            const id = next("cs");
            return {
              id,
              object: "checkout.session",
              url: `https://checkout.stripe.com/c/pay/${id}`,
              expires_at: 1763812800,
              payment_intent: null,
              amount_total: params.line_items?.[0]?.price_data?.unit_amount ?? null,
            } as unknown as Stripe.Checkout.Session;
          }),
        expire: (id, params, options) =>
          record(
            "checkout.sessions.expire",
            { id, ...params },
            options,
            () =>
              ({
                id,
                object: "checkout.session",
                status: "expired",
              }) as unknown as Stripe.Checkout.Session,
          ),
      },
    },
    paymentIntents: {
      create: (params, options) =>
        record("paymentIntents.create", params, options, () => {
          const id = next("pi");
          return {
            id,
            object: "payment_intent",
            amount: params.amount,
            client_secret: `${id}_secret_x`,
          } as Stripe.PaymentIntent;
        }),
      retrieve: (id, params, options) =>
        record("paymentIntents.retrieve", { id, ...params }, options, () =>
          ({
            id,
            object: "payment_intent",
            client_secret: `${id}_secret_x`,
            latest_charge: "ch_latest",
          }) as Stripe.PaymentIntent),
    },
    charges: {
      retrieve: (id, params, options) => {
        const charge = objects.charges?.[id];
        if (!charge) {
          calls.push({ method: "charges.retrieve", params: { id, ...params } });
          return Promise.reject(
            stripeError("StripeInvalidRequestError", 404, `No such charge: '${id}'`),
          );
        }
        return record(
          "charges.retrieve",
          { id, ...params },
          options,
          () => ({ id, object: "charge", ...charge }) as Stripe.Charge,
        );
      },
    },
    transfers: {
      // Stripe's list: newest first, `limit` a page, `starting_after` the last id seen.
      list: (params, options) =>
        record("transfers.list", params, options, () => {
          const group = (objects.transfers ?? [])
            .filter((t) => !params?.transfer_group || t.transfer_group === params.transfer_group);
          const from = params?.starting_after
            ? group.findIndex((t) => t.id === params.starting_after) + 1
            : 0;
          const limit = params?.limit ?? 10;
          const data = group.slice(from, from + limit)
            .map((t) => ({ object: "transfer", ...t }) as Stripe.Transfer);
          return {
            object: "list",
            url: "/v1/transfers",
            has_more: from + limit < group.length,
            data,
          } as Stripe.ApiList<Stripe.Transfer>;
        }),
      create: (params, options) =>
        record(
          "transfers.create",
          params,
          options,
          () =>
            ({
              id: next("tr"),
              object: "transfer",
              amount: params.amount,
              currency: params.currency,
            }) as Stripe.Transfer,
        ),
      createReversal: (id, params, options) =>
        record(
          "transfers.createReversal",
          { id, ...params },
          options,
          () =>
            ({
              id: next("trr"),
              object: "transfer_reversal",
              amount: params?.amount,
              transfer: id,
            }) as Stripe.TransferReversal,
        ),
    },
    refunds: {
      create: (params, options) =>
        record(
          "refunds.create",
          params,
          options,
          () =>
            ({
              id: next("re"),
              object: "refund",
              amount: params.amount,
              status: "succeeded",
            }) as Stripe.Refund,
        ),
    },
    balanceTransactions: {
      retrieve: (id, params, options) =>
        record(
          "balanceTransactions.retrieve",
          { id, ...params },
          options,
          () =>
            ({
              id,
              object: "balance_transaction",
              fee: 291,
              currency: "eur",
            }) as Stripe.BalanceTransaction,
        ),
    },
  };
  return { stripe, calls };
}
