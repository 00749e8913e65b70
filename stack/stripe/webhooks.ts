// Events and their webhook deliveries. Every event is recorded in creation order and, unless
// delivery is paused, POSTed to the webhook endpoint one at a time in that order, signed as
// Stripe signs (`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"
// keyed with the whsec_ secret>`). A non-2xx answer or a connection failure is retried after
// each of `retryDelaysMs` (Stripe retries for days; here it is a few short waits) while the
// following events go on. Tests hold events back (pause), release them in order, shuffled or
// reversed, deliver one again or with a bad signature, and wait for the queue to drain.

import { createHmac, randomBytes } from "node:crypto";
import { newId, now, type StripeObject } from "./state.ts";

/** The API version the pinned SDK (stripe@23.1.0) sends; events carry it as Stripe's do. */
export const API_VERSION = "2026-10-28.endive";

export interface StripeEvent {
  id: string;
  object: "event";
  api_version: string;
  created: number;
  data: { object: StripeObject; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/** How a delivery is signed: with the endpoint's secret, another secret, or a timestamp 10 minutes old. */
export type Signature = "valid" | "forged" | "stale";

export interface Delivery {
  id: string;
  event: string;
  type: string;
  url: string;
  attempt: number;
  signature: Signature;
  /** The endpoint's HTTP status, or null when it could not be reached. */
  status: number | null;
  error: string | null;
  /** The first 500 characters of the endpoint's answer. */
  response_body: string | null;
  started_at: string;
  duration_ms: number;
}

interface Job {
  event: StripeEvent;
  attempt: number;
  signature: Signature;
  /** Automatic deliveries (and released held events) are retried on failure; one-off ones are not. */
  retry: boolean;
  done?: (delivery: Delivery) => void;
}

export interface WebhookOptions {
  defaultUrl: string;
  secret: string;
  retryDelaysMs?: number[];
}

export function signPayload(payload: string, secret: string, timestamp: number): string {
  const signature = createHmac("sha256", secret).update(`${timestamp}.${payload}`).digest("hex");
  return `t=${timestamp},v1=${signature}`;
}

/** A small seeded PRNG (mulberry32) so a shuffled delivery can be repeated with its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], seed: number): T[] {
  const next = random(seed);
  const result = [...items];
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [result[i], result[j]] = [result[j], result[i]];
  }
  return result;
}

export class Webhooks {
  readonly events: StripeEvent[] = [];
  private readonly byId = new Map<string, StripeEvent>();
  readonly deliveries: Delivery[] = [];
  /** Events recorded while paused, not yet delivered, in creation order. */
  held: string[] = [];
  paused = false;
  url: string;
  retryDelaysMs: number[];
  private readonly queue: Job[] = [];
  private running = false;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly options: WebhookOptions) {
    this.url = options.defaultUrl;
    this.retryDelaysMs = options.retryDelaysMs ?? [500, 1000, 2000];
  }

  get defaultUrl(): string {
    return this.options.defaultUrl;
  }

  event(id: string): StripeEvent | undefined {
    return this.byId.get(id);
  }

  /** Records an event (a snapshot of the object now) and queues or holds its delivery. */
  emit(
    type: string,
    object: StripeObject,
    previous?: Record<string, unknown>,
    request: { id: string | null; idempotency_key: string | null } = {
      id: null,
      idempotency_key: null,
    },
  ): StripeEvent {
    const event: StripeEvent = {
      id: newId("evt"),
      object: "event",
      api_version: API_VERSION,
      created: now(),
      data: {
        object: structuredClone(object),
        ...(previous ? { previous_attributes: structuredClone(previous) } : {}),
      },
      livemode: false,
      pending_webhooks: 1,
      request: { ...request },
      type,
    };
    this.events.push(event);
    this.byId.set(event.id, event);
    if (this.paused) this.held.push(event.id);
    else this.enqueue({ event, attempt: 1, signature: "valid", retry: true });
    return event;
  }

  /** Delivers held events (all, or the listed ones, held or not) in the given order. */
  release(ids: string[]): void {
    for (const id of ids) {
      const event = this.byId.get(id);
      if (!event) continue;
      this.held = this.held.filter((held) => held !== id);
      this.enqueue({ event, attempt: 1, signature: "valid", retry: true });
    }
  }

  /** Delivers one event once more (a duplicate, or signed badly); resolves with the delivery. */
  deliverOnce(event: StripeEvent, signature: Signature): Promise<Delivery> {
    return new Promise((resolve) =>
      this.enqueue({ event, attempt: 1, signature, retry: false, done: resolve })
    );
  }

  get idle(): boolean {
    return this.queue.length === 0 && !this.running && this.retryTimers.size === 0;
  }

  status() {
    return {
      url: this.url,
      default_url: this.defaultUrl,
      paused: this.paused,
      held: [...this.held],
      queued: this.queue.length,
      retrying: this.retryTimers.size,
      in_flight: this.running ? 1 : 0,
      retry_delays_ms: [...this.retryDelaysMs],
    };
  }

  /** Resolves true once nothing is queued, in flight or waiting to be retried (false on timeout). */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.idle) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((waiter) => waiter !== onIdle);
        resolve(false);
      }, timeoutMs);
      const onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(onIdle);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.queue.length = 0;
  }

  private enqueue(job: Job): void {
    if (this.stopped) return;
    this.queue.push(job);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const job = this.queue.shift()!;
        const delivery = await this.attempt(job);
        job.done?.(delivery);
      }
    } finally {
      this.running = false;
      this.notifyIfIdle();
    }
  }

  private notifyIfIdle(): void {
    if (!this.idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private async attempt(job: Job): Promise<Delivery> {
    const { event } = job;
    const payload = JSON.stringify(event, null, 2);
    const timestamp = job.signature === "stale" ? now() - 600 : now();
    const secret = job.signature === "forged"
      ? `whsec_${randomBytes(24).toString("base64url")}`
      : this.options.secret;
    const begun = Date.now();
    const delivery: Delivery = {
      id: `whdel_${this.deliveries.length + 1}`,
      event: event.id,
      type: event.type,
      url: this.url,
      attempt: job.attempt,
      signature: job.signature,
      status: null,
      error: null,
      response_body: null,
      started_at: new Date(begun).toISOString(),
      duration_ms: 0,
    };
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=utf-8",
          "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
          "stripe-signature": signPayload(payload, secret, timestamp),
        },
        body: payload,
        signal: AbortSignal.timeout(10_000),
      });
      delivery.status = response.status;
      delivery.response_body = (await response.text()).slice(0, 500);
    } catch (error) {
      delivery.error = error instanceof Error
        ? (error.cause instanceof Error ? error.cause.message : error.message)
        : String(error);
    }
    delivery.duration_ms = Date.now() - begun;
    this.deliveries.push(delivery);
    const ok = delivery.status !== null && delivery.status >= 200 && delivery.status < 300;
    if (ok && job.signature === "valid") event.pending_webhooks = 0;
    if (!ok && job.retry && job.attempt <= this.retryDelaysMs.length && !this.stopped) {
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.enqueue({ ...job, attempt: job.attempt + 1 });
        this.notifyIfIdle();
      }, this.retryDelaysMs[job.attempt - 1]);
      this.retryTimers.add(timer);
    }
    return delivery;
  }
}
