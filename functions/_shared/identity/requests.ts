// The request bodies of the identity functions, as zod schemas: what a client may send and
// the rules the database would apply anyway, checked first so a mistake is a 400 naming the
// field before anything is written.
import { z } from "npm:zod@4.6.7";

/**
 * Service tooling (the admin CLI, with the service-role key) names the staff account it acts
 * for; a signed-in caller acts for themselves and may not name anyone.
 */
const actingUser = z.uuid().optional();

/** 003 PUT /users/{id}: the user and at least one field to change. */
export const adminUpdateUserRequest = z.object({
  acting_user: actingUser,
  user_id: z.uuid(),
  display_name: z.string().max(80).optional(),
  username: z.string().regex(/^[a-z0-9_]{3,30}$/, {
    error: "3-30 characters of a-z, 0-9 and _",
  }).nullable().optional(),
  bio: z.string().max(2000).optional(),
  first_name: z.string().max(80).optional(),
  last_name: z.string().max(80).optional(),
  phone: z.string().regex(/^\+[1-9][0-9]{6,14}$/, { error: "an E.164 number, e.g. +14155550123" })
    .nullable().optional(),
  email: z.email().max(255).optional(),
}).strict().refine(
  (body) => Object.keys(body).some((key) => !["user_id", "acting_user"].includes(key)),
  {
    error: "name at least one field to change",
  },
);

export type AdminUpdateUserRequest = z.infer<typeof adminUpdateUserRequest>;

/** 004 POST /admin/users/:id/impersonate: whom, and why (recorded in the audit log). */
export const impersonateRequest = z.object({
  acting_user: actingUser,
  user_id: z.uuid(),
  reason: z.string({ error: "a reason is required" }).trim().min(1, {
    error: "a reason is required",
  }).max(500),
  redirect_to: z.url().optional(),
}).strict();
