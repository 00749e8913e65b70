// POST /accept-bid { bid_id, amount, duration_days }: the project's owner accepts a bid (000
// POST /bids/:bidId/accept) at the terms they read. The caller is identified by Supabase Auth;
// ops.accept_bid() does the work in one transaction under row locks, so concurrent accepts of
// one project make one order, a retried request answers with the order the first one made (200
// instead of 201), and a bid edited since the owner read it is refused (409) rather than
// accepted at its new price.
import { orThrow } from "../_shared/platform/database-errors.ts";
import { call } from "../_shared/platform/rpc.ts";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { acceptBidRequest } from "../_shared/marketplace/requests.ts";

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user, client } = await requireUser(req);
  const { bid_id, amount, duration_days } = await readJson(req, acceptBidRequest);

  // accept_bid is executable by the service role only; it is told who is acting and checks
  // that they own the project, and that the bid still says what they accept.
  const rows = await call(serviceClient(), "accept_bid", {
    bid_id,
    acting_user: user.id,
    amount,
    duration_days,
  });
  const { order_id, created } = rows[0];
  // Read back as the caller: they see the order as their policies allow, nothing more.
  const order = orThrow(await client.from("orders").select("*").eq("id", order_id).single());
  return json({ order, created }, created ? 201 : 200);
});
