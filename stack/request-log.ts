// The gateway's half of the request log (supabase/schemas/80_operations/40_request_log.sql):
// one row per rest, auth, storage and realtime request, buffered in memory and written off the
// request path, every second or every 500 rows, as one insert (ops.record_requests) through
// the stack's pooled connection. /functions/v1 is left to the functions, which log their own
// requests (functions/_shared/platform/request-log.ts), so a function request is one row.
//
// A row holds a path template, never the request's own values: no query string, no token, no
// object name, ids replaced by :id (pathTemplate).

export type RouteClass = "rest" | "auth" | "storage" | "functions" | "realtime";

export interface RequestLogRow {
  /** Epoch milliseconds when the request arrived. */
  at: number;
  routeClass: RouteClass;
  method: string;
  /** The path as requested (with its query): made a template when written, off the request. */
  path: string;
  status: number;
  durationMs: number;
  role: string | null;
  tier: string | null;
}

/** Writes one batch: [{ at, source, route_class, ... }] as ops.record_requests takes it. */
export type RequestLogWriter = (entries: string) => Promise<unknown>;

const ID_SEGMENT = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+)$/i;
const ROLES = new Set(["anon", "authenticated", "service_role"]);

/**
 * The route of a request, without its values: the path before any query, ids (uuids and
 * numbers) as :id, a Storage object path cut after its bucket (`/object/sign/avatars/*`: the
 * object names are users' file names), at most 8 segments and 200 characters.
 */
export function pathTemplate(routeClass: RouteClass, path: string): string {
  const query = path.search(/[?#]/);
  const segments = (query < 0 ? path : path.slice(0, query)).split("/").filter((s) => s !== "");
  const out: string[] = [];
  let i = 0;
  if (routeClass === "storage" && segments[0] === "object") {
    // /object[/sign|/public|/upload/sign|...]/<bucket>/<object name...>: cut after the bucket.
    out.push(segments[i++]);
    while (i < segments.length && STORAGE_OBJECT_ROUTES.has(segments[i])) out.push(segments[i++]);
    if (i < segments.length) out.push(cleanSegment(segments[i++]));
    if (i < segments.length) out.push("*");
  } else if (routeClass === "realtime" && segments[0] === "api" && segments[1] === "broadcast") {
    // /api/broadcast[/<topic>/events/<event>]: topics name threads and users.
    out.push("api", "broadcast");
    if (segments.length > 2) out.push("*");
  } else {
    for (const segment of segments.slice(0, 8)) out.push(cleanSegment(segment));
  }
  return `/${routeClass}/v1/${out.join("/")}`.slice(0, 200);
}

const STORAGE_OBJECT_ROUTES = new Set([
  "sign",
  "public",
  "authenticated",
  "info",
  "upload",
  "list",
  "list-v2",
  "move",
  "copy",
  "render",
  "image",
]);

function cleanSegment(segment: string): string {
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch { /* keep it as sent */ }
  return ID_SEGMENT.test(decoded) ? ":id" : decoded.replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 60);
}

export interface RequestLogOptions {
  /** How often the buffer is written (ms). */
  flushMs?: number;
  /** A batch this large is written at once. */
  batchRows?: number;
  /** Rows held at most while writes fail; older ones are dropped (and counted). */
  maxBuffered?: number;
}

export class RequestLog {
  private buffer: RequestLogRow[] = [];
  private writing: Promise<void> | null = null;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly batchRows: number;
  private readonly maxBuffered: number;
  /** Rows dropped because the buffer was full (writes failing or too slow). */
  dropped = 0;
  private warned = false;

  constructor(private readonly write: RequestLogWriter, options: RequestLogOptions = {}) {
    this.batchRows = options.batchRows ?? 500;
    this.maxBuffered = options.maxBuffered ?? 50_000;
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 1000);
    this.timer.unref();
  }

  private readonly templates = new Map<string, string>();

  /** pathTemplate, remembered for the paths seen most (a client repeats its requests). */
  private template(routeClass: RouteClass, path: string): string {
    const key = routeClass + path;
    let template = this.templates.get(key);
    if (template === undefined) {
      template = pathTemplate(routeClass, path);
      if (this.templates.size >= 5000) this.templates.clear();
      this.templates.set(key, template);
    }
    return template;
  }

  add(row: RequestLogRow): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.buffer.shift();
      this.dropped++;
    }
    this.buffer.push(row);
    if (this.buffer.length >= this.batchRows && !this.writing) void this.flush();
  }

  /** Writes what is buffered (one insert per batch); resolves when written or failed. */
  flush(): Promise<void> {
    if (this.writing) return this.writing;
    if (this.buffer.length === 0) return Promise.resolve();
    const rows = this.buffer.splice(0, this.batchRows * 10);
    const entries = JSON.stringify(rows.map((row) => ({
      at: new Date(row.at).toISOString(),
      source: "gateway",
      route_class: row.routeClass,
      method: row.method,
      path: this.template(row.routeClass, row.path),
      status: row.status,
      duration_ms: Math.round(row.durationMs * 1000) / 1000,
      role: row.role !== null && ROLES.has(row.role) ? row.role : null,
      tier: row.tier,
    })));
    this.writing = this.write(entries).then(
      () => {
        this.warned = false;
      },
      (error) => {
        // The log is for figures, never in the way of requests: report once, keep going.
        if (!this.warned) {
          console.error("gateway: request log not written:", error?.message ?? error);
        }
        this.warned = true;
      },
    ).finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.flush();
  }
}
