// How the Auth stand-in's route modules declare what they serve.

import type { IncomingMessage, ServerResponse } from "node:http";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The path pattern's capture groups. */
  params: string[];
}

export interface Route {
  method: string;
  /** An exact path (trailing slashes ignored) or a pattern whose groups become `params`. */
  path: string | RegExp;
  handle: (context: RouteContext) => Promise<void>;
}

/** The route serving `method` and `pathname`, with its captured parameters. */
export function matchRoute(
  routes: Route[],
  method: string,
  pathname: string,
): { route: Route; params: string[] } | null {
  const path = pathname.replace(/\/+$/, "") || "/";
  for (const route of routes) {
    if (route.method !== method) continue;
    if (typeof route.path === "string") {
      if (route.path === path) return { route, params: [] };
      continue;
    }
    const match = route.path.exec(path);
    if (match) return { route, params: match.slice(1) };
  }
  return null;
}
