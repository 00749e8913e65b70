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
    const exited = new Promise<void>((resolve) => {
      child.on("exit", (code, signal) => {
        resolve();
        if (this.stopping) return;
        const exit = signal ? `killed by ${signal}` : `exit code ${code}`;
        void this.stop().then(() => this.onCrash(spec.name, exit, tail(logFile, 20)));
      });
      child.on("error", (error) => {
        log.write(`failed to start ${spec.command}: ${error.message}\n`);
        resolve();
      });
    });
    this.running.push({ spec, child, logFile, exited });
    return child;
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
