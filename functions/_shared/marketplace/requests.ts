// The request bodies of the marketplace functions that clients build, as zod schemas. Here,
// not in types/, for the reason given in payments/requests.ts.
import { z } from "npm:zod@4.6.7";

/** POST /accept-bid: exactly one bid id; anything else (an amount, another user) is refused. */
export const acceptBidRequest = z.strictObject({ bid_id: z.uuid() });
