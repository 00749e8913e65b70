// The stand-in's money movements, shared by the API routes and the simulation routes: what
// happens to payment intents, charges, balance transactions, refunds, transfers and disputes,
// and which events Stripe sends when it does. Amounts are enforced as Stripe enforces them:
// a refund at most what is left unrefunded, a transfer from a charge at most what is left of
// it (after refunds, disputes and earlier transfers), a transfer without one at most the
// platform's balance, a reversal at most what is left of the transfer.
//
// Simplifications: every balance transaction is available at once (Stripe holds card funds
// for days), one currency per balance, and every card is a Visa ending 4242.

import { invalidParam, stateError, StripeError } from "./errors.ts";
import type { Metadata } from "./params.ts";
import {
  type Account,
  type BalanceTransaction,
  type Charge,
  type Dispute,
  listOf,
  newId,
  now,
  type PaymentIntent,
  randomString,
  type Refund,
  Store,
  stripeFee,
  type StripeObject,
  type Transfer,
  type TransferReversal,
} from "./state.ts";
import type { Webhooks } from "./webhooks.ts";

/** The API request that caused an event (`event.request`); null for what the "customer" did. */
export interface Origin {
  id: string | null;
  idempotency_key: string | null;
}

export const NO_REQUEST: Origin = { id: null, idempotency_key: null };

const DISPUTE_FEE = 1500;

/** Formats minor units as Stripe's messages do ($12.34); zero-decimal currencies as they are. */
export function money(amount: number, currency: string): string {
  const zeroDecimal = [
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
  ];
  if (zeroDecimal.includes(currency)) return `${amount} ${currency}`;
  const value = (amount / 100).toFixed(2);
  return currency === "usd" ? `$${value}` : `${value} ${currency}`;
}

/** The fields of `after` that differ from `before`, with their old values (`previous_attributes`). */
export function changed(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Record<string, unknown> {
  const previous: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      previous[key] = before[key] ?? null;
    }
  }
  return previous;
}

/** Called after a payment attempt on an intent settles (succeeded or failed), whoever made it. */
export type PaymentListener = (pi: PaymentIntent, charge: Charge, origin: Origin) => void;

export class Bank {
  /** Billing listens here: an invoice's intent paid or declined (see billing.ts). */
  readonly paymentListeners: PaymentListener[] = [];

  constructor(readonly store: Store, readonly webhooks: Webhooks) {}

  private settled(pi: PaymentIntent, charge: Charge, origin: Origin): void {
    for (const listener of this.paymentListeners) listener(pi, charge, origin);
  }

  emit(
    type: string,
    object: StripeObject,
    origin: Origin,
    previous?: Record<string, unknown>,
  ): void {
    this.webhooks.emit(type, object, previous, origin);
  }

  /** Runs `change` on the object and sends `type` with the changed fields' old values. */
  update<T extends StripeObject>(
    object: T,
    change: (object: T) => void,
    type: string | null,
    origin: Origin,
  ): T {
    const before = structuredClone(object);
    change(object);
    const previous = changed(before, object);
    if (type && Object.keys(previous).length > 0) this.emit(type, object, origin, previous);
    return object;
  }

  balanceTransaction(
    fields: {
      amount: number;
      currency: string;
      fee?: number;
      source: string;
      type: string;
      reporting_category: string;
      description?: string | null;
      feeDescription?: string;
    },
  ): BalanceTransaction {
    const created = now();
    const fee = fields.fee ?? 0;
    return this.store.put<BalanceTransaction>({
      id: newId("txn"),
      object: "balance_transaction",
      amount: fields.amount,
      available_on: created,
      created,
      currency: fields.currency,
      description: fields.description ?? null,
      exchange_rate: null,
      fee,
      fee_details: fee === 0 ? [] : [{
        amount: fee,
        application: null,
        currency: fields.currency,
        description: fields.feeDescription ?? "Stripe processing fees",
        type: "stripe_fee",
      }],
      livemode: false,
      net: fields.amount - fee,
      reporting_category: fields.reporting_category,
      source: fields.source,
      status: "available",
      type: fields.type,
    });
  }

  /** The platform's balance in a currency: the sum of its balance transactions' net amounts. */
  balance(currency: string): number {
    return this.store.all<BalanceTransaction>("balance_transaction")
      .filter((txn) => txn.currency === currency)
      .reduce((sum, txn) => sum + txn.net, 0);
  }

  // --- payment intents and charges -------------------------------------------------------

  createPaymentIntent(
    fields: {
      amount: number;
      currency: string;
      metadata: Metadata;
      transfer_group: string | null;
      description: string | null;
      automatic_payment_methods: Record<string, unknown> | null;
      payment_method_types: string[];
      receipt_email?: string | null;
      /** A Billing customer's intent (an invoice's), and whether it saves the card it is paid with. */
      customer?: string | null;
      setup_future_usage?: "off_session" | null;
    },
    origin: Origin,
  ): PaymentIntent {
    const id = newId("pi");
    const pi = this.store.put<PaymentIntent>({
      id,
      object: "payment_intent",
      amount: fields.amount,
      amount_capturable: 0,
      amount_details: { tip: {} },
      amount_received: 0,
      application: null,
      application_fee_amount: null,
      automatic_payment_methods: fields.automatic_payment_methods,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: "automatic",
      client_secret: `${id}_secret_${randomString(25)}`,
      confirmation_method: "automatic",
      created: now(),
      currency: fields.currency,
      customer: fields.customer ?? null,
      description: fields.description,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: fields.metadata,
      next_action: null,
      on_behalf_of: null,
      payment_method: null,
      payment_method_types: fields.payment_method_types,
      receipt_email: fields.receipt_email ?? null,
      setup_future_usage: fields.setup_future_usage ?? null,
      shipping: null,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: "requires_payment_method",
      transfer_data: null,
      transfer_group: fields.transfer_group,
    });
    this.emit("payment_intent.created", pi, origin);
    return pi;
  }

  /**
   * The customer pays: a charge is made on the intent and it succeeds, fails (card declined),
   * or stays pending (`processing`: a bank debit settles later, see settle()).
   */
  pay(
    pi: PaymentIntent,
    outcome: "succeeded" | "failed" | "processing",
    origin: Origin,
    email: string | null = null,
    /** A saved payment method (`pm_…` of a customer); by default a one-off card. */
    savedPaymentMethod: string | null = null,
  ): Charge {
    if (
      !["requires_payment_method", "requires_confirmation", "requires_action"].includes(pi.status)
    ) {
      throw stateError(
        `You cannot confirm this PaymentIntent because it has a status of ${pi.status}.`,
        "payment_intent_unexpected_state",
      );
    }
    const created = now();
    const paymentMethod = savedPaymentMethod ?? newId("pm");
    const charge = this.store.put<Charge>({
      id: newId("ch"),
      object: "charge",
      amount: pi.amount,
      amount_captured: 0,
      amount_refunded: 0,
      application: null,
      application_fee: null,
      application_fee_amount: null,
      balance_transaction: null,
      billing_details: {
        address: {
          city: null,
          country: null,
          line1: null,
          line2: null,
          postal_code: null,
          state: null,
        },
        email,
        name: null,
        phone: null,
      },
      calculated_statement_descriptor: "MARKETPLACE",
      captured: false,
      created,
      currency: pi.currency,
      customer: pi.customer ?? null,
      description: pi.description,
      disputed: false,
      failure_balance_transaction: null,
      failure_code: null,
      failure_message: null,
      fraud_details: {},
      livemode: false,
      metadata: { ...pi.metadata },
      on_behalf_of: null,
      outcome: null,
      paid: false,
      payment_intent: pi.id,
      payment_method: paymentMethod,
      payment_method_details: {
        card: {
          brand: "visa",
          country: "US",
          exp_month: 12,
          exp_year: new Date().getUTCFullYear() + 3,
          funding: "credit",
          last4: "4242",
          network: "visa",
        },
        type: "card",
      },
      receipt_email: pi.receipt_email ?? null,
      receipt_url: null,
      refunded: false,
      review: null,
      source_transfer: null,
      status: "pending",
      transfer_data: null,
      transfer_group: pi.transfer_group,
    });
    pi.latest_charge = charge.id;
    pi.payment_method = paymentMethod;
    if (outcome === "succeeded") {
      this.succeedCharge(charge, pi);
      this.emit("charge.succeeded", charge, origin);
      this.emit("payment_intent.succeeded", pi, origin);
    } else if (outcome === "failed") {
      this.failCharge(charge, pi);
      this.emit("charge.failed", charge, origin);
      this.emit("payment_intent.payment_failed", pi, origin);
    } else {
      pi.status = "processing";
      this.emit("charge.pending", charge, origin);
      this.emit("payment_intent.processing", pi, origin);
    }
    if (outcome !== "processing") this.settled(pi, charge, origin);
    return charge;
  }

  /** A `processing` payment settles: the bank debit succeeds or fails. */
  settle(pi: PaymentIntent, outcome: "succeeded" | "failed", origin: Origin): Charge {
    if (pi.status !== "processing" || !pi.latest_charge) {
      throw stateError(
        `PaymentIntent ${pi.id} is not processing (status ${pi.status}).`,
        "payment_intent_unexpected_state",
      );
    }
    const charge = this.store.get<Charge>("charge", pi.latest_charge);
    if (outcome === "succeeded") {
      this.succeedCharge(charge, pi);
      this.emit("charge.succeeded", charge, origin);
      this.emit("payment_intent.succeeded", pi, origin);
    } else {
      this.failCharge(charge, pi);
      this.emit("charge.failed", charge, origin);
      this.emit("payment_intent.payment_failed", pi, origin);
    }
    this.settled(pi, charge, origin);
    return charge;
  }

  private succeedCharge(charge: Charge, pi: PaymentIntent): void {
    const txn = this.balanceTransaction({
      amount: charge.amount,
      currency: charge.currency,
      fee: stripeFee(charge.amount),
      source: charge.id,
      type: "charge",
      reporting_category: "charge",
      description: charge.description as string | null,
    });
    Object.assign(charge, {
      status: "succeeded",
      paid: true,
      captured: true,
      amount_captured: charge.amount,
      balance_transaction: txn.id,
      outcome: {
        network_status: "approved_by_network",
        reason: null,
        risk_level: "normal",
        risk_score: 32,
        seller_message: "Payment complete.",
        type: "authorized",
      },
      receipt_url: `https://pay.stripe.com/receipts/payment/local_${charge.id}`,
    });
    Object.assign(pi, {
      status: "succeeded",
      amount_received: pi.amount,
      last_payment_error: null,
    });
  }

  private failCharge(charge: Charge, pi: PaymentIntent): void {
    Object.assign(charge, {
      status: "failed",
      paid: false,
      failure_code: "card_declined",
      failure_message: "Your card was declined.",
      outcome: {
        network_status: "declined_by_network",
        reason: "generic_decline",
        risk_level: "normal",
        risk_score: 32,
        seller_message: "The bank did not return any further details with this decline.",
        type: "issuer_declined",
      },
    });
    Object.assign(pi, {
      status: "requires_payment_method",
      payment_method: null,
      last_payment_error: {
        charge: charge.id,
        code: "card_declined",
        decline_code: "generic_decline",
        doc_url: "https://stripe.com/docs/error-codes/card-declined",
        message: "Your card was declined.",
        type: "card_error",
      },
    });
  }

  /** Stripe's 402 for a declined confirmation, carrying the intent and charge. */
  cardDeclined(pi: PaymentIntent): StripeError {
    return new StripeError(
      402,
      "card_error",
      "Your card was declined.",
      "card_declined",
      undefined,
      true,
      {
        charge: pi.latest_charge,
        decline_code: "generic_decline",
        payment_intent: structuredClone(pi),
      },
    );
  }

  // --- refunds ---------------------------------------------------------------------------

  /** What of a charge has not been refunded, disputed away or transferred out. */
  transferable(charge: Charge): number {
    const transferred = this.store.all<Transfer>("transfer")
      .filter((transfer) => transfer.source_transaction === charge.id)
      .reduce((sum, transfer) => sum + transfer.amount - transfer.amount_reversed, 0);
    const disputed = this.store.all<Dispute>("dispute")
      .filter((dispute) => dispute.charge === charge.id && dispute.status !== "won")
      .reduce((sum, dispute) => sum + dispute.amount, 0);
    return charge.amount - charge.amount_refunded - disputed - transferred;
  }

  refund(
    charge: Charge,
    fields: { amount?: number; reason: string | null; metadata: Metadata },
    origin: Origin,
  ): Refund {
    if (charge.status !== "succeeded") {
      throw stateError(
        `Charge ${charge.id} has not succeeded (status ${charge.status}) and cannot be refunded.`,
        "charge_not_refundable",
      );
    }
    const openDispute = this.store.all<Dispute>("dispute").some((dispute) =>
      dispute.charge === charge.id && dispute.status !== "won"
    );
    if (openDispute) {
      throw stateError(
        `Charge ${charge.id} has been charged back; cannot issue a refund.`,
        "charge_disputed",
      );
    }
    const remaining = charge.amount - charge.amount_refunded;
    if (remaining === 0) {
      throw stateError(`Charge ${charge.id} has already been refunded.`, "charge_already_refunded");
    }
    const amount = fields.amount ?? remaining;
    if (amount > remaining) {
      throw stateError(
        `Refund amount (${
          money(amount, charge.currency)
        }) is greater than unrefunded amount on charge (${money(remaining, charge.currency)})`,
        "amount_too_large",
        "amount",
      );
    }
    const id = newId("re");
    const txn = this.balanceTransaction({
      amount: -amount,
      currency: charge.currency,
      source: id,
      type: "refund",
      reporting_category: "refund",
      description: "REFUND FOR CHARGE",
    });
    const refund = this.store.put<Refund>({
      id,
      object: "refund",
      amount,
      balance_transaction: txn.id,
      charge: charge.id,
      created: now(),
      currency: charge.currency,
      destination_details: {
        card: {
          reference_status: "pending",
          reference_type: "acquirer_reference_number",
          type: "refund",
        },
        type: "card",
      },
      livemode: false,
      metadata: fields.metadata,
      payment_intent: charge.payment_intent,
      reason: fields.reason,
      receipt_number: null,
      source_transfer_reversal: null,
      status: "succeeded",
      transfer_reversal: null,
    });
    this.emit("refund.created", refund, origin);
    this.update(
      charge,
      (c) => {
        c.amount_refunded += amount;
        c.refunded = c.amount_refunded === c.amount;
      },
      "charge.refunded",
      origin,
    );
    return refund;
  }

  /** The card network returns a refund (a closed card): the money comes back to the platform. */
  failRefund(refund: Refund, origin: Origin): Refund {
    if (refund.status !== "succeeded" && refund.status !== "pending") {
      throw stateError(`Refund ${refund.id} cannot fail: its status is ${refund.status}.`);
    }
    const txn = this.balanceTransaction({
      amount: refund.amount,
      currency: refund.currency,
      source: refund.id,
      type: "refund_failure",
      reporting_category: "refund_failure",
      description: "REFUND FAILURE",
    });
    this.update(
      refund,
      (r) => {
        r.status = "failed";
        r.failure_reason = "expired_or_canceled_card";
        r.failure_balance_transaction = txn.id;
      },
      "refund.updated",
      origin,
    );
    this.emit("refund.failed", refund, origin);
    const charge = this.store.get<Charge>("charge", refund.charge);
    this.update(
      charge,
      (c) => {
        c.amount_refunded -= refund.amount;
        c.refunded = false;
      },
      "charge.refund.updated",
      origin,
    );
    return refund;
  }

  // --- transfers -------------------------------------------------------------------------

  transfer(
    fields: {
      amount: number;
      currency: string;
      destination: Account;
      source: Charge | null;
      transfer_group: string | null;
      metadata: Metadata;
      description: string | null;
    },
    origin: Origin,
  ): Transfer {
    const { amount, currency, destination, source } = fields;
    if (destination.capabilities.transfers !== "active") {
      throw stateError(
        "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
        "insufficient_capabilities_for_transfer",
        "destination",
      );
    }
    if (source) {
      if (source.status !== "succeeded") {
        throw stateError(
          `The source_transaction ${source.id} has not succeeded (status ${source.status}).`,
          undefined,
          "source_transaction",
        );
      }
      if (source.currency !== currency) {
        throw invalidParam(
          `The currency of source_transaction's balance transaction (${source.currency}) must be the same as the transfer currency (${currency})`,
          "currency",
        );
      }
      const available = this.transferable(source);
      if (amount > available) {
        throw stateError(
          `Insufficient funds in the source transaction: ${
            money(amount, currency)
          } requested but only ${
            money(available, currency)
          } of charge ${source.id} is left to transfer (after refunds, disputes and earlier transfers).`,
          "balance_insufficient",
          "amount",
        );
      }
    } else if (amount > this.balance(currency)) {
      throw stateError(
        "You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card.",
        "balance_insufficient",
        "amount",
      );
    }
    const id = newId("tr");
    const txn = this.balanceTransaction({
      amount: -amount,
      currency,
      source: id,
      type: "transfer",
      reporting_category: "transfer",
      description: fields.description,
    });
    const transfer = this.store.put<Transfer>({
      id,
      object: "transfer",
      amount,
      amount_reversed: 0,
      balance_transaction: txn.id,
      created: now(),
      currency,
      description: fields.description,
      destination: destination.id,
      destination_payment: newId("py"),
      livemode: false,
      metadata: fields.metadata,
      reversals: {
        ...listOf(`/v1/transfers/${id}/reversals`, [] as TransferReversal[], false),
        total_count: 0,
      },
      reversed: false,
      source_transaction: source?.id ?? null,
      source_type: "card",
      transfer_group: fields.transfer_group,
    });
    this.emit("transfer.created", transfer, origin);
    return transfer;
  }

  reverse(
    transfer: Transfer,
    fields: { amount?: number; metadata: Metadata; description: string | null },
    origin: Origin,
  ): TransferReversal {
    const remaining = transfer.amount - transfer.amount_reversed;
    if (remaining === 0) {
      throw stateError(`Transfer ${transfer.id} has already been fully reversed.`);
    }
    const amount = fields.amount ?? remaining;
    if (amount > remaining) {
      throw stateError(
        `The reversal amount (${
          money(amount, transfer.currency)
        }) is greater than the amount left on the transfer (${
          money(remaining, transfer.currency)
        }).`,
        "amount_too_large",
        "amount",
      );
    }
    const id = newId("trr");
    const txn = this.balanceTransaction({
      amount,
      currency: transfer.currency,
      source: id,
      type: "transfer_refund",
      reporting_category: "transfer_reversal",
      description: fields.description,
    });
    const reversal = this.store.put<TransferReversal>({
      id,
      object: "transfer_reversal",
      amount,
      balance_transaction: txn.id,
      created: now(),
      currency: transfer.currency,
      destination_payment_refund: newId("pyr"),
      livemode: false,
      metadata: fields.metadata,
      source_refund: null,
      transfer: transfer.id,
    });
    this.update(
      transfer,
      (t) => {
        t.amount_reversed += amount;
        t.reversed = t.amount_reversed === t.amount;
        const list = t.reversals as { data: StripeObject[]; total_count: number };
        list.data = [structuredClone(reversal), ...list.data].slice(0, 10);
        list.total_count += 1;
      },
      "transfer.reversed",
      origin,
    );
    return reversal;
  }

  // --- disputes --------------------------------------------------------------------------

  /** The cardholder disputes a charge: the amount and a dispute fee are withdrawn now. */
  dispute(charge: Charge, fields: { amount?: number; reason: string }, origin: Origin): Dispute {
    if (charge.status !== "succeeded") {
      throw stateError(`Charge ${charge.id} has not succeeded and cannot be disputed.`);
    }
    if (this.store.all<Dispute>("dispute").some((dispute) => dispute.charge === charge.id)) {
      throw stateError(`Charge ${charge.id} is already disputed.`, "charge_disputed");
    }
    const remaining = charge.amount - charge.amount_refunded;
    const amount = fields.amount ?? remaining;
    if (amount <= 0 || amount > remaining) {
      throw invalidParam(
        `The dispute amount must be between 1 and ${remaining} (the unrefunded amount).`,
        "amount",
      );
    }
    const id = newId("dp");
    const txn = this.balanceTransaction({
      amount: -amount,
      currency: charge.currency,
      fee: DISPUTE_FEE,
      feeDescription: "Dispute fee",
      source: id,
      type: "adjustment",
      reporting_category: "dispute",
      description: `Chargeback withdrawal for ${charge.id}`,
    });
    const created = now();
    const dispute = this.store.put<Dispute>({
      id,
      object: "dispute",
      amount,
      balance_transactions: [txn.id],
      charge: charge.id,
      created,
      currency: charge.currency,
      evidence: {
        customer_email_address: null,
        product_description: null,
        uncategorized_text: null,
      },
      evidence_details: {
        due_by: created + 7 * 86400,
        has_evidence: false,
        past_due: false,
        submission_count: 0,
      },
      is_charge_refundable: false,
      livemode: false,
      metadata: {},
      payment_intent: charge.payment_intent,
      reason: fields.reason,
      status: "needs_response",
    });
    this.update(
      charge,
      (c) => {
        c.disputed = true;
      },
      null,
      origin,
    );
    this.emit("charge.dispute.created", this.withTransactions(dispute), origin);
    this.emit("charge.dispute.funds_withdrawn", this.withTransactions(dispute), origin);
    return dispute;
  }

  updateDispute(dispute: Dispute, change: (dispute: Dispute) => void, origin: Origin): Dispute {
    if (dispute.status === "won" || dispute.status === "lost") {
      throw stateError(`This dispute is already closed (status ${dispute.status}).`);
    }
    const before = this.withTransactions(structuredClone(dispute));
    change(dispute);
    const previous = changed(before, this.withTransactions(dispute));
    if (Object.keys(previous).length > 0) {
      this.emit("charge.dispute.updated", this.withTransactions(dispute), origin, previous);
    }
    return dispute;
  }

  /** Closes a dispute: won reinstates the amount and the fee, lost keeps them withdrawn. */
  closeDispute(dispute: Dispute, outcome: "won" | "lost", origin: Origin): Dispute {
    if (dispute.status === "won" || dispute.status === "lost") {
      throw stateError(`This dispute is already closed (status ${dispute.status}).`);
    }
    const previous = { status: dispute.status };
    dispute.status = outcome;
    if (outcome === "won") {
      const txn = this.balanceTransaction({
        amount: dispute.amount,
        currency: dispute.currency,
        fee: -DISPUTE_FEE,
        feeDescription: "Dispute fee reversal",
        source: dispute.id,
        type: "adjustment",
        reporting_category: "dispute_reversal",
        description: `Chargeback reversal for ${dispute.charge}`,
      });
      dispute.balance_transactions.push(txn.id);
      this.emit("charge.dispute.funds_reinstated", this.withTransactions(dispute), origin);
    }
    this.emit("charge.dispute.closed", this.withTransactions(dispute), origin, previous);
    return dispute;
  }

  /** Disputes show their balance transactions as objects. */
  withTransactions(dispute: Dispute): Dispute {
    return this.store.expand(dispute, ["balance_transactions"]);
  }
}
