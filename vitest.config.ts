import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/integration/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Some files flip platform-wide settings (invite-only sign-up): run files one at a time.
    fileParallelism: false,
  },
});
