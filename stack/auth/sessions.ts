// The session bounds of config.toml's [auth.sessions], as GoTrue enforces them: a refresh of a
// session past its bound is refused (RefreshTokenGrant's session.CheckValidity in
// supabase/auth internal/api/token_refresh.go), so the user signs in again. The access token
// issued before the bound keeps working until its own exp, as on GoTrue:
//
//   timebox             the session's age (since sign-in, auth.sessions.created_at): past it,
//                       400 session_expired "Invalid Refresh Token: Session Expired"
//   inactivity_timeout  time since the session was last refreshed (refreshed_at, else the
//                       refresh token's updated_at, else created_at): past it, 400
//                       session_expired "Invalid Refresh Token: Session Expired (Inactivity)"
//
// A session's not_after (set by GoTrue for SSO sessions) ends it the same way as the timebox.
// Both settings are Go durations ("24h", "8h", "30m", "1h30m"); unset or zero: no bound
// (stack/config.ts reads them: sessionBoundsOf).

import type { SessionBounds } from "../config.ts";
import { AuthError, type Db } from "./core.ts";

/**
 * Refuses the refresh of a session past its bounds with GoTrue's error (checked before the
 * refresh token's own state, as GoTrue does). A session that is gone is left to the caller.
 */
export async function assertSessionWithinBounds(
  db: Db,
  sessionId: string,
  refreshToken: string,
  bounds: SessionBounds | undefined,
): Promise<void> {
  if (!bounds || (bounds.timebox === null && bounds.inactivityTimeout === null)) return;
  const { rows } = await db.query<{ past_end: boolean; inactive: boolean }>(
    `select (s.not_after is not null and now() > s.not_after)
              or ($2::int is not null and now() > s.created_at + make_interval(secs => $2::int)) as past_end,
            ($3::int is not null
              and now() > coalesce(s.refreshed_at at time zone 'UTC', r.updated_at, s.created_at)
                          + make_interval(secs => $3::int)) as inactive
       from auth.sessions s
       left join auth.refresh_tokens r on r.session_id = s.id and r.token = $4
      where s.id = $1`,
    [sessionId, bounds.timebox, bounds.inactivityTimeout, refreshToken],
  );
  if (rows[0]?.past_end) {
    throw new AuthError(400, "session_expired", "Invalid Refresh Token: Session Expired");
  }
  if (rows[0]?.inactive) {
    throw new AuthError(
      400,
      "session_expired",
      "Invalid Refresh Token: Session Expired (Inactivity)",
    );
  }
}
