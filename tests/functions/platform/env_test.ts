import { deepStrictEqual, throws } from "node:assert/strict";
import { env, parseEnv } from "../../../functions/_shared/platform/env.ts";
import { withEnv } from "./with_env.ts";

const complete = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_ANON_KEY: "anon-key",
  SUPABASE_SERVICE_ROLE_KEY: "service-role-key",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
};

Deno.test("a complete environment is returned as it is", () => {
  deepStrictEqual(parseEnv(complete), complete);
});

Deno.test("every missing variable is named in one error", () => {
  throws(
    () => parseEnv({ SUPABASE_ANON_KEY: "anon-key", SUPABASE_DB_URL: complete.SUPABASE_DB_URL }),
    {
      message: "Missing or empty environment variables: SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY",
    },
  );
});

Deno.test("an empty variable counts as missing instead of falling back to an empty string", () => {
  throws(() => parseEnv({ ...complete, SUPABASE_SERVICE_ROLE_KEY: "" }), {
    message: "Missing or empty environment variables: SUPABASE_SERVICE_ROLE_KEY",
  });
});

Deno.test("env() validates Deno.env when called, so tests can control it", async () => {
  await withEnv(complete, () => deepStrictEqual(env(), complete));
  await withEnv({ ...complete, SUPABASE_DB_URL: undefined }, () => {
    throws(() => env(), { message: /SUPABASE_DB_URL/ });
  });
});
