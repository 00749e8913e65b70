// The project's version, as functions report it. tests/functions/platform/health_test.ts fails
// when it differs from package.json's "version", so bump both together.
export const VERSION = "0.1.0";
