// Runs the stack's child processes: each one's output goes to its own log file, and if any
// of them dies while the stack is up, the whole stack stops and says why, with the last
// lines of that child's log, rather than limping on half-started.

import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

interface Running {
  spec: ChildSpec;
  child: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  /** Stopped on purpose by restart(): its exit is not a crash. */
  replaced: boolean;
}

export class Supervisor {
  private readonly running: Running[] = [];
  private stopping = false;

  constructor(
    private readonly logDir: string,
    /** Called once when a child exits on its own; the supervisor has already stopped the rest. */
    private readonly onCrash: (name: string, exit: string, logTail: string) => void,
  ) {}

  start(spec: ChildSpec): ChildProcess {
    const logFile = join(this.logDir, `${spec.name}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    const options: SpawnOptions = {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    };
    const child = spawn(spec.command, spec.args, options);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const entry = { spec, child, logFile, replaced: false } as Running;
    entry.exited = new Promise<void>((resolve) => {
      child.on("exit", (code, signal) => {
        resolve();
        if (this.stopping || entry.replaced) return;
        const exit = signal ? `killed by ${signal}` : `exit code ${code}`;
        void this.stop().then(() => this.onCrash(spec.name, exit, tail(logFile, 20)));
      });
      child.on("error", (error) => {
        log.write(`failed to start ${spec.command}: ${error.message}\n`);
        resolve();
      });
    });
    this.running.push(entry);
    return child;
  }

  /**
   * Stops one child with `signal` (Postgres: SIGINT, a fast shutdown), waits for it, and
   * starts it again from the same spec; the rest keep running.
   */
  async restart(name: string, signal: NodeJS.Signals = "SIGTERM", graceMs = 30_000): Promise<void> {
    const index = this.running.findIndex((entry) => entry.spec.name === name && !entry.replaced);
    if (index < 0 || this.stopping) throw new Error(`${name} is not running`);
    const entry = this.running[index];
    entry.replaced = true;
    if (entry.child.exitCode === null && entry.child.signalCode === null) {
      entry.child.kill(signal);
      const timer = setTimeout(() => entry.child.kill("SIGKILL"), graceMs);
      await entry.exited;
      clearTimeout(timer);
    }
    this.running.splice(index, 1);
    this.start(entry.spec);
    // Keep the start order for stop(): the restarted child goes back to its place.
    this.running.splice(index, 0, this.running.pop()!);
  }

  /** Stops children in reverse start order: SIGTERM, then SIGKILL after a grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const entry of [...this.running].reverse()) {
      if (entry.child.exitCode !== null || entry.child.signalCode !== null) continue;
      entry.child.kill("SIGTERM");
      const timer = setTimeout(() => entry.child.kill("SIGKILL"), graceMs);
      await entry.exited;
      clearTimeout(timer);
    }
  }
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
