// Token lifetimes (002 "Token expiration: 24 hours", "Refresh token rotation";
// docs/api-conventions.md#tokens-and-sessions): an access token lives jwt_expiry (an hour), a
// refresh rotates the refresh token (the old one is then refused), and a session cannot be
// refreshed past [auth.sessions] timebox (24 hours after sign-in): 400 session_expired, as
// GoTrue answers. The sign-in time is moved back in the database, the one clock no API moves.

import { describe, expect, it } from "vitest";
import { PASSWORD, signUp } from "../support/auth.ts";
import { client, withDatabase } from "../support/clients.ts";

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as {
    exp: number;
    iat: number;
    session_id: string;
  };

describe("sessions: one-hour access tokens, rotating refresh tokens, a 24-hour bound", () => {
  it("an access token lives an hour; a refresh rotates the refresh token", async () => {
    const user = await signUp("session-rotation");
    const c = client();
    const signedIn = await c.auth.signInWithPassword({ email: user.email, password: PASSWORD });
    if (signedIn.error) throw signedIn.error;
    const first = signedIn.data.session;
    const claims = claimsOf(first.access_token);
    expect(claims.exp - claims.iat).toBe(3600);
    expect(first.expires_in).toBe(3600);

    const refreshed = await c.auth.refreshSession({ refresh_token: first.refresh_token });
    if (refreshed.error) throw refreshed.error;
    expect(refreshed.data.session!.refresh_token).not.toBe(first.refresh_token);
    expect(claimsOf(refreshed.data.session!.access_token).session_id).toBe(claims.session_id);

    const reused = await client().auth.refreshSession({ refresh_token: first.refresh_token });
    expect(reused.error).toMatchObject({ status: 400, code: "refresh_token_already_used" });
  });

  it("a session past its 24-hour timebox cannot be refreshed; one just within can", async () => {
    const user = await signUp("session-timebox");
    const c = client();
    const signedIn = await c.auth.signInWithPassword({ email: user.email, password: PASSWORD });
    if (signedIn.error) throw signedIn.error;
    const session = signedIn.data.session;
    const sessionId = claimsOf(session.access_token).session_id;

    // 23 hours old: still within the bound.
    await withDatabase((db) =>
      db.query("update auth.sessions set created_at = now() - interval '23 hours' where id = $1", [
        sessionId,
      ])
    );
    const within = await c.auth.refreshSession({ refresh_token: session.refresh_token });
    if (within.error) throw within.error;

    // 25 hours old: past it.
    await withDatabase((db) =>
      db.query("update auth.sessions set created_at = now() - interval '25 hours' where id = $1", [
        sessionId,
      ])
    );
    const past = await client().auth.refreshSession({
      refresh_token: within.data.session!.refresh_token,
    });
    expect(past.error).toMatchObject({
      status: 400,
      code: "session_expired",
      message: "Invalid Refresh Token: Session Expired",
    });
    // The access token already issued works until its own exp, as on GoTrue.
    const me = await client().auth.getUser(within.data.session!.access_token);
    expect(me.error).toBeNull();
    expect(me.data.user?.id).toBe(user.id);
  });
});
