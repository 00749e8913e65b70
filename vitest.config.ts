import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/integration/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Some files flip platform-wide settings (invite-only sign-up): run files one at a time.
    fileParallelism: false,
    // Schedules the pg_cron probe job tests/integration/stack/pg_cron_runs_jobs_after_reset.test.ts
    // waits for (every minute: it has run by the time that file's turn comes).
    globalSetup: ["tests/integration/support/cron-probe.ts"],
  },
});
