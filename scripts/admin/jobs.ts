// jobs: the pg_cron jobs with their schedules, last runs and, for a job that calls an edge
// function, what the function answered its latest call (pg_cron only knows the request was
// queued); and running one now (the same command pg_cron runs, in its own transaction; a job
// that calls an edge function answers with the pg_net request id).

import { z } from "zod";
import type { Database } from "../../types/database.ts";
import { type Command, defineCommand } from "./command.ts";
import { unwrap } from "./errors.ts";
import { type Column, table, when } from "./output.ts";

type Job = Database["ops"]["Functions"]["scheduled_jobs"]["Returns"][number];

const jobColumns: Column<Job>[] = [
  ["NAME", (j) => j.name],
  ["SCHEDULE", (j) => j.schedule],
  ["ACTIVE", (j) => (j.active ? "yes" : "no")],
  ["LAST RUN", (j) => (j.last_started_at ? when(j.last_started_at) : "never")],
  ["STATUS", (j) => j.last_status ?? ""],
  ["MESSAGE", (j) => j.last_message ?? ""],
  ["FUNCTION", (j) => j.edge_function ?? ""],
  ["LAST ANSWER", lastAnswer],
];

/** What the job's edge function answered its latest call: an HTTP status, pg_net's error, or nothing yet. */
function lastAnswer(job: Job): string {
  if (!job.edge_function || !job.last_call_at) return "";
  if (job.last_call_status !== null) return `${job.last_call_status} at ${when(job.last_call_at)}`;
  return job.last_call_error
    ? `failed: ${job.last_call_error}`
    : `pending since ${when(job.last_call_at)}`;
}

const jobName = z.string().regex(
  /^[a-z0-9][a-z0-9_-]{0,62}$/,
  "must be a job name like payments-release-due",
);

const list = defineCommand({
  name: "jobs",
  summary: "scheduled jobs: schedule, last run and its outcome",
  input: z.object({}),
  async run({ client }) {
    const jobs = unwrap(await client.schema("ops").rpc("scheduled_jobs"), "listing scheduled jobs");
    return { data: jobs, text: () => table(jobs, jobColumns, "no scheduled jobs") };
  },
});

const run = defineCommand({
  name: "jobs run",
  args: ["name"],
  summary: "run a scheduled job now (it keeps its schedule)",
  input: z.object({ name: jobName }),
  async run({ client }, { name }) {
    const result = unwrap(
      await client.schema("ops").rpc("run_scheduled_job", { job_name: name }),
      `running ${name}`,
    );
    return { data: { job: name, result }, text: () => `ran ${name}: ${result ?? "done"}\n` };
  },
});

export const jobCommands: Command[] = [list, run];
