// The PKCE flow (internal/api/pkce.go, models/flow_state.go, token.go's PKCE grant): a client
// that sends code_challenge and code_challenge_method gets a flow state in auth.flow_state;
// the mailed token carries "pkce_", and /verify answers with ?code=<auth code> instead of a
// session, which POST /token?grant_type=pkce exchanges once, with the code verifier, within
// the flow state's lifetime.

import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { type AuthCore, AuthError, type Db } from "./core.ts";
import type { FlowType } from "./tokens.ts";

/** GoTrue's defaultFlowStateExpiryDuration. */
const FLOW_STATE_EXPIRY_SECONDS = 300;

/** The authentication methods a mailed flow records (models.AuthenticationMethod). */
export type FlowMethod = "email/signup" | "magiclink" | "recovery" | "email_change" | "invite";

/** validatePKCEParams: both or neither, and a challenge of RFC 7636's length and alphabet; the flow it means. */
export function pkceFlow(body: Record<string, unknown>): FlowType {
  const challenge = typeof body.code_challenge === "string" ? body.code_challenge : "";
  const method = typeof body.code_challenge_method === "string" ? body.code_challenge_method : "";
  if ((challenge === "") !== (method === "")) {
    throw new AuthError(
      400,
      "validation_failed",
      "PKCE flow requires code_challenge_method and code_challenge",
    );
  }
  if (challenge === "") return "implicit";
  if (challenge.length < 43 || challenge.length > 128) {
    throw new AuthError(
      400,
      "validation_failed",
      "code challenge has to be between 43 and 128 characters",
    );
  }
  if (!/^[a-zA-Z._~0-9-]+$/.test(challenge)) {
    throw new AuthError(
      400,
      "validation_failed",
      "code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes",
    );
  }
  return "pkce";
}

/** generateFlowState: the challenge kept for the user and method, with the auth code to come. */
export async function createFlowState(
  db: Db,
  body: Record<string, unknown>,
  providerType: string,
  method: FlowMethod,
  userId: string,
): Promise<void> {
  const challengeMethod = String(body.code_challenge_method).toLowerCase();
  if (challengeMethod !== "s256" && challengeMethod !== "plain") {
    // models.ParseCodeChallengeMethod's error, answered as GoTrue answers an unwrapped error.
    throw new AuthError(
      500,
      "unexpected_failure",
      `unsupported code_challenge method "${body.code_challenge_method}"`,
    );
  }
  await db.query(
    `insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge,
                                  provider_type, authentication_method, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, now(), now())`,
    [
      randomUUID(),
      userId,
      randomUUID(),
      challengeMethod,
      body.code_challenge,
      providerType,
      method,
    ],
  );
}

/** issueAuthCode: the auth code of the user's latest flow state for `method`, its issue time recorded. */
export async function issueAuthCode(db: Db, userId: string, method: FlowMethod): Promise<string> {
  const { rows } = await db.query<{ id: string; auth_code: string | null }>(
    `select id, auth_code from auth.flow_state
      where user_id = $1 and authentication_method = $2
      order by created_at desc, id desc limit 1`,
    [userId, method],
  );
  const flowState = rows[0];
  if (!flowState) {
    throw new AuthError(
      400,
      "flow_state_not_found",
      "No associated flow state found. 422: No valid flow state found for user.",
    );
  }
  if (!flowState.auth_code) {
    throw new AuthError(
      400,
      "flow_state_not_found",
      "No associated flow state found. 422: Flow state does not have an auth code (not a PKCE flow).",
    );
  }
  await db.query(
    "update auth.flow_state set auth_code_issued_at = now(), updated_at = now() where id = $1",
    [flowState.id],
  );
  return flowState.auth_code;
}

/** security.VerifyPKCEChallenge. */
function verifyChallenge(challenge: string, method: string, verifier: string): void {
  const expected = method.toLowerCase() === "s256"
    ? createHash("sha256").update(verifier).digest("base64url")
    : method.toLowerCase() === "plain"
    ? verifier
    : null;
  if (expected === null) {
    throw new AuthError(400, "bad_code_verifier", "code challenge method not supported");
  }
  const a = Buffer.from(challenge);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new AuthError(
      400,
      "bad_code_verifier",
      "code challenge does not match previously saved code verifier",
    );
  }
}

/** POST /token?grant_type=pkce { auth_code, code_verifier }: a session, once per flow state. */
export async function pkceGrant(
  core: AuthCore,
  db: Db,
  body: Record<string, unknown>,
  req: IncomingMessage,
) {
  const authCode = typeof body.auth_code === "string" ? body.auth_code : "";
  const verifier = typeof body.code_verifier === "string" ? body.code_verifier : "";
  if (authCode === "" || verifier === "") {
    throw new AuthError(
      400,
      "validation_failed",
      "invalid request: both auth code and code verifier should be non-empty",
    );
  }
  const { rows } = await db.query<{
    id: string;
    user_id: string | null;
    code_challenge: string;
    code_challenge_method: string;
    authentication_method: string;
    created_at: Date;
    auth_code_issued_at: Date | null;
  }>(
    `select id, user_id, code_challenge, code_challenge_method::text as code_challenge_method,
            authentication_method, created_at, auth_code_issued_at
       from auth.flow_state where auth_code = $1 limit 1 for update`,
    [authCode],
  );
  const flowState = rows[0];
  if (!flowState || !flowState.user_id) {
    throw new AuthError(
      404,
      "flow_state_not_found",
      "invalid flow state, no valid flow state found",
    );
  }
  // A magic link's code lives from when /verify issued it; every other from the flow's start.
  const from = flowState.auth_code_issued_at && flowState.authentication_method === "magiclink"
    ? flowState.auth_code_issued_at
    : flowState.created_at;
  if (Date.now() > from.getTime() + FLOW_STATE_EXPIRY_SECONDS * 1000) {
    throw new AuthError(
      422,
      "flow_state_expired",
      "invalid flow state, flow state has expired",
    );
  }
  const user = await core.findUserById(db, flowState.user_id);
  if (!user) throw new AuthError(404, "user_not_found", "User not found");
  verifyChallenge(flowState.code_challenge, flowState.code_challenge_method, verifier);
  core.assertNotBanned(user);
  const session = await core.issueSession(db, user, flowState.authentication_method, req);
  await db.query("delete from auth.flow_state where id = $1", [flowState.id]);
  return session;
}
