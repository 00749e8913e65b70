// The stack's ports lie inside Linux's range for outgoing connections; started as root, the
// stack reserves them (net.ipv4.ip_local_reserved_ports), so no client connection is given one
// before its server listens (a test stack once failed to start on a port a connection held).

import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { SUPABASE_URL } from "../support/clients.ts";

const reservedPortsFile = "/proc/sys/net/ipv4/ip_local_reserved_ports";

function reservedPorts(): Set<number> {
  const ports = new Set<number>();
  for (const part of readFileSync(reservedPortsFile, "utf8").trim().split(",")) {
    if (part === "") continue;
    const [from, to = from] = part.split("-").map(Number);
    for (let port = from; port <= to; port++) ports.add(port);
  }
  return ports;
}

const root = process.getuid?.() === 0;

describe("the stack's ports", () => {
  test.skipIf(!root)(
    "are reserved from the range for outgoing connections when run as root",
    () => {
      const api = Number(new URL(SUPABASE_URL).port);
      const reserved = reservedPorts();
      // The gateway, PostgREST, the functions router and the Stripe stand-in: api, +10, +11, +13.
      for (const port of [api, api + 10, api + 11, api + 12, api + 13]) {
        expect(reserved.has(port), `port ${port}`).toBe(true);
      }
    },
  );
});
