// The variables Supabase gives every function, hosted and under `supabase functions serve`;
// the local stack passes the same ones. A missing one is a broken deployment, so it fails
// with one error naming all of them rather than as an empty URL or key deep in a request.
import { z } from "npm:zod@4.6.7";

const requiredVariable = z.string({ error: "missing" }).min(1, { error: "empty" });

const envSchema = z.object({
  SUPABASE_URL: requiredVariable,
  SUPABASE_ANON_KEY: requiredVariable,
  SUPABASE_SERVICE_ROLE_KEY: requiredVariable,
  SUPABASE_DB_URL: requiredVariable,
});

export type Env = z.infer<typeof envSchema>;

const variableNames = Object.keys(envSchema.shape) as (keyof Env)[];

export function parseEnv(variables: Record<string, string | undefined>): Env {
  const result = envSchema.safeParse(variables);
  if (result.success) return result.data;
  const names = [...new Set(result.error.issues.map((issue) => String(issue.path[0])))];
  throw new Error(`Missing or empty environment variables: ${names.join(", ")}`);
}

/**
 * The validated environment. Validated on each call instead of once at import: it costs
 * microseconds, importing a function never throws, and tests can set Deno.env per case.
 * A function that needs it calls env() in its index.ts before Deno.serve, so a bad
 * deployment fails at start-up.
 */
export function env(): Env {
  // Read by name: works under permissions scoped to these variables, unlike toObject().
  return parseEnv(Object.fromEntries(variableNames.map((name) => [name, Deno.env.get(name)])));
}
