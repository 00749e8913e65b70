// The request bodies of the marketplace functions that clients build, as zod schemas. Here,
// not in types/, for the reason given in payments/requests.ts.
import { z } from "npm:zod@4.6.7";

/**
 * POST /accept-bid: the bid and the terms the owner accepts, as they read them: the bid's
 * amount (minor units of the project's currency) and duration_days. The acceptance is refused
 * (409) when the bid says otherwise by then, so the order is priced at what the owner saw.
 * Anything else (another user, a price of one's own choosing) is refused, not ignored.
 */
export const acceptBidRequest = z.strictObject({
  bid_id: z.uuid(),
  amount: z.int().positive(),
  duration_days: z.int().min(1).max(365),
});
