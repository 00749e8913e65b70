// Small HTTP helpers shared by the local stand-ins (auth, storage) and the gateway.

import type { IncomingMessage, ServerResponse } from "node:http";

/** The request handler shape every stand-in exports; `path` is what follows its prefix. */
export type SubHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

export async function readBody(
  req: IncomingMessage,
  limit = Number.POSITIVE_INFINITY,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/** Parses a JSON request body; an empty body is `{}`, malformed JSON is `undefined`. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const raw = (await readBody(req, 1024 * 1024)).toString("utf8");
  if (raw.trim() === "") return {};
  try {
    const value = JSON.parse(raw);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header);
  return match ? match[1].trim() : null;
}
