// GET /health: whether the function runtime is up, and which version of the project it runs.
import { json, methodNotAllowed } from "../_shared/errors.ts";
import { createHandler } from "../_shared/handler.ts";
import { VERSION } from "../_shared/version.ts";

export const handler = createHandler((req) => {
  if (req.method !== "GET") throw methodNotAllowed(req.method, ["GET"]);
  return json({ status: "ok", version: VERSION, time: new Date().toISOString() });
});
