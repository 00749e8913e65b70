// The local stand-in for pg_net's background worker (the queue and net.http_post are in
// sql/baseline/50_pg_net.sql): takes committed requests from net.http_request_queue, sends
// them, and records each answer, or why there is none, in net._http_response. Like pg_net,
// a request is taken off the queue before it is sent and never retried: whoever queued it
// reads the response table (or queues it again).

import type pg from "pg";

const POLL_INTERVAL_MS = 250;
const MAX_IN_FLIGHT = 8;
/** pg_net's default ttl for net._http_response rows. */
const RESPONSE_TTL = "6 hours";

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string> | null;
  body: Buffer | null;
  timeout_milliseconds: number;
}

interface Outcome {
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

export interface NetWorker {
  /** Stops taking requests and waits for those in flight to be recorded. */
  close(): Promise<void>;
}

async function send(request: QueuedRequest): Promise<Outcome> {
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers ?? {},
      body: request.method === "GET" || request.body === null
        ? undefined
        : new Uint8Array(request.body),
      signal: AbortSignal.timeout(request.timeout_milliseconds),
    });
    return {
      status_code: response.status,
      content_type: response.headers.get("content-type"),
      headers: Object.fromEntries(response.headers),
      content: await response.text(),
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    const message = timedOut
      ? `Timeout of ${request.timeout_milliseconds} ms reached`
      : `${(error as Error).message}${
        (error as Error & { cause?: Error }).cause
          ? `: ${(error as Error & { cause: Error }).cause.message}`
          : ""
      }`;
    return {
      status_code: null,
      content_type: null,
      headers: null,
      content: null,
      timed_out: timedOut,
      error_msg: message,
    };
  }
}

export function startNetWorker(pool: pg.Pool): NetWorker {
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let lastCleanup = 0;

  async function take(count: number): Promise<QueuedRequest[]> {
    const { rows } = await pool.query<QueuedRequest>(
      `delete from net.http_request_queue
        where id in (select id from net.http_request_queue order by id limit $1 for update skip locked)
       returning id, method, url, headers, body, timeout_milliseconds`,
      [count],
    );
    return rows.sort((a, b) => Number(a.id) - Number(b.id));
  }

  async function record(id: string, outcome: Outcome): Promise<void> {
    await pool.query(
      `insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        id,
        outcome.status_code,
        outcome.content_type,
        outcome.headers,
        outcome.content,
        outcome.timed_out,
        outcome.error_msg,
      ],
    );
  }

  async function tick(): Promise<void> {
    if (Date.now() - lastCleanup > 60_000) {
      lastCleanup = Date.now();
      await pool.query(
        `delete from net._http_response where created < now() - interval '${RESPONSE_TTL}'`,
      );
    }
    const free = MAX_IN_FLIGHT - inFlight.size;
    if (free <= 0) return;
    for (const request of await take(free)) {
      const work = send(request)
        .then((outcome) => record(request.id, outcome))
        .catch((error) =>
          console.error(`net worker: recording request ${request.id} failed:`, error)
        )
        .finally(() => inFlight.delete(work));
      inFlight.add(work);
    }
  }

  let timer: NodeJS.Timeout;
  const loop = () => {
    tick()
      // The database can be briefly away (`npm run db:reset` drops it): try again next tick.
      .catch(() => {})
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, POLL_INTERVAL_MS);
      });
  };
  timer = setTimeout(loop, POLL_INTERVAL_MS);

  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
