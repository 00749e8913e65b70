// The project's version, as functions report it. tests/functions/platform/health_test.ts fails
// when it differs from package.json's "version", so bump both together.
export const VERSION = "0.1.0";

/**
 * The git commit the functions were deployed from: GIT_COMMIT, which the local stack sets from
 * `git rev-parse HEAD` and a deployment sets as a secret
 * (`supabase secrets set GIT_COMMIT=$(git rev-parse HEAD)`); null when not set.
 */
export function gitCommit(): string | null {
  const commit = Deno.env.get("GIT_COMMIT");
  return commit && /^[0-9a-f]{7,40}$/.test(commit) ? commit : null;
}
