// The newsletter's confirmation link (double opt-in), no sign-in: GET
// /notifications-newsletter?action=confirm&token=<uuid> subscribes the address the link was
// mailed to (public.confirm_newsletter) and answers a short page. An unknown link answers 404,
// a used one 409 and an expired one 410 (link_expired), in the project's JSON error format. Subscribing is
// the RPC public.subscribe_newsletter (anon allowed); unsubscribing is the List-Unsubscribe
// link of the newsletter's mails (notifications-unsubscribe).
import { z } from "npm:zod@4.6.7";
import { HttpError, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { call, type Db } from "../_shared/platform/rpc.ts";
import { serviceClient } from "../_shared/platform/supabase.ts";

const confirmQuery = z.object({
  action: z.literal("confirm", { error: "action must be confirm" }),
  token: z.uuid({ error: "token must be the link's UUID" }),
});

export function makeHandler(db: () => Db) {
  return createHandler(async (req) => {
    if (req.method !== "GET") throw methodNotAllowed(req.method, ["GET"]);
    const params = new URL(req.url).searchParams;
    const query = confirmQuery.safeParse({
      action: params.get("action"),
      token: params.get("token"),
    });
    if (!query.success) {
      throw new HttpError("invalid_request", query.error.issues[0].message);
    }
    // PT410 (HTTP 410 from PostgREST) is an expired confirmation link.
    await call(db(), "confirm_newsletter", { token: query.data.token }, { PT410: "link_expired" });
    return new Response(
      '<!doctype html><html><head><meta charset="utf-8"><title>Subscribed</title></head>' +
        "<body><p>You are subscribed to the newsletter.</p></body></html>",
      { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" } },
    );
  });
}

export const handler = makeHandler(serviceClient);
