// The benchmark's stack, in a process of its own: `npm run bench` starts this file as a child
// so the stack's gateway and Auth stand-in never share an event loop with the load generator
// (as a real client never shares one with the API). Starts the `bench` profile from nothing,
// prints one JSON line with what the benchmark needs, and stops the stack on SIGTERM, SIGINT,
// or when its parent goes away (stdin closes). A `memory` line on stdin is answered with the
// process's memory after a full garbage collection (run with --expose-gc).

import { createInterface } from "node:readline";
import { stackConfig } from "../../stack/config.ts";
import { startStack } from "../../stack/stack.ts";

export interface BenchStackInfo {
  apiUrl: string;
  dbUrl: string;
  postgrestUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  jwtSecret: string;
  webhookSecret: string | null;
}

const config = stackConfig("bench");
const stack = await startStack(config, {
  fresh: true,
  onCrash: (message) => {
    console.error(message);
    process.exit(1);
  },
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await stack.stop();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "memory") return;
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed, external } = process.memoryUsage();
  console.log(JSON.stringify({ memory: { rss, heapUsed, external } }));
});

const info: BenchStackInfo = {
  apiUrl: config.apiUrl,
  dbUrl: config.dbUrl,
  postgrestUrl: `http://127.0.0.1:${config.ports.postgrest}`,
  anonKey: stack.keys.anonKey,
  serviceRoleKey: stack.keys.serviceRoleKey,
  jwtSecret: config.jwtSecret,
  webhookSecret: stack.stripe.webhookSecret,
};
console.log(JSON.stringify({ ready: info }));
