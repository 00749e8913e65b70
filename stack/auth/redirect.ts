// Where Auth may send a browser back to (internal/utilities/request.go GetReferrer and
// IsRedirectURLValid): the redirect_to a request names when it is allowed, else site_url.
// Allowed: the site's own scheme, host and port (any port on a loopback host); a loopback
// IP address; or a match of one of additional_redirect_urls, read as GoTrue reads them: globs
// (gobwas/glob with "." and "/" as separators: * stops at them, ** does not) matched against
// the URL without its fragment.

import type { IncomingMessage } from "node:http";
import type { AuthEmailConfig } from "../config.ts";

/** A gobwas/glob pattern with separators "." and "/", as a regular expression. */
function globRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        source += ".*";
        i++;
      } else {
        source += "[^./]*";
      }
    } else if (c === "?") {
      source += "[^./]";
    } else if (c === "{") {
      const end = pattern.indexOf("}", i);
      if (end < 0) {
        source += "\\{";
        continue;
      }
      const alternatives = pattern.slice(i + 1, end).split(",");
      source += `(?:${alternatives.map((a) => globRegExp(a).source.slice(1, -1)).join("|")})`;
      i = end;
    } else if (c === "[") {
      const end = pattern.indexOf("]", i);
      if (end < 0) {
        source += "\\[";
        continue;
      }
      const body = pattern.slice(i + 1, end);
      source += body.startsWith("!") ? `[^${body.slice(1)}]` : `[${body}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) {
      source += pattern[++i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

function isLoopbackIp(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "::1";
}

function isIpAddress(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

export type RedirectPolicy = (redirectUrl: string) => boolean;

export function redirectPolicy(settings: AuthEmailConfig): RedirectPolicy {
  const allowList = settings.additionalRedirectUrls.map(globRegExp);
  return (redirectUrl) => {
    if (!redirectUrl) return false;
    let base: URL;
    let target: URL;
    try {
      base = new URL(settings.siteUrl);
      target = new URL(redirectUrl);
    } catch {
      return false;
    }
    const hostname = target.hostname;
    if (
      base.hostname === hostname && base.protocol === target.protocol &&
      (base.port === target.port || hostname === "localhost" || isLoopbackIp(hostname))
    ) {
      return true;
    }
    const isHttp = target.protocol === "http:" || target.protocol === "https:";
    if (/^[0-9]+$/.test(hostname)) return false;
    if (isIpAddress(hostname)) return isLoopbackIp(hostname);
    if (isHttp && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(hostname)) return false;
    const withoutFragment = redirectUrl.split("#")[0];
    return allowList.some((pattern) => pattern.test(withoutFragment));
  };
}

/**
 * GoTrue's GetReferrer: the request's redirect_to (header, then query) when allowed, else
 * its Referer when allowed, else site_url.
 */
export function referrer(req: IncomingMessage, url: URL, allowed: RedirectPolicy, siteUrl: string) {
  const header = req.headers["redirect_to"];
  const requested = (typeof header === "string" && header) || url.searchParams.get("redirect_to") ||
    "";
  if (allowed(requested)) return requested;
  const referer = req.headers.referer ?? "";
  if (allowed(referer)) return referer;
  return siteUrl;
}
