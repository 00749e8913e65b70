// Every function's handler goes through createHandler, so each one answers CORS preflights,
// sends CORS headers and reports errors in the project's one format.
import { corsHeaders, preflightResponse } from "./cors.ts";
import { errorResponse } from "./errors.ts";
import { logRequest } from "../platform/request-log.ts";

export type RequestHandler = (req: Request) => Response | Promise<Response>;

export function createHandler(handle: RequestHandler): (req: Request) => Promise<Response> {
  return async (req) => {
    const begun = performance.now();
    if (req.method === "OPTIONS") return preflightResponse();
    let response: Response;
    try {
      response = await handle(req);
    } catch (err) {
      response = errorResponse(err);
    }
    // A new Response: the handler's headers may be immutable (e.g. from fetch()).
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(corsHeaders)) {
      if (!headers.has(name)) headers.set(name, value);
    }
    logRequest(req, response.status, begun); // the request log (platform/request-log.ts), off the request path
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  };
}
