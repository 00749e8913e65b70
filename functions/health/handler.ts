// GET /health: whether the function runtime is up, and which version of the project it runs.
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { VERSION } from "../_shared/platform/version.ts";

export const handler = createHandler((req) => {
  if (req.method !== "GET") throw methodNotAllowed(req.method, ["GET"]);
  return json({ status: "ok", version: VERSION, time: new Date().toISOString() });
});
