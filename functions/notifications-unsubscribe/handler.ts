// The List-Unsubscribe link of every notification mail (no sign-in; the token is the proof):
//   GET  /notifications-unsubscribe?token=<uuid>  a page with one button, so a mail scanner
//        following links unsubscribes nobody;
//   POST /notifications-unsubscribe?token=<uuid>  RFC 8058 one-click (body
//        List-Unsubscribe=One-Click, as mail providers send it) or the page's button: switches
//        the mail's category off on the e-mail channel for its recipient (ops.unsubscribe_email).
// An unknown token answers 404 and a critical category (payments, security) 409.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { call, type Db } from "../_shared/platform/rpc.ts";
import { serviceClient } from "../_shared/platform/supabase.ts";

const token = z.uuid({ error: "token must be the link's UUID" });

function tokenOf(req: Request): string {
  const parsed = token.safeParse(new URL(req.url).searchParams.get("token"));
  if (!parsed.success) throw new HttpError("invalid_request", "token must be the link's UUID");
  return parsed.data;
}

function page(body: string): Response {
  return new Response(
    `<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head><body>${body}</body></html>`,
    { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" } },
  );
}

export async function unsubscribe(db: Db, value: string): Promise<{ category: string }> {
  const result = z.object({ category: z.string() }).parse(
    await call(db, "unsubscribe_email", { token: value }),
  );
  return { category: result.category };
}

export function makeHandler(db: () => Db) {
  return createHandler(async (req) => {
    if (req.method === "GET") {
      const value = tokenOf(req);
      return page(
        `<form method="post" action="?token=${value}"><p>Stop these e-mails?</p>` +
          `<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`,
      );
    }
    if (req.method !== "POST") throw methodNotAllowed(req.method, ["GET", "POST"]);
    const result = await unsubscribe(db(), tokenOf(req));
    return json({ unsubscribed: true, category: result.category, channel: "email" });
  });
}

export const handler = makeHandler(serviceClient);
