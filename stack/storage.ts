// A local stand-in for the subset of the Supabase Storage HTTP API that supabase-js's storage
// client calls: upload, update, download, info and HEAD, list (v1 and the v2 listing), remove,
// move, copy, signed download and upload URLs, public URLs, image transformations (the
// /render/image routes, done with sharp where Storage asks imgproxy), and buckets (read by
// anyone the storage.buckets policies allow; created, updated and deleted likewise, so only
// the service role in this project, and emptied by the service role only, as in Storage). Authorization works as in Storage: every read and
// write of storage.objects runs in a transaction as the caller's API role with the caller's JWT
// claims, so the project's RLS policies decide; the lookups Storage makes whoever asks (bucket
// settings, public and signed downloads) run as supabase_storage_admin, which owns the tables.
// A copy or a move into a bucket passes the bucket's allowed_mime_types and file_size_limit
// as an upload does (hosted Storage leaves that to the policies, which run here too).
// Errors carry Storage's body and status codes (see StorageError).
//
// Bytes live on disk as one immutable file per object version:
// <storageDir>/<bucket>/<object name>/<version>. A new version's file is put in place as the
// last step of the transaction that points the row at it, and the file it replaces is deleted
// only after COMMIT, so a failure at any step leaves each row naming a file that exists. Naming
// files by version also lets "a" and "a/b" both be objects, as they can be in Storage.
//
// Resumable (TUS) and S3-protocol uploads, range requests, object versions, analytics and
// vector buckets and the CDN cache belong to the real Storage and are not emulated.

import { createHash, randomUUID } from "node:crypto";
import { type FileHandle, link, mkdir, open, rename, rm, rmdir } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type JWTPayload, jwtVerify, SignJWT } from "jose";
import pg from "pg";
import sharp, { type FormatEnum } from "sharp";
import { bearerToken, BodyTooLargeError, readJson, sendJson, type SubHandler } from "./http.ts";

export interface StorageOptions {
  pool: pg.Pool;
  jwtSecret: string;
  /** Where object bytes are kept. */
  storageDir: string;
  /** config.toml's storage.file_size_limit in bytes: the cap for every bucket. */
  globalFileSizeLimit: number;
}

type Db = pg.PoolClient;
type Json = Record<string, unknown>;

/** How an upload writes its row: `create` fails on an existing name, `update` on a missing one. */
type WriteMode = "create" | "upsert" | "update";

interface BucketRow {
  id: string;
  public: boolean;
  file_size_limit: number | null;
  allowed_mime_types: string[] | null;
}

/** What Storage keeps in storage.objects.metadata (a type, not an interface, so that it is also Json). */
type ObjectMetadata = {
  eTag: string;
  size: number;
  mimetype: string;
  cacheControl: string;
  lastModified: string;
  contentLength: number;
  httpStatusCode: number;
};

interface ObjectRow {
  id: string;
  bucket_id: string;
  name: string;
  version: string | null;
  metadata: Partial<ObjectMetadata> | null;
  user_metadata: Json | null;
  created_at: Date;
  updated_at: Date;
}

/** One stored version of an object: its file is <storageDir>/<bucket>/<name>/<version>. */
interface ObjectVersion {
  bucket: string;
  name: string;
  version: string;
}

/** A request routed to a handler; `params` are the decoded captures of the route's pattern. */
interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
}

type Route = [method: string, pattern: RegExp, handle: (call: Call) => Promise<void>];

const UPLOAD_URL_EXPIRY = 2 * 60 * 60; // Storage's default for signed upload URLs
const MULTIPART_OVERHEAD = 1024 * 1024; // room for a multipart body's boundaries and fields
const LIST_SORT_COLUMNS = new Set(["name", "updated_at", "created_at", "last_accessed_at"]);
const BUCKET_SORT_COLUMNS = new Set(["id", "name", "created_at", "updated_at"]);
// The columns, in Storage's order, that GET /bucket (listBuckets) and GET /bucket/:id
// (findBucket) select: the list has `type`, a single bucket does not.
const BUCKET_LIST_COLUMNS = `id, name, public, owner, created_at, updated_at,
  file_size_limit::float8 as file_size_limit, allowed_mime_types, type`;
const BUCKET_COLUMNS = `id, name, owner, public, created_at, updated_at,
  file_size_limit::float8 as file_size_limit, allowed_mime_types`;
/** Storage's STORAGE_EMPTY_BUCKET_MAX default: emptyBucket refuses a bucket holding more objects. */
const EMPTY_BUCKET_MAX = 200_000;
/** The v2 listing's page size when none is asked for, and its cap (Storage's listObjectsV2). */
const LIST_V2_MAX_KEYS = 1000;
// Image transformations: Storage's documented limits (width and height 1-2500, a source of at
// most 25 MB and 50 megapixels; quality 20-100, 80 by default).
const RENDER_SIZE = { min: 1, max: 2500 };
const RENDER_MAX_SOURCE_BYTES = 25 * 1000 * 1000;
const RENDER_MAX_SOURCE_PIXELS = 50 * 1000 * 1000;
const RENDER_DEFAULT_QUALITY = 80;
const OBJECT_COLUMNS =
  "id, bucket_id, name, version, metadata, user_metadata, created_at, updated_at";

// --- errors, as Storage renders them -------------------------------------------------------

/**
 * Storage's error. The body carries the error's own status, as a string, in `statusCode`, but
 * Storage's error handler answers every error below 500 with HTTP 400; storage-js reports
 * both (StorageApiError's `statusCode` and `status`).
 */
class StorageError extends Error {
  /** The HTTP status when Storage sets one itself (its withStatusCode), not the rule below. */
  userStatus?: number;

  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly error: string = code,
  ) {
    super(message);
  }

  withStatusCode(status: number): this {
    this.userStatus = status;
    return this;
  }

  get httpStatus(): number {
    return this.userStatus ?? (this.statusCode === 500 ? 500 : 400);
  }

  render(): Json {
    return {
      statusCode: String(this.statusCode),
      code: this.code,
      error: this.error,
      message: this.message,
    };
  }
}

/** The errors of Storage's ERRORS catalogue that this subset can raise. */
const errors = {
  accessDenied: (message: string) => new StorageError(403, "AccessDenied", message, "Unauthorized"),
  noSuchBucket: () => new StorageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found"),
  noSuchKey: () => new StorageError(404, "NoSuchKey", "Object not found", "not_found"),
  keyAlreadyExists: () =>
    new StorageError(409, "KeyAlreadyExists", "The resource already exists", "Duplicate"),
  relatedResourceNotFound: () =>
    new StorageError(404, "InvalidRequest", "The related resource does not exist"),
  entityTooLarge: () =>
    new StorageError(
      413,
      "EntityTooLarge",
      "The object exceeded the maximum allowed size",
      "Payload too large",
    ),
  invalidMimeType: (mimetype: string) =>
    new StorageError(
      415,
      "InvalidMimeType",
      `mime type ${mimetype} is not supported`,
      "invalid_mime_type",
    ),
  invalidKey: (key: string) => new StorageError(400, "InvalidKey", `Invalid key: ${key}`),
  invalidBucketName: () =>
    new StorageError(400, "InvalidBucketName", "Bucket name invalid", "Invalid Input"),
  invalidJwt: (message: string) => new StorageError(400, "InvalidJWT", message),
  invalidSignature: () => new StorageError(400, "InvalidSignature", "Invalid signature"),
  invalidRequest: (message: string) => new StorageError(400, "InvalidRequest", message),
  bucketAlreadyExists: () =>
    new StorageError(409, "BucketAlreadyExists", "The resource already exists", "Duplicate"),
  bucketNotEmpty: () =>
    new StorageError(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty"),
  unableToEmptyBucket: (message: string) => new StorageError(409, "InvalidRequest", message),
  noContentProvided: () => new StorageError(400, "InvalidRequest", "No content provided"),
  invalidFileSizeLimit: () =>
    new StorageError(
      400,
      "InvalidRequest",
      "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B",
    ),
  invalidParameter: (name: string) =>
    new StorageError(400, "InvalidParameter", `Invalid Parameter ${name}`),
  /** What Storage's jwt plugin answers a route for the service role only (its enforceJwtRole). */
  invalidRole: () =>
    new StorageError(403, "AccessDenied", "Access denied: Invalid role", "Unauthorized")
      .withStatusCode(403),
  /** Storage's ImageProcessingError: imgproxy's refusal, in the words Storage maps it to. */
  imageProcessing: (status: number, message: string) =>
    new StorageError(status, status > 499 ? "InternalError" : "InvalidRequest", message),
};

/** Storage's reading of a Postgres error (its DBError): an RLS refusal or a taken name is the caller's error. */
function fromDatabaseError(error: unknown): unknown {
  if (!(error instanceof pg.DatabaseError)) return error;
  switch (error.code) {
    case "42501": {
      const rls = error.message.includes("row-level security");
      return errors.accessDenied(
        rls ? "new row violates row-level security policy" : error.message,
      );
    }
    case "23505":
      return errors.keyAlreadyExists();
    case "23503":
      return errors.relatedResourceNotFound();
    default:
      return error;
  }
}

/** jose's errors in the words of jsonwebtoken, which Storage verifies with and whose messages it returns. */
function jwtErrorMessage(error: unknown): string {
  switch ((error as { code?: unknown }).code) {
    case "ERR_JWT_EXPIRED":
      return "jwt expired";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "invalid signature";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "invalid algorithm";
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return "jwt malformed";
    default:
      return error instanceof Error ? error.message : "Invalid JWT";
  }
}

function errorCode(error: unknown): unknown {
  return (error as NodeJS.ErrnoException | null)?.code;
}

// --- names ----------------------------------------------------------------------------------

// Storage's current key rules: any UTF-8 except controls, the characters S3 advises against,
// and invisible characters that could disguise a path.
const VALID_OBJECT_KEY =
  // deno-lint-ignore no-control-regex -- rejecting control characters is the point of the class
  /^[^\u0000-\u001f\u007f\u0080-\u009f#[\]{}^`"<>\\|%~\u{034F}\u{061C}\u{200B}\u{200E}\u{200F}\u{2028}\u{2029}\u{202A}-\u{202E}\u{2060}\u{2066}-\u{2069}\u{FEFF}]+$/u;
const MAX_OBJECT_KEY_BYTES = 1024;
const VALID_BUCKET_NAME = /^[A-Za-z0-9_!.*'() &$=@;:+,?-]{1,100}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * Storage's key rules, plus what a path on disk needs: no empty segment (so no leading,
 * trailing or doubled slash) and no "." or ".." segment (Storage refuses those too).
 */
function isValidKey(key: string): boolean {
  return VALID_OBJECT_KEY.test(key) &&
    Buffer.byteLength(key) <= MAX_OBJECT_KEY_BYTES &&
    key.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

function assertValidKey(key: string): void {
  if (!isValidKey(key)) throw errors.invalidKey(key);
}

function isValidBucketName(name: string): boolean {
  return VALID_BUCKET_NAME.test(name) && name !== "." && name !== "..";
}

// --- callers ----------------------------------------------------------------------------------

const API_ROLES = new Set(["anon", "authenticated", "service_role"]);

/** Whom a transaction runs as: a database role, and the JWT claims that the policies read. */
interface Actor {
  role: string;
  claims: JWTPayload;
}

/**
 * Storage itself, for the lookups it makes whoever asks: its admin role owns the storage
 * tables, so RLS does not apply, and it carries the service key's claims as Storage does.
 */
const STORAGE_ADMIN: Actor = { role: "supabase_storage_admin", claims: { role: "service_role" } };

/** The API role a JWT names (no role means anon, as for PostgREST); any other role is refused. */
function actorOf(claims: JWTPayload): Actor {
  const role = claims.role ?? "anon";
  if (typeof role !== "string" || !API_ROLES.has(role)) {
    throw errors.accessDenied(`role "${String(role)}" is not allowed`);
  }
  return { role, claims };
}

/** Storage records the JWT's `sub` as owner_id, and as owner too when it is a user id. */
function ownerOf(actor: Actor): { owner: string | null; ownerId: string | null } {
  const sub = typeof actor.claims.sub === "string" ? actor.claims.sub : null;
  return { owner: sub && UUID.test(sub) ? sub : null, ownerId: sub };
}

/**
 * Whom Storage reads an object as: itself in a public bucket, where anyone may read, else the
 * caller, whose select policy decides. `anonymousError` is what a caller without a valid JWT
 * gets for a bucket that is missing or private.
 */
function readerFor(
  bucket: BucketRow | null,
  caller: Actor | null,
  anonymousError: StorageError,
): Actor {
  if (bucket?.public) return STORAGE_ADMIN;
  if (!caller) throw anonymousError;
  if (!bucket) throw errors.noSuchBucket();
  return caller;
}

// --- request bodies -------------------------------------------------------------------------

/**
 * Yields `source`'s chunks up to `cap` bytes in all, then keeps reading and discarding the
 * rest, so that a client still sending an oversized body gets Storage's error rather than a
 * reset connection. `received.bytes` counts everything read.
 */
async function* upTo(
  source: AsyncIterable<Uint8Array>,
  cap: number,
  received: { bytes: number },
): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    received.bytes += chunk.byteLength;
    if (received.bytes <= cap) yield chunk;
  }
}

async function readJsonBody(req: IncomingMessage): Promise<Json> {
  let body: Json | undefined;
  try {
    body = await readJson(req);
  } catch (error) {
    throw error instanceof BodyTooLargeError ? errors.entityTooLarge() : error;
  }
  if (!body) throw errors.invalidRequest("Body is not valid JSON");
  return body;
}

// The field readers phrase their errors as Fastify's schema validation, which Storage uses, does.

function stringField(body: Json, name: string): string {
  const value = body[name];
  if (value === undefined) {
    throw errors.invalidRequest(`body must have required property '${name}'`);
  }
  if (typeof value !== "string") throw errors.invalidRequest(`body/${name} must be string`);
  return value;
}

function optionalStringField(body: Json, name: string): string | undefined {
  return body[name] === undefined ? undefined : stringField(body, name);
}

function stringListField(body: Json, name: string): string[] {
  const value = body[name];
  if (value === undefined) {
    throw errors.invalidRequest(`body must have required property '${name}'`);
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw errors.invalidRequest(`body/${name} must be an array of strings`);
  }
  if (value.length === 0) {
    throw errors.invalidRequest(`body/${name} must NOT have fewer than 1 items`);
  }
  return value;
}

/** An integer of at least `minimum`; numeric strings count, as Fastify coerces them. */
function integerValue(value: unknown, label: string, minimum: number): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) {
    throw errors.invalidRequest(`${label} must be an integer >= ${minimum}`);
  }
  return number;
}

function integerField(body: Json, name: string, minimum: number, fallback?: number): number {
  const value = body[name];
  if (value !== undefined) return integerValue(value, `body/${name}`, minimum);
  if (fallback === undefined) {
    throw errors.invalidRequest(`body must have required property '${name}'`);
  }
  return fallback;
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A copy's body.metadata: the cacheControl and mimetype it may set, each a string when given. */
function fileMetadataField(body: Json): Partial<ObjectMetadata> {
  const value = body.metadata;
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw errors.invalidRequest("body/metadata must be object");
  const given: Partial<ObjectMetadata> = {};
  for (const name of ["cacheControl", "mimetype"] as const) {
    const field = value[name];
    if (field === undefined) continue;
    if (typeof field !== "string") {
      throw errors.invalidRequest(`body/metadata/${name} must be string`);
    }
    given[name] = field;
  }
  return given;
}

/** Custom metadata as JSON text; Storage ignores what does not parse as an object. */
function parseUserMetadata(text: string | undefined): Json | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : null;
  } catch {
    return null;
  }
}

/** Storage's x-metadata header: custom metadata as base64-encoded JSON. */
function userMetadataHeader(req: IncomingMessage): Json | null {
  const header = req.headers["x-metadata"];
  return typeof header === "string"
    ? parseUserMetadata(Buffer.from(header, "base64").toString("utf8"))
    : null;
}

/** Storage's check: the mimetype's type/subtype must equal an allowed one, or match an allowed `type/*`. */
function assertAllowedMimeType(mimetype: string, allowed: string[]): void {
  const [type, subtype] = mimetype.split("/");
  const accepted = subtype !== undefined && allowed.some((entry) => {
    const [allowedType, allowedSubtype] = entry.split("/");
    return allowedType === type && (allowedSubtype === "*" || allowedSubtype === subtype);
  });
  if (!accepted) throw errors.invalidMimeType(mimetype);
}

/** The length a request's content-length header declares, if it declares a valid one. */
function declaredLength(req: IncomingMessage): number | undefined {
  const length = Number(req.headers["content-length"]);
  return req.headers["content-length"] !== undefined && Number.isInteger(length) && length >= 0
    ? length
    : undefined;
}

/** An upload's bytes, not yet read, and what the request says about them. */
interface IncomingFile {
  bytes: AsyncIterable<Uint8Array>;
  mimetype: string;
  cacheControl: string;
  userMetadata: Json | null;
}

/** A raw body (storage-js sends ArrayBuffers, Buffers, strings and streams so), described by its headers. */
function rawFile(req: IncomingMessage): IncomingFile {
  return {
    bytes: req,
    mimetype: req.headers["content-type"] || "application/octet-stream",
    cacheControl: req.headers["cache-control"] ?? "no-cache",
    userMetadata: userMetadataHeader(req),
  };
}

/**
 * A multipart body, as storage-js sends Blobs, Files and FormData: the first file part holds
 * the bytes, and the cacheControl, contentType and metadata fields describe them.
 */
async function formFile(req: IncomingMessage, sizeLimit: number): Promise<IncomingFile> {
  const cap = sizeLimit + MULTIPART_OVERHEAD;
  const received = { bytes: 0 };
  let form: FormData;
  try {
    // The WHATWG body parser does the multipart parsing. Node's web stream is the global
    // ReadableStream; only their type declarations differ.
    const body = Readable.toWeb(Readable.from(upTo(req, cap, received))) as ReadableStream;
    form = await new Response(body, {
      headers: { "content-type": req.headers["content-type"] ?? "" },
    }).formData();
  } catch {
    // Past the cap the body was cut short, which is why it did not parse.
    throw received.bytes > cap
      ? errors.entityTooLarge()
      : errors.invalidRequest("No content provided");
  }
  const file = [...form.values()].find((value): value is File => typeof value !== "string");
  if (!file) throw errors.invalidRequest("No content provided");
  const field = (name: string) => {
    const value = form.get(name);
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const cacheSeconds = field("cacheControl");
  return {
    bytes: file.stream(),
    mimetype: field("contentType") ?? (file.type || "application/octet-stream"),
    cacheControl: cacheSeconds ? `max-age=${cacheSeconds}` : "no-cache",
    userMetadata: parseUserMetadata(field("metadata") ?? field("userMetadata")),
  };
}

// --- responses ------------------------------------------------------------------------------

/** Storage serves stored HTML as plain text, so that an uploaded page cannot run in the project's origin. */
function servedContentType(mimetype: string): string {
  return mimetype.includes("text/html") ? "text/plain" : mimetype;
}

function downloadHeaders(
  object: ObjectRow,
  size: number,
  query: URLSearchParams,
  expiresAt: number | undefined,
): Record<string, string | number> {
  const metadata = object.metadata ?? {};
  const headers: Record<string, string | number> = {
    "content-type": servedContentType(metadata.mimetype ?? "application/octet-stream"),
    "content-length": size,
    "last-modified": object.updated_at.toUTCString(),
  };
  if (metadata.eTag) headers.etag = metadata.eTag;
  // A signed URL's response expires with its token; other responses keep the upload's cache-control.
  if (expiresAt !== undefined) headers.expires = new Date(expiresAt * 1000).toUTCString();
  else if (metadata.cacheControl) headers["cache-control"] = metadata.cacheControl;
  const download = query.get("download");
  if (download !== null) {
    const filename = encodeURIComponent(download);
    headers["content-disposition"] = download === ""
      ? "attachment;"
      : `attachment; filename=${filename}; filename*=UTF-8''${filename};`;
  }
  return headers;
}

/** The body of GET /object/info, which storage-js's info() camelizes and exists() relies on. */
function infoOf(object: ObjectRow): Json {
  const metadata = object.metadata ?? {};
  return {
    id: object.id,
    name: object.name,
    version: object.version,
    bucket_id: object.bucket_id,
    size: metadata.size ?? null,
    content_type: metadata.mimetype ?? null,
    cache_control: metadata.cacheControl ?? null,
    etag: metadata.eTag ?? null,
    metadata: object.user_metadata,
    last_modified: object.updated_at,
    created_at: object.created_at,
  };
}

function sendError(res: ServerResponse, error: unknown): void {
  // A download that fails mid-stream (most often, the client went away) can only be cut short.
  if (res.headersSent) return void res.destroy();
  if (error instanceof StorageError) return sendJson(res, error.httpStatus, error.render());
  console.error("storage:", error);
  sendJson(res, 500, {
    statusCode: "500",
    code: "InternalError",
    error: "Internal",
    message: "Internal Server Error",
  });
}

// --- buckets: what a create or update may set ------------------------------------------------

/** Storage's parseFileSizeToBytes: a size with a unit (decimal: 1 MB = 1,000,000 bytes). */
function parseFileSizeToBytes(text: string): number {
  const match = /(^[0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)$/i.exec(text);
  if (!match) throw errors.invalidFileSizeLimit();
  const value = +parseFloat(match[1]).toPrecision(3);
  const unit =
    { GB: 1e9, MB: 1e6, KB: 1e3, B: 1 }[match[2].toUpperCase() as "GB" | "MB" | "KB" | "B"];
  return value * unit;
}

/**
 * A bucket's file_size_limit from a request body: undefined when not given, null to remove
 * it, else bytes (a non-negative integer, or a string with a unit) within the global limit
 * (Storage's parseMaxSizeLimit answers EntityTooLarge past it).
 */
function fileSizeLimitField(body: Json, globalLimit: number): number | null | undefined {
  const value = body.file_size_limit;
  if (value === undefined || value === null) return value;
  let bytes: number;
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) throw errors.invalidFileSizeLimit();
    bytes = value;
  } else if (typeof value === "string") {
    bytes = parseFileSizeToBytes(value);
  } else {
    throw errors.invalidFileSizeLimit();
  }
  if (bytes > globalLimit) throw errors.entityTooLarge();
  return bytes;
}

/** allowed_mime_types: undefined when not given, null to remove, else types Storage's validateMimeType accepts. */
function mimeTypesField(body: Json): string[] | null | undefined {
  const value = body.allowed_mime_types;
  if (value === undefined || value === null) return value;
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw errors.invalidRequest("body/allowed_mime_types must be array");
  }
  const types = value.filter((type) => type);
  for (const type of types) {
    if (
      type.length > 1000 ||
      !/^([a-zA-Z0-9\-+.]+)\/([a-zA-Z0-9\-+.]+)(;\s*charset=[a-zA-Z0-9-]+)?$|\*$/.test(type)
    ) {
      throw errors.invalidMimeType(type);
    }
  }
  return types;
}

function booleanField(body: Json, name: string): boolean | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw errors.invalidRequest(`body/${name} must be boolean`);
  return value;
}

// --- the v2 listing ---------------------------------------------------------------------------

/** Storage's continuation token: base64 of `k:value` lines (l start after, o order, c column, a column value). */
interface ContinuationToken {
  startAfter: string;
  sortOrder?: string;
  sortColumn?: string;
  sortColumnAfter?: string;
}

const CONTINUATION_TOKEN_PARTS = {
  l: "startAfter",
  o: "sortOrder",
  c: "sortColumn",
  a: "sortColumnAfter",
} as const;

function encodeContinuationToken(token: ContinuationToken): string {
  const lines = Object.entries(CONTINUATION_TOKEN_PARTS)
    .filter(([, field]) => token[field])
    .map(([key, field]) => `${key}:${token[field]}`);
  return Buffer.from(lines.join("\n")).toString("base64");
}

function decodeContinuationToken(text: string): ContinuationToken {
  const token: ContinuationToken = { startAfter: "", sortOrder: "asc" };
  for (const part of Buffer.from(text, "base64").toString().split("\n")) {
    const match = /^(\S):(.*)/.exec(part);
    if (!match || !(match[1] in CONTINUATION_TOKEN_PARTS)) {
      throw errors.invalidParameter("continuation token");
    }
    token[CONTINUATION_TOKEN_PARTS[match[1] as keyof typeof CONTINUATION_TOKEN_PARTS]] = match[2];
  }
  return token;
}

/** A LIKE pattern matching `text` literally. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

// --- image transformations --------------------------------------------------------------------

/** Storage's TransformOptions (gravity and offsets are not emulated). */
interface Transform {
  width?: number;
  height?: number;
  resize?: "cover" | "contain" | "fill";
  format?: "origin" | "avif" | "webp";
  quality?: number;
}

const RESIZE_MODES = new Set(["cover", "contain", "fill"]);
const FORMATS = new Set(["origin", "avif", "webp"]);

/**
 * Transform options from a query string (GET /render/image/...) or a signing body's
 * `transform`, checked as Storage's transformationOptionsSchema checks them.
 */
function transformOf(get: (name: string) => unknown, where: string): Transform {
  const transform: Transform = {};
  for (const name of ["width", "height"] as const) {
    const value = get(name);
    if (value !== undefined && value !== null) {
      transform[name] = integerValue(value, `${where}/${name}`, 0);
    }
  }
  const resize = get("resize");
  if (resize !== undefined && resize !== null) {
    if (!RESIZE_MODES.has(String(resize))) {
      throw errors.invalidRequest(`${where}/resize must be equal to one of the allowed values`);
    }
    transform.resize = resize as Transform["resize"];
  }
  const format = get("format");
  if (format !== undefined && format !== null) {
    if (!FORMATS.has(String(format))) {
      throw errors.invalidRequest(`${where}/format must be equal to one of the allowed values`);
    }
    transform.format = format as Transform["format"];
  }
  const quality = get("quality");
  if (quality !== undefined && quality !== null) {
    const value = integerValue(quality, `${where}/quality`, 20);
    if (value > 100) throw errors.invalidRequest(`${where}/quality must be <= 100`);
    transform.quality = value;
  }
  return transform;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}

/**
 * What a signed URL's token carries (Storage's applyTransformation with keepOriginal):
 * `height:150,width:150,resize:cover,quality:80,format:webp`, sizes clamped.
 */
function transformationsString(transform: Transform): string {
  const segments: string[] = [];
  if (transform.height) {
    segments.push(`height:${clamp(transform.height, RENDER_SIZE.min, RENDER_SIZE.max)}`);
  }
  if (transform.width) {
    segments.push(`width:${clamp(transform.width, RENDER_SIZE.min, RENDER_SIZE.max)}`);
  }
  if (transform.width || transform.height) segments.push(`resize:${transform.resize}`);
  if (transform.quality) segments.push(`quality:${transform.quality}`);
  if (transform.format && transform.format !== "origin") {
    segments.push(`format:${transform.format}`);
  }
  return segments.join(",");
}

/** Storage's setTransformationsFromString: the token's transformations back as options. */
function transformFromString(text: string): Transform {
  const transform: Transform = {};
  for (const segment of text.split(",")) {
    const [name, value] = segment.split(":");
    if (value === undefined || value === "") continue;
    if (name === "width" || name === "height" || name === "quality") {
      transform[name] = parseInt(value, 10);
    } else if (name === "resize") {
      transform.resize = value as Transform["resize"];
    } else if (name === "format") {
      transform.format = value as Transform["format"];
    }
  }
  return transform;
}

/** imgproxy's resizing types as Storage maps them: cover fills and crops, contain fits, fill stretches. */
const SHARP_FIT = { cover: "cover", contain: "inside", fill: "fill" } as const;

/**
 * Renders an image as Storage's imgproxy would: resized within the limits (never enlarged,
 * as imgproxy by default), in the format asked for, or WebP when the client accepts it, or
 * the source's. A source that is not an image, or too large, is refused with the message
 * Storage gives imgproxy's refusal (400).
 */
async function renderImage(
  file: string,
  size: number,
  transform: Transform,
  accept: string,
): Promise<{ body: Buffer; contentType: string }> {
  if (size > RENDER_MAX_SOURCE_BYTES) {
    throw errors.imageProcessing(400, "The source image file is too large to process");
  }
  try {
    let image = sharp(file, { limitInputPixels: RENDER_MAX_SOURCE_PIXELS, animated: false });
    const source = await image.metadata();
    if (transform.width || transform.height) {
      image = image.resize({
        width: transform.width
          ? clamp(transform.width, RENDER_SIZE.min, RENDER_SIZE.max)
          : undefined,
        height: transform.height
          ? clamp(transform.height, RENDER_SIZE.min, RENDER_SIZE.max)
          : undefined,
        fit: SHARP_FIT[transform.resize ?? "cover"] ?? "cover",
        withoutEnlargement: true,
      });
    }
    const origin = source.format === "svg"
      ? "png"
      : source.format === "heif"
      ? "avif"
      : source.format;
    const format = transform.format === "avif" || transform.format === "webp"
      ? transform.format
      : transform.format !== "origin" && accept.includes("image/webp")
      ? "webp"
      : origin;
    const quality = transform.quality ?? RENDER_DEFAULT_QUALITY;
    const body = await image.toFormat(format as keyof FormatEnum, { quality }).toBuffer();
    return { body, contentType: `image/${format}` };
  } catch (error) {
    if (error instanceof StorageError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (/pixel limit/i.test(message)) {
      throw errors.imageProcessing(400, "The source image resolution is too large to process");
    }
    throw errors.imageProcessing(400, "The source image is invalid or unsupported for rendering");
  }
}

// --- SQL --------------------------------------------------------------------------------------

// The row writes of an upload; the inserts take the new row's id as $8.
const INSERT_OBJECT_SQL = `insert into storage.objects
  (bucket_id, name, owner, owner_id, metadata, user_metadata, version, id)
  values ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8)`;
const UPSERT_OBJECT_SQL = `${INSERT_OBJECT_SQL}
  on conflict (bucket_id, name) do update
    set owner = excluded.owner, owner_id = excluded.owner_id, metadata = excluded.metadata,
        user_metadata = excluded.user_metadata, version = excluded.version, updated_at = now()
  returning id`;
const UPDATE_OBJECT_SQL = `update storage.objects
  set owner = $3, owner_id = $4, metadata = $5::jsonb, user_metadata = $6::jsonb, version = $7, updated_at = now()
  where bucket_id = $1 and name = $2
  returning id`;

/**
 * storage.search's listing: the entries one level below the prefix, folders (names with more
 * levels below) as entries without an id. Storage matches the prefix and search text without
 * regard to case; sorting by name interleaves folders and files (a folder sorting as "name/"),
 * other sorts list the folders first.
 */
function listSql(column: string, order: "asc" | "desc"): string {
  const orderBy = column === "name"
    ? `lower(name || case when id is null then '/' else '' end) collate "C" ${order}`
    : `id is not null, case when id is null then name end ${order}, ${column} ${order}, name`;
  return `
    with matches as (
      select substr(name, char_length($2) + 1) as rest, id, updated_at, created_at, last_accessed_at, metadata
      from storage.objects
      where bucket_id = $1 and starts_with(lower(name), lower($3))
    )
    select * from (
      select distinct split_part(rest, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at,
             null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
      from matches where strpos(rest, '/') > 0
      union all
      select rest, id, updated_at, created_at, last_accessed_at, metadata
      from matches where strpos(rest, '/') = 0
    ) entries
    order by ${orderBy}
    limit $4 offset $5`;
}

async function findObject(
  db: Db,
  bucket: string,
  name: string,
  forUpdate = false,
): Promise<ObjectRow> {
  const lock = forUpdate ? "for update" : "";
  const { rows } = await db.query<ObjectRow>(
    `select ${OBJECT_COLUMNS} from storage.objects where bucket_id = $1 and name = $2 ${lock}`,
    [bucket, name],
  );
  if (!rows[0]) throw errors.noSuchKey();
  return rows[0];
}

/**
 * Serializes the writers of one object name, as Storage does with the same kind of advisory
 * lock, so that each knows which version it replaces.
 */
async function lockObjectName(db: Db, bucket: string, name: string): Promise<void> {
  await db.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [`${bucket}/${name}`]);
}

/** The version a write is about to replace, whose file goes once the write is committed. */
async function currentVersion(db: Db, bucket: string, name: string): Promise<ObjectVersion | null> {
  const { rows } = await db.query<{ version: string | null }>(
    "select version from storage.objects where bucket_id = $1 and name = $2",
    [bucket, name],
  );
  const version = rows[0]?.version;
  return version ? { bucket, name, version } : null;
}

interface ObjectWrite {
  actor: Actor;
  bucket: string;
  name: string;
  metadata: Json;
  userMetadata: Json | null;
  version: string;
}

/** Writes an object's row as the caller, so that the insert or update policy decides; returns its id. */
async function writeObjectRow(db: Db, mode: WriteMode, write: ObjectWrite): Promise<string> {
  const { owner, ownerId } = ownerOf(write.actor);
  const values = [
    write.bucket,
    write.name,
    owner,
    ownerId,
    JSON.stringify(write.metadata),
    JSON.stringify(write.userMetadata),
    write.version,
  ];
  if (mode === "update") {
    const { rows } = await db.query<{ id: string }>(UPDATE_OBJECT_SQL, values);
    if (!rows[0]) throw errors.noSuchKey(); // no row the caller may update
    return rows[0].id;
  }
  const id = randomUUID();
  if (mode === "create") {
    // No RETURNING: it would need the select policy too, and Storage lets callers who may only insert upload.
    await db.query(INSERT_OBJECT_SQL, [...values, id]);
    return id;
  }
  const { rows } = await db.query<{ id: string }>(UPSERT_OBJECT_SQL, [...values, id]);
  return rows[0].id;
}

/** A row whose bytes are stored, as the version that names its file. */
function storedVersion(row: ObjectRow): ObjectVersion {
  if (!row.version) throw errors.noSuchKey();
  return { bucket: row.bucket_id, name: row.name, version: row.version };
}

// --- the handler --------------------------------------------------------------------------

export function createStorageHandler(options: StorageOptions): SubHandler {
  const secret = new TextEncoder().encode(options.jwtSecret);
  // '~' cannot appear in a bucket name, so the folder for uploads in progress is never a bucket's.
  const tempDir = join(options.storageDir, "~uploads");

  // --- tokens and callers -----------------------------------------------------------------

  function signToken(claims: JWTPayload, expiresIn: number): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn)
      .sign(secret);
  }

  async function verifyToken(token: string): Promise<JWTPayload> {
    return (await jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
  }

  /** The caller of an authenticated route: a valid Bearer JWT, or Storage's AccessDenied with the reason. */
  async function authenticate(req: IncomingMessage): Promise<Actor> {
    const token = bearerToken(req);
    if (!token) throw errors.accessDenied("jwt must be provided");
    let claims: JWTPayload;
    try {
      claims = await verifyToken(token);
    } catch (error) {
      throw errors.accessDenied(jwtErrorMessage(error));
    }
    return actorOf(claims);
  }

  /** On the routes that serve public buckets to anyone, a missing or invalid JWT means no caller. */
  function tryAuthenticate(req: IncomingMessage): Promise<Actor | null> {
    return authenticate(req).catch(() => null);
  }

  /**
   * A signed download URL; with transformations (a createSignedUrl `transform`) the token
   * carries them and the URL is Storage's /render/image/sign/... route.
   */
  function signedUrl(
    bucket: string,
    name: string,
    expiresIn: number,
    transformations = "",
  ): Promise<string> {
    const url = `${bucket}/${name}`;
    const claims = transformations ? { transformations, url } : { url };
    const route = transformations ? "render/image" : "object";
    return signToken(claims, expiresIn).then((token) => `/${route}/sign/${url}?token=${token}`);
  }

  /** A signed URL's token: valid, unexpired, and issued for this very object. */
  async function verifySignedUrl(
    query: URLSearchParams,
    bucket: string,
    name: string,
  ): Promise<JWTPayload> {
    const token = query.get("token");
    if (!token) throw errors.invalidRequest("querystring must have required property 'token'");
    let claims: JWTPayload;
    try {
      claims = await verifyToken(token);
    } catch (error) {
      throw errors.invalidJwt(jwtErrorMessage(error));
    }
    if (claims.url !== `${bucket}/${name}`) throw errors.invalidSignature();
    return claims;
  }

  // --- database ---------------------------------------------------------------------------

  /**
   * Runs `work` in a transaction as `actor`: its role (set local role) and its claims
   * (request.jwt.claims, plus the request.jwt.claim.* settings older helpers read), as
   * PostgREST and Storage set them. A dry run asks the policies whether the work would pass,
   * as Storage's testPermission does, and keeps nothing.
   */
  async function transaction<T>(
    actor: Actor,
    work: (db: Db) => Promise<T>,
    { dryRun = false } = {},
  ): Promise<T> {
    const db = await options.pool.connect();
    try {
      await db.query("begin");
      await db.query(
        `select set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true),
                set_config('request.jwt.claim.role', $3, true), set_config('role', $4, true)`,
        [
          JSON.stringify(actor.claims),
          actor.claims.sub ?? "",
          String(actor.claims.role ?? ""),
          actor.role,
        ],
      );
      const result = await work(db);
      await db.query(dryRun ? "rollback" : "commit");
      return result;
    } catch (error) {
      await db.query("rollback").catch(() => {});
      throw fromDatabaseError(error);
    } finally {
      db.release();
    }
  }

  function findBucket(id: string): Promise<BucketRow | null> {
    return transaction(STORAGE_ADMIN, async (db) => {
      const { rows } = await db.query<BucketRow>(
        `select id, public, file_size_limit::float8 as file_size_limit, allowed_mime_types
         from storage.buckets where id = $1`,
        [id],
      );
      return rows[0] ?? null;
    });
  }

  async function requireBucket(id: string): Promise<BucketRow> {
    const bucket = await findBucket(id);
    if (!bucket) throw errors.noSuchBucket();
    return bucket;
  }

  // --- files ------------------------------------------------------------------------------

  function versionPath({ bucket, name, version }: ObjectVersion): string {
    // Names come from requests and from rows; neither may lead outside the bucket's folder.
    if (!isValidBucketName(bucket)) throw errors.invalidBucketName();
    if (!isValidKey(name)) throw errors.invalidKey(name);
    if (!/^[\w-]+$/.test(version)) throw errors.noSuchKey(); // not a version this stand-in stored
    return join(options.storageDir, bucket, ...name.split("/"), version);
  }

  /**
   * Streams a body into a new file under the temp folder, hashing it for the eTag, and fails
   * with EntityTooLarge past `sizeLimit` bytes (after draining the rest, see upTo).
   */
  async function writeTempFile(
    bytes: AsyncIterable<Uint8Array>,
    sizeLimit: number,
  ): Promise<{ file: string; size: number; eTag: string }> {
    await mkdir(tempDir, { recursive: true });
    const file = join(tempDir, randomUUID());
    const md5 = createHash("md5");
    const received = { bytes: 0 };
    try {
      const handle = await open(file, "wx");
      try {
        for await (const chunk of upTo(bytes, sizeLimit, received)) {
          md5.update(chunk);
          await handle.write(chunk);
        }
      } finally {
        await handle.close();
      }
      if (received.bytes > sizeLimit) throw errors.entityTooLarge();
      return { file, size: received.bytes, eTag: `"${md5.digest("hex")}"` };
    } catch (error) {
      await rm(file, { force: true });
      throw error;
    }
  }

  /**
   * Brings a file to `to` with `put` (rename or link), creating its folders. A concurrent
   * removeVersion can prune a folder between the two steps, so a vanished folder is retried.
   */
  async function placeFile(
    from: string,
    to: string,
    put: (from: string, to: string) => Promise<void>,
  ) {
    for (let attempt = 1;; attempt++) {
      await mkdir(dirname(to), { recursive: true });
      try {
        return await put(from, to);
      } catch (error) {
        if (errorCode(error) !== "ENOENT" || attempt === 3) throw error;
      }
    }
  }

  /**
   * Deletes a version's file and then the folders that leaves empty. Best effort: it runs once
   * the rows no longer name the file, so a failure only leaves unreferenced bytes behind.
   */
  async function removeVersion(version: ObjectVersion): Promise<void> {
    try {
      await rm(versionPath(version), { force: true });
    } catch (error) {
      console.error("storage: could not delete a replaced file:", error);
      return;
    }
    const segments = version.name.split("/");
    for (let depth = segments.length; depth > 0; depth--) {
      // rmdir refuses a folder that still holds something, which ends the climb
      const folder = join(options.storageDir, version.bucket, ...segments.slice(0, depth));
      if (!(await rmdir(folder).then(() => true, () => false))) return;
    }
  }

  async function openVersion(version: ObjectVersion): Promise<FileHandle> {
    try {
      return await open(versionPath(version));
    } catch (error) {
      throw errorCode(error) === "ENOENT" ? errors.noSuchKey() : error;
    }
  }

  /** The outcome of the row changes that make `target` current; see commitVersion. */
  interface VersionWrite<T> {
    result: T;
    /** The file that becomes the target's: an upload's temp file, or the version copied or moved. */
    from: string;
    /** The version whose file is deleted once the change is committed. */
    superseded: ObjectVersion | null;
  }

  /**
   * Makes `target` an object's current version: `write` changes the rows, then the file is
   * put in place as the transaction's last step. Until COMMIT succeeds the old row and file
   * stay current (a failure removes the new file); the superseded file is deleted only after.
   */
  async function commitVersion<T>(
    actor: Actor,
    target: ObjectVersion,
    put: (from: string, to: string) => Promise<void>,
    write: (db: Db) => Promise<VersionWrite<T>>,
  ): Promise<T> {
    const to = versionPath(target);
    let placed = false;
    let change: VersionWrite<T>;
    try {
      change = await transaction(actor, async (db) => {
        const outcome = await write(db);
        await placeFile(outcome.from, to, put);
        placed = true;
        return outcome;
      });
    } catch (error) {
      if (placed) await removeVersion(target);
      throw error;
    }
    if (change.superseded) await removeVersion(change.superseded);
    return change.result;
  }

  // --- uploads ----------------------------------------------------------------------------

  /**
   * Asks the policies whether `actor` may write the object, before the bytes are stored, as
   * Storage's permission check does: the row it would write, with the metadata the request
   * declares (type and length, no eTag: no bytes are held yet), in a transaction it rolls back.
   */
  async function checkWriteAllowed(
    actor: Actor,
    bucket: string,
    name: string,
    mode: WriteMode,
    declared: { mimetype?: string; contentLength?: number } = {},
  ): Promise<void> {
    const probe = {
      actor,
      bucket,
      name,
      metadata: declared,
      userMetadata: null,
      version: randomUUID(),
    };
    await transaction(actor, (db) => writeObjectRow(db, mode, probe), { dryRun: true });
  }

  /** The most bytes an object in this bucket may have: its own limit, within the global one. */
  function sizeLimitOf(bucket: BucketRow): number {
    return bucket.file_size_limit
      ? Math.min(bucket.file_size_limit, options.globalFileSizeLimit)
      : options.globalFileSizeLimit;
  }

  /**
   * What an upload must pass, for bytes already stored: a copy or a move brings them into the
   * destination bucket, which checks their type and size as it would an upload's (415
   * InvalidMimeType, 413 EntityTooLarge). Storage itself checks neither; it leaves that to the
   * policies (see private.object_content_allowed), which this stand-in also runs.
   */
  function assertFitsBucket(bucket: BucketRow, metadata: Partial<ObjectMetadata>): void {
    if (bucket.allowed_mime_types?.length) {
      assertAllowedMimeType(
        metadata.mimetype ?? "application/octet-stream",
        bucket.allowed_mime_types,
      );
    }
    if ((metadata.size ?? 0) > sizeLimitOf(bucket)) throw errors.entityTooLarge();
  }

  /**
   * Reads an upload in Storage's order: what the request says about the file (for a
   * multipart body, its fields, so the body is parsed first), its type checked against the
   * bucket's (415), then the policies asked with the declared type and length as Storage's
   * permission check carries them (a refused caller gets the RLS error and nothing is stored),
   * then the bytes into a temp file within the size limit (413).
   */
  async function receiveUpload(
    req: IncomingMessage,
    actor: Actor,
    bucket: BucketRow,
    name: string,
    mode: WriteMode,
  ) {
    const sizeLimit = sizeLimitOf(bucket);
    const multipart = (req.headers["content-type"] ?? "").startsWith("multipart/form-data");
    const incoming = multipart ? await formFile(req, sizeLimit) : rawFile(req);
    if (bucket.allowed_mime_types?.length) {
      assertAllowedMimeType(incoming.mimetype, bucket.allowed_mime_types);
    }
    // A multipart body's length includes its boundaries, so Storage declares none for it.
    const declared = multipart ? undefined : declaredLength(req);
    await checkWriteAllowed(actor, bucket.id, name, mode, {
      mimetype: incoming.mimetype,
      contentLength: declared,
    });
    const stored = await writeTempFile(incoming.bytes, sizeLimit);
    const metadata: ObjectMetadata = {
      eTag: stored.eTag,
      size: stored.size,
      mimetype: incoming.mimetype,
      cacheControl: incoming.cacheControl,
      lastModified: new Date().toISOString(),
      contentLength: stored.size,
      httpStatusCode: 200,
    };
    // Storage stores what the request gave, or {} (its `{ ...request.userMetadata }`).
    return { file: stored.file, metadata, userMetadata: incoming.userMetadata ?? {} };
  }

  async function storeUpload(
    req: IncomingMessage,
    actor: Actor,
    bucketId: string,
    name: string,
    mode: WriteMode,
  ): Promise<{ Id: string; Key: string }> {
    const bucket = await requireBucket(bucketId);
    const upload = await receiveUpload(req, actor, bucket, name, mode);
    try {
      const target = { bucket: bucketId, name, version: randomUUID() };
      const id = await commitVersion(actor, target, rename, async (db) => {
        await lockObjectName(db, bucketId, name);
        const superseded = await currentVersion(db, bucketId, name);
        const id = await writeObjectRow(db, mode, {
          actor,
          bucket: bucketId,
          name,
          metadata: upload.metadata,
          userMetadata: upload.userMetadata,
          version: target.version,
        });
        return { result: id, from: upload.file, superseded };
      });
      return { Id: id, Key: `${bucketId}/${name}` };
    } finally {
      await rm(upload.file, { force: true }); // already gone if it became the new version
    }
  }

  // --- routes -----------------------------------------------------------------------------

  /** POST /object/{bucket}/{name} (x-upsert: true to replace) and PUT, which replaces. */
  async function uploadObject(
    { req, res, params: [bucketId, name] }: Call,
    mode: WriteMode,
  ): Promise<void> {
    const actor = await authenticate(req);
    sendJson(res, 200, await storeUpload(req, actor, bucketId, name, mode));
  }

  /** GET /object/{bucket}/{name} (a missing or invalid JWT is allowed) and /object/authenticated/... */
  async function getObject(
    { req, res, params: [bucketId, name], query }: Call,
    jwt: "required" | "optional",
  ) {
    const caller = jwt === "required" ? await authenticate(req) : await tryAuthenticate(req);
    const bucket = await findBucket(bucketId);
    const reader = readerFor(bucket, caller, errors.accessDenied("Access denied to this bucket"));
    await sendObject(res, await transaction(reader, (db) => findObject(db, bucketId, name)), query);
  }

  async function getPublicObject({ res, params: [bucketId, name], query }: Call): Promise<void> {
    const bucket = await findBucket(bucketId);
    if (!bucket?.public) throw errors.noSuchBucket();
    await sendObject(
      res,
      await transaction(STORAGE_ADMIN, (db) => findObject(db, bucketId, name)),
      query,
    );
  }

  async function sendObject(
    res: ServerResponse,
    object: ObjectRow,
    query: URLSearchParams,
    expiresAt?: number,
  ): Promise<void> {
    const handle = await openVersion(storedVersion(object));
    try {
      const { size } = await handle.stat();
      res.writeHead(200, downloadHeaders(object, size, query, expiresAt));
    } catch (error) {
      await handle.close();
      throw error;
    }
    await pipeline(handle.createReadStream(), res); // the stream closes the handle
  }

  /** POST /object/list/{bucket}: storage.search, as the caller, so the select policy filters. */
  async function listObjects({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const body = await readJsonBody(req);
    const given = stringField(body, "prefix");
    const prefix = given === "" || given.endsWith("/") ? given : `${given}/`; // a prefix is a folder
    const search = optionalStringField(body, "search") ?? "";
    const sortBy = isPlainObject(body.sortBy) ? body.sortBy : {};
    const column = LIST_SORT_COLUMNS.has(String(sortBy.column)) ? String(sortBy.column) : "name";
    const order = String(sortBy.order).toLowerCase() === "desc" ? "desc" : "asc";
    const limit = integerField(body, "limit", 1, 100);
    const offset = integerField(body, "offset", 0, 0);
    const entries = await transaction(actor, async (db) => {
      return (await db.query(listSql(column, order), [
        bucketId,
        prefix,
        prefix + search,
        limit,
        offset,
      ])).rows;
    });
    sendJson(res, 200, entries);
  }

  /** DELETE /object/{bucket} with { prefixes }: deletes what the delete policy allows; returns those rows. */
  async function removeObjects({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const names = stringListField(await readJsonBody(req), "prefixes");
    const deleted = await transaction(actor, async (db) => {
      const { rows } = await db.query<ObjectRow>(
        "delete from storage.objects where bucket_id = $1 and name = any($2::text[]) returning *",
        [bucketId, names],
      );
      return rows;
    });
    await Promise.all(
      deleted.filter((row) => row.version).map((row) => removeVersion(storedVersion(row))),
    );
    sendJson(res, 200, deleted);
  }

  /** The source and destination of a move or copy, from its body. */
  function transferOf(body: Json) {
    const bucketId = stringField(body, "bucketId");
    const destination = {
      bucket: optionalStringField(body, "destinationBucket") ?? bucketId,
      name: stringField(body, "destinationKey"),
      version: randomUUID(),
    };
    assertValidKey(destination.name);
    return { bucketId, sourceKey: stringField(body, "sourceKey"), destination };
  }

  /**
   * POST /object/move: the row itself moves (keeping its id) as the caller, so the source must
   * pass the select and update policies and the new name the update policy's check. The
   * destination bucket must exist and take the object's type and size, as for an upload.
   */
  async function moveObject({ req, res }: Call): Promise<void> {
    const actor = await authenticate(req);
    const { bucketId, sourceKey, destination } = transferOf(await readJsonBody(req));
    const { owner, ownerId } = ownerOf(actor);
    const bucket = await requireBucket(destination.bucket);
    const id = await commitVersion(actor, destination, link, async (db) => {
      await lockObjectName(db, destination.bucket, destination.name);
      const source = await findObject(db, bucketId, sourceKey, true);
      assertFitsBucket(bucket, source.metadata ?? {});
      await db.query(
        `update storage.objects
         set bucket_id = $2, name = $3, owner = $4, owner_id = $5, version = $6, updated_at = now()
         where id = $1`,
        [source.id, destination.bucket, destination.name, owner, ownerId, destination.version],
      );
      const superseded = storedVersion(source);
      return { result: source.id, from: versionPath(superseded), superseded };
    });
    sendJson(res, 200, {
      message: "Successfully moved",
      Id: id,
      Key: destination.name,
    });
  }

  /**
   * POST /object/copy: the caller must be able to read the source and to create (or, with
   * x-upsert, replace) the destination, and the destination bucket must take the copy's type
   * and size as it would an upload's. The copy carries the source's metadata; with
   * copyMetadata false, body.metadata may give its cacheControl and mimetype (Storage keeps
   * the source's where it gives none). Versions are never modified, so the copy can share the
   * source's file through a hard link.
   */
  async function copyObject({ req, res }: Call): Promise<void> {
    const actor = await authenticate(req);
    const body = await readJsonBody(req);
    const { bucketId, sourceKey, destination } = transferOf(body);
    const copyMetadata = body.copyMetadata !== false;
    const given = copyMetadata ? {} : fileMetadataField(body);
    const mode: WriteMode = req.headers["x-upsert"] === "true" ? "upsert" : "create";
    const bucket = await requireBucket(destination.bucket);
    const id = await commitVersion(actor, destination, link, async (db) => {
      const source = await findObject(db, bucketId, sourceKey);
      const metadata = { ...source.metadata, ...given, lastModified: new Date().toISOString() };
      assertFitsBucket(bucket, metadata);
      await lockObjectName(db, destination.bucket, destination.name);
      const superseded = await currentVersion(db, destination.bucket, destination.name);
      const id = await writeObjectRow(db, mode, {
        actor,
        bucket: destination.bucket,
        name: destination.name,
        metadata,
        userMetadata: copyMetadata ? source.user_metadata : userMetadataHeader(req),
        version: destination.version,
      });
      return { result: id, from: versionPath(storedVersion(source)), superseded };
    });
    sendJson(res, 200, { Id: id, Key: `${destination.bucket}/${destination.name}` });
  }

  /** POST /object/sign/{bucket}/{name}: the caller must be able to read the object to share it. */
  async function signUrl({ req, res, params: [bucketId, name] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const body = await readJsonBody(req);
    const expiresIn = integerField(body, "expiresIn", 1);
    let transform: Transform = {};
    if (body.transform !== undefined) {
      if (!isPlainObject(body.transform)) {
        throw errors.invalidRequest("body/transform must be object");
      }
      const given = body.transform;
      transform = transformOf((key) => given[key], "body/transform");
    }
    await transaction(actor, (db) => findObject(db, bucketId, name));
    sendJson(res, 200, {
      signedURL: await signedUrl(bucketId, name, expiresIn, transformationsString(transform)),
    });
  }

  /** POST /object/sign/{bucket} with { expiresIn, paths }: an entry per path, with an error where the caller cannot read. */
  async function signUrls({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const body = await readJsonBody(req);
    const expiresIn = integerField(body, "expiresIn", 1);
    const paths = stringListField(body, "paths");
    const readable = await transaction(actor, async (db) => {
      const { rows } = await db.query<{ name: string }>(
        "select name from storage.objects where bucket_id = $1 and name = any($2::text[])",
        [bucketId, paths],
      );
      return new Set(rows.map((row) => row.name));
    });
    const entries = await Promise.all(
      paths.map(async (path) =>
        readable.has(path)
          ? { error: null, path, signedURL: await signedUrl(bucketId, path, expiresIn) }
          : {
            error: "Either the object does not exist or you do not have access to it",
            path,
            signedURL: null,
          }
      ),
    );
    sendJson(res, 200, entries);
  }

  /** GET /object/sign/{bucket}/{name}?token=: anyone holding the token may download, until it expires. */
  async function getSignedObject({ res, params: [bucketId, name], query }: Call): Promise<void> {
    const { exp } = await verifySignedUrl(query, bucketId, name);
    await sendObject(
      res,
      await transaction(STORAGE_ADMIN, (db) => findObject(db, bucketId, name)),
      query,
      exp,
    );
  }

  /**
   * POST /object/upload/sign/{bucket}/{name}: the signer must pass the insert (or, with
   * x-upsert, the upsert) policies now. The token carries the signer's claims, nested so that
   * it cannot pass for an access token, and the upload later runs as the signer.
   */
  async function signUploadUrl({ req, res, params: [bucketId, name] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const upsert = req.headers["x-upsert"] === "true";
    await requireBucket(bucketId);
    // Storage asks with what the signing request declares: its own content type and length.
    await checkWriteAllowed(actor, bucketId, name, upsert ? "upsert" : "create", {
      mimetype: req.headers["content-type"],
      contentLength: declaredLength(req),
    });
    const url = `${bucketId}/${name}`;
    const token = await signToken({ url, upsert, signer: actor.claims }, UPLOAD_URL_EXPIRY);
    sendJson(res, 200, { url: `/object/upload/sign/${url}?token=${token}`, token });
  }

  /** PUT /object/upload/sign/{bucket}/{name}?token=: the upload the token allows, made as its signer. */
  async function uploadToSignedUrl(
    { req, res, params: [bucketId, name], query }: Call,
  ): Promise<void> {
    const claims = await verifySignedUrl(query, bucketId, name);
    // A download URL's token names the object too, but carries no signer.
    if (!isPlainObject(claims.signer)) throw errors.invalidSignature();
    const mode = claims.upsert === true ? "upsert" : "create";
    sendJson(res, 200, await storeUpload(req, actorOf(claims.signer), bucketId, name, mode));
  }

  /** GET /bucket: the buckets the caller's policies on storage.buckets let it see. */
  async function listBuckets({ req, res, query }: Call): Promise<void> {
    const actor = await authenticate(req);
    const sortColumn = query.get("sortColumn") ?? "";
    const column = BUCKET_SORT_COLUMNS.has(sortColumn) ? sortColumn : "name";
    const order = query.get("sortOrder") === "desc" ? "desc" : "asc";
    const limit = query.has("limit")
      ? integerValue(query.get("limit"), "querystring/limit", 1)
      : null;
    const offset = query.has("offset")
      ? integerValue(query.get("offset"), "querystring/offset", 0)
      : 0;
    const buckets = await transaction(actor, async (db) => {
      const { rows } = await db.query(
        `select ${BUCKET_LIST_COLUMNS} from storage.buckets
         where $1::text is null or name ilike '%' || $1 || '%'
         order by ${column} ${order} limit $2 offset $3`,
        [query.get("search"), limit, offset],
      );
      return rows;
    });
    sendJson(res, 200, buckets);
  }

  async function getBucket({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const bucket = await transaction(actor, async (db) => {
      const { rows } = await db.query(
        `select ${BUCKET_COLUMNS} from storage.buckets where id = $1`,
        [bucketId],
      );
      return rows[0];
    });
    if (!bucket) throw errors.noSuchBucket();
    sendJson(res, 200, bucket);
  }

  // --- bucket writes ----------------------------------------------------------------------

  /**
   * POST /bucket: inserted as the caller, so the insert policies on storage.buckets decide
   * (this project has none: only the service role, which bypasses RLS, creates buckets, as on
   * hosted Supabase; others get Storage's RLS error).
   */
  async function createBucket({ req, res }: Call): Promise<void> {
    const actor = await authenticate(req);
    const body = await readJsonBody(req);
    const name = stringField(body, "name");
    const id = optionalStringField(body, "id") || name;
    if (name.trim() !== name || !isValidBucketName(name) || !isValidBucketName(id)) {
      throw errors.invalidBucketName();
    }
    const type = optionalStringField(body, "type");
    if (type !== undefined && type !== "STANDARD" && type !== "ANALYTICS") {
      throw errors.invalidRequest("body/type must be equal to one of the allowed values");
    }
    if (type === "ANALYTICS") {
      throw new StorageError(
        409,
        "FeatureNotEnabled",
        "The feature Iceberg buckets are not enabled for this tenant is not enabled for this resource",
      );
    }
    const isPublic = booleanField(body, "public") ?? false;
    const fileSizeLimit = fileSizeLimitField(body, options.globalFileSizeLimit);
    const allowedMimeTypes = mimeTypesField(body);
    const { owner, ownerId } = ownerOf(actor);
    try {
      await transaction(actor, (db) =>
        db.query(
          `insert into storage.buckets (id, name, owner, owner_id, public, allowed_mime_types, file_size_limit, type)
           values ($1, $2, $3, $4, $5, $6, $7, 'STANDARD')`,
          [id, name, owner, ownerId, isPublic, allowedMimeTypes ?? null, fileSizeLimit ?? null],
        ));
    } catch (error) {
      throw error instanceof StorageError && error.code === "KeyAlreadyExists"
        ? errors.bucketAlreadyExists()
        : error;
    }
    sendJson(res, 200, { name });
  }

  /** PUT /bucket/{id}: updated as the caller; a bucket its policies hide is not found. */
  async function updateBucket({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const body = await readJsonBody(req);
    if (!isValidBucketName(bucketId)) throw errors.invalidBucketName();
    const changes: [column: string, value: unknown][] = [];
    const isPublic = booleanField(body, "public");
    if (isPublic !== undefined) changes.push(["public", isPublic]);
    const fileSizeLimit = fileSizeLimitField(body, options.globalFileSizeLimit);
    if (fileSizeLimit !== undefined) changes.push(["file_size_limit", fileSizeLimit]);
    const allowedMimeTypes = mimeTypesField(body);
    if (allowedMimeTypes !== undefined) changes.push(["allowed_mime_types", allowedMimeTypes]);
    if (changes.length === 0) throw errors.noContentProvided();
    const updated = await transaction(actor, async (db) => {
      const set = changes.map(([column], index) => `${column} = $${index + 2}`).join(", ");
      const { rowCount } = await db.query(
        `update storage.buckets set ${set} where id = $1`,
        [bucketId, ...changes.map(([, value]) => value)],
      );
      return rowCount ?? 0;
    });
    if (updated === 0) throw errors.noSuchBucket();
    sendJson(res, 200, { message: "Successfully updated" });
  }

  /**
   * DELETE /bucket/{id}: as Storage does, in one transaction: the bucket found and locked
   * and its objects counted by Storage itself (missing: NoSuchBucket; not empty:
   * ResourceNotEmpty, 409), then deleted as the caller (none deleted: NoSuchBucket).
   */
  async function deleteBucket({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    await readJsonBody(req);
    await transaction(actor, async (db) => {
      await db.query("set local role supabase_storage_admin");
      const { rows } = await db.query(
        "select id from storage.buckets where id = $1 for update",
        [bucketId],
      );
      if (!rows[0]) throw errors.noSuchBucket();
      const { rowCount } = await db.query(
        "select 1 from storage.objects where bucket_id = $1 limit 1",
        [bucketId],
      );
      if (rowCount) throw errors.bucketNotEmpty();
      await db.query(`set local role ${actor.role}`); // one of API_ROLES
      const deleted = await db.query("delete from storage.buckets where id = $1", [bucketId]);
      if (!deleted.rowCount) throw errors.noSuchBucket();
    });
    sendJson(res, 200, { message: "Successfully deleted" });
  }

  /**
   * POST /bucket/{id}/empty: the service role only (Storage's enforceJwtRole: 403 "Access
   * denied: Invalid role" for anyone else). Storage queues the deletion of every object; here
   * the rows go at once, as Storage itself (so triggers on storage.objects see each delete),
   * then their files.
   */
  async function emptyBucket({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    if (actor.role !== "service_role") throw errors.invalidRole();
    await readJsonBody(req);
    await requireBucket(bucketId);
    const deleted = await transaction(STORAGE_ADMIN, async (db) => {
      const { rowCount } = await db.query(
        "select 1 from storage.objects where bucket_id = $1 limit $2",
        [bucketId, EMPTY_BUCKET_MAX + 1],
      );
      if ((rowCount ?? 0) > EMPTY_BUCKET_MAX) {
        throw errors.unableToEmptyBucket(
          "Unable to empty the bucket because it contains too many objects",
        );
      }
      const { rows } = await db.query<ObjectRow>(
        `delete from storage.objects where bucket_id = $1 and created_at <= now() returning ${OBJECT_COLUMNS}`,
        [bucketId],
      );
      return rows;
    });
    await Promise.all(
      deleted.filter((row) => row.version).map((row) => removeVersion(storedVersion(row))),
    );
    sendJson(res, 200, {
      message: "Empty bucket has been queued. Completion may take up to an hour.",
    });
  }

  // --- object HEAD and info on every route ------------------------------------------------

  /**
   * Whom Storage reads an object's metadata as (its getObjectInfo): on the public routes
   * (HEAD /object/public/..., GET /object/info/public/...) only public buckets, read by
   * Storage itself; on the authenticated routes a valid JWT is required; on the plain routes
   * a caller without a valid JWT sees public buckets only. A public bucket is read by Storage
   * itself, a private one as the caller.
   */
  async function infoReader(
    req: IncomingMessage,
    bucketId: string,
    route: "public" | "authenticated" | "plain",
  ): Promise<Actor> {
    const bucket = await findBucket(bucketId);
    if (route === "public") {
      if (!bucket?.public) throw errors.noSuchBucket();
      return STORAGE_ADMIN;
    }
    const caller = route === "authenticated" ? await authenticate(req) : await tryAuthenticate(req);
    return readerFor(bucket, caller, errors.noSuchBucket());
  }

  async function objectInfo(
    { req, res, params: [bucketId, name] }: Call,
    route: "public" | "authenticated" | "plain",
  ): Promise<void> {
    const reader = await infoReader(req, bucketId, route);
    sendJson(res, 200, infoOf(await transaction(reader, (db) => findObject(db, bucketId, name))));
  }

  /** HEAD on an object: its headers, no body (Storage's HeadRenderer). */
  async function headObject(
    { req, res, params: [bucketId, name], query }: Call,
    route: "public" | "authenticated" | "plain",
  ): Promise<void> {
    const reader = await infoReader(req, bucketId, route);
    const object = await transaction(reader, (db) => findObject(db, bucketId, name));
    res.writeHead(200, downloadHeaders(object, object.metadata?.size ?? 0, query, undefined));
    res.end();
  }

  // --- the v2 listing ---------------------------------------------------------------------

  /**
   * POST /object/list-v2/{bucket} (storage-js listV2): { prefix, limit (at most 1000),
   * cursor, with_delimiter, sortBy: { column: name | created_at | updated_at, order } },
   * read as the caller so the select policies filter. Without a delimiter every object under
   * the prefix (full names), in name order or by the sort column then name; with one, each
   * folder below the prefix once ({ id: null, name: "<prefix><folder>/" }) among the objects
   * directly in it, in name order. Answers { hasNext, nextCursor, nextCursorKey, folders,
   * objects } with Storage's continuation token.
   */
  async function listObjectsV2({ req, res, params: [bucketId] }: Call): Promise<void> {
    const actor = await authenticate(req);
    const body = await readJsonBody(req);
    const prefix = optionalStringField(body, "prefix") ?? "";
    const limit = Math.min(integerField(body, "limit", 1, LIST_V2_MAX_KEYS), LIST_V2_MAX_KEYS);
    const cursorText = optionalStringField(body, "cursor");
    const delimiter = booleanField(body, "with_delimiter") ? "/" : undefined;
    let sortBy: { column?: string; order?: string } = {};
    if (body.sortBy !== undefined) {
      if (!isPlainObject(body.sortBy)) throw errors.invalidRequest("body/sortBy must be object");
      const column = stringField(body.sortBy, "column");
      if (!["name", "updated_at", "created_at"].includes(column)) {
        throw errors.invalidRequest(
          "body/sortBy/column must be equal to one of the allowed values",
        );
      }
      const order = optionalStringField(body.sortBy, "order");
      if (order !== undefined && order !== "asc" && order !== "desc") {
        throw errors.invalidRequest("body/sortBy/order must be equal to one of the allowed values");
      }
      sortBy = { column, order };
    }
    const cursor = cursorText ? decodeContinuationToken(cursorText) : undefined;
    const sortColumnAsked = cursor?.sortColumn || sortBy.column;
    const sortOrderAsked = cursor?.sortOrder || sortBy.order;
    const order = sortOrderAsked === "desc" ? "desc" : "asc";
    const after = order === "asc" ? ">" : "<";

    const rows = await transaction(actor, async (db) => {
      const values: unknown[] = [bucketId];
      const conditions = ["bucket_id = $1"];
      if (prefix) {
        values.push(`${escapeLike(prefix)}%`);
        conditions.push(`name like $${values.length}`);
      }
      if (!delimiter) {
        const column = sortColumnAsked === "updated_at" || sortColumnAsked === "created_at"
          ? sortColumnAsked
          : undefined;
        if (cursor?.startAfter) {
          if (column && cursor.sortColumnAfter) {
            values.push(cursor.sortColumnAfter, cursor.startAfter);
            conditions.push(
              `row(date_trunc('milliseconds', ${column}), name collate "C") ${after}
               row(coalesce(nullif($${
                values.length - 1
              }, '')::timestamptz, 'epoch'::timestamptz), $${values.length})`,
            );
          } else {
            values.push(cursor.startAfter);
            conditions.push(`name collate "C" ${after} $${values.length}`);
          }
        }
        values.push(limit + 1);
        const { rows } = await db.query(
          `select id, name, metadata, updated_at, created_at, last_accessed_at
           from storage.objects where ${conditions.join(" and ")}
           order by ${column ? `${column} ${order}, ` : ""}name collate "C" ${order}
           limit $${values.length}`,
          values,
        );
        return rows as Json[];
      }
      // With the delimiter: names in order, each folder below the prefix collapsed to one
      // entry; a cursor that is a folder resumes after everything in it.
      if (cursor?.startAfter) {
        values.push(cursor.startAfter);
        conditions.push(`name collate "C" ${after} $${values.length}`);
        if (cursor.startAfter.endsWith(delimiter)) {
          conditions.push(`not starts_with(name, $${values.length})`);
        }
      }
      const { rows } = await db.query(
        `select name, id, metadata, updated_at, created_at, last_accessed_at
         from storage.objects where ${conditions.join(" and ")}
         order by name collate "C" ${order}`,
        values,
      );
      const entries: Json[] = [];
      let previousFolder = "";
      for (const row of rows as Json[]) {
        const name = String(row.name);
        const at = name.slice(prefix.length).indexOf(delimiter);
        if (at < 0) {
          entries.push(row);
        } else {
          const folder = name.slice(0, prefix.length + at + delimiter.length);
          if (folder === previousFolder) continue;
          previousFolder = folder;
          entries.push({ id: null, name: folder });
        }
        if (entries.length > limit) break;
      }
      return entries;
    });

    const hasNext = rows.length > limit;
    const page = rows.slice(0, limit);
    const folders = page.filter((row) => row.id === null);
    const objects = page.filter((row) => row.id !== null);
    let nextCursor: string | undefined;
    let nextCursorKey: string | undefined;
    if (hasNext) {
      const last = page[page.length - 1];
      const column = sortColumnAsked;
      const columnValue = column && column !== "name" ? last[column] : undefined;
      nextCursor = encodeContinuationToken({
        startAfter: String(last.name),
        sortOrder: sortOrderAsked,
        sortColumn: column,
        sortColumnAfter: columnValue ? new Date(columnValue as string).toISOString() : undefined,
      });
      nextCursorKey = String(last.name);
    }
    sendJson(res, 200, { hasNext, nextCursor, nextCursorKey, folders, objects });
  }

  // --- image transformations --------------------------------------------------------------

  /** Sends an object rendered by renderImage, with Storage's headers for it. */
  async function sendRendered(
    req: IncomingMessage,
    res: ServerResponse,
    object: ObjectRow,
    transform: Transform,
    query: URLSearchParams,
    expiresAt?: number,
  ): Promise<void> {
    const version = storedVersion(object);
    const rendered = await renderImage(
      versionPath(version),
      object.metadata?.size ?? 0,
      transform,
      String(req.headers.accept ?? ""),
    );
    const headers = downloadHeaders(object, rendered.body.byteLength, query, expiresAt);
    headers["content-type"] = rendered.contentType;
    const applied = transformationsApplied(transform);
    if (applied) headers["x-transformations"] = applied;
    res.writeHead(200, headers);
    res.end(rendered.body);
  }

  /** The X-Transformations header: the imgproxy options Storage applied (resizing_type names). */
  function transformationsApplied(transform: Transform): string {
    const resizingType = { cover: "fill", contain: "fit", fill: "force" };
    return transformationsString(transform).replace(
      /resize:(\w+)/,
      (_, mode: string) =>
        `resizing_type:${resizingType[mode as keyof typeof resizingType] ?? "fill"}`,
    );
  }

  /** GET /render/image/authenticated/{bucket}/{name}: read as the caller (storage-js download with transform). */
  async function renderAuthenticated(
    { req, res, params: [bucketId, name], query }: Call,
  ): Promise<void> {
    const actor = await authenticate(req);
    const transform = transformOf((key) => query.get(key), "querystring");
    const object = await transaction(actor, (db) => findObject(db, bucketId, name));
    await sendRendered(req, res, object, transform, query);
  }

  /** GET /render/image/public/{bucket}/{name}: public buckets only (getPublicUrl with transform). */
  async function renderPublic({ req, res, params: [bucketId, name], query }: Call): Promise<void> {
    const transform = transformOf((key) => query.get(key), "querystring");
    const bucket = await findBucket(bucketId);
    if (!bucket?.public) throw errors.noSuchBucket();
    const object = await transaction(STORAGE_ADMIN, (db) => findObject(db, bucketId, name));
    await sendRendered(req, res, object, transform, query);
  }

  /** GET /render/image/sign/{bucket}/{name}?token=: the transformations the token was signed with. */
  async function renderSigned({ req, res, params: [bucketId, name], query }: Call): Promise<void> {
    const claims = await verifySignedUrl(query, bucketId, name);
    if (claims.signer !== undefined) throw errors.invalidSignature(); // an upload token
    const transform = transformFromString(
      typeof claims.transformations === "string" ? claims.transformations : "",
    );
    const object = await transaction(STORAGE_ADMIN, (db) => findObject(db, bucketId, name));
    await sendRendered(req, res, object, transform, query, claims.exp);
  }

  // The first route whose method and pattern match takes the request: the fixed words
  // (list, sign, public, ...) come before the patterns in which they would read as a bucket.
  const routes: Route[] = [
    ["POST", /^\/object\/list\/([^/]+)$/, listObjects],
    ["POST", /^\/object\/move$/, moveObject],
    ["POST", /^\/object\/copy$/, copyObject],
    ["POST", /^\/object\/sign\/([^/]+)$/, signUrls],
    ["POST", /^\/object\/sign\/([^/]+)\/(.+)$/, signUrl],
    ["GET", /^\/object\/sign\/([^/]+)\/(.+)$/, getSignedObject],
    ["POST", /^\/object\/upload\/sign\/([^/]+)\/(.+)$/, signUploadUrl],
    ["PUT", /^\/object\/upload\/sign\/([^/]+)\/(.+)$/, uploadToSignedUrl],
    ["GET", /^\/object\/public\/([^/]+)\/(.+)$/, getPublicObject],
    ["GET", /^\/object\/authenticated\/([^/]+)\/(.+)$/, (call) => getObject(call, "required")],
    ["POST", /^\/object\/list-v2\/([^/]+)$/, listObjectsV2],
    ["GET", /^\/object\/info\/public\/([^/]+)\/(.+)$/, (call) => objectInfo(call, "public")],
    [
      "GET",
      /^\/object\/info\/authenticated\/([^/]+)\/(.+)$/,
      (call) => objectInfo(call, "authenticated"),
    ],
    ["GET", /^\/object\/info\/([^/]+)\/(.+)$/, (call) => objectInfo(call, "plain")],
    ["HEAD", /^\/object\/public\/([^/]+)\/(.+)$/, (call) => headObject(call, "public")],
    [
      "HEAD",
      /^\/object\/authenticated\/([^/]+)\/(.+)$/,
      (call) => headObject(call, "authenticated"),
    ],
    ["HEAD", /^\/object\/([^/]+)\/(.+)$/, (call) => headObject(call, "plain")],
    ["GET", /^\/render\/image\/authenticated\/([^/]+)\/(.+)$/, renderAuthenticated],
    ["GET", /^\/render\/image\/public\/([^/]+)\/(.+)$/, renderPublic],
    ["GET", /^\/render\/image\/sign\/([^/]+)\/(.+)$/, renderSigned],
    ["GET", /^\/object\/([^/]+)\/(.+)$/, (call) => getObject(call, "optional")],
    [
      "POST",
      /^\/object\/([^/]+)\/(.+)$/,
      (call) => uploadObject(call, call.req.headers["x-upsert"] === "true" ? "upsert" : "create"),
    ],
    ["PUT", /^\/object\/([^/]+)\/(.+)$/, (call) => uploadObject(call, "update")],
    ["DELETE", /^\/object\/([^/]+)$/, removeObjects],
    ["GET", /^\/bucket\/?$/, listBuckets],
    ["GET", /^\/bucket\/([^/]+)$/, getBucket],
    ["POST", /^\/bucket\/?$/, createBucket],
    ["PUT", /^\/bucket\/([^/]+)$/, updateBucket],
    ["DELETE", /^\/bucket\/([^/]+)$/, deleteBucket],
    ["POST", /^\/bucket\/([^/]+)\/empty$/, emptyBucket],
  ];

  function decode(param: string): string {
    try {
      return decodeURIComponent(param);
    } catch {
      throw errors.invalidRequest("The path is not properly encoded");
    }
  }

  return async (req, res, path) => {
    try {
      const queryAt = path.indexOf("?");
      const pathname = queryAt === -1 ? path : path.slice(0, queryAt);
      const query = new URLSearchParams(queryAt === -1 ? "" : path.slice(queryAt + 1));
      for (const [method, pattern, handle] of routes) {
        const match = req.method === method ? pattern.exec(pathname) : null;
        if (!match) continue;
        const params = match.slice(1).map(decode);
        // Every route that names an object (its second capture) takes only valid keys.
        if (params[1] !== undefined) assertValidKey(params[1]);
        return await handle({ req, res, params, query });
      }
      // Fastify's answer for a route it does not have
      sendJson(res, 404, {
        statusCode: 404,
        error: "Not Found",
        message: `Route ${req.method}:${pathname} not found`,
      });
    } catch (error) {
      sendError(res, error);
    }
  };
}
