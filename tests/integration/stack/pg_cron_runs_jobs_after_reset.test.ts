// pg_cron's scheduler runs jobs on a stack whose database was rebuilt. The scheduler is a
// background worker connected to the `postgres` database from Postgres' start; dropping that
// database (what a reset does) ends it for good, so the Docker-less stack builds a new
// cluster's database in place and restarts Postgres after `npm run db:reset` drops it
// (stack/postgres.ts, cronLauncherRunning). The test stack was built by such a reset: its
// scheduler must be running and must have run the probe job that support/cron-probe.ts
// scheduled every minute before the first file (cron.job_run_details has its row).

import { describe, expect, it } from "vitest";
import { eventually, withDatabase } from "../support/clients.ts";
import { CRON_PROBE_JOB } from "../support/cron-probe.ts";

describe("pg_cron after a reset", () => {
  it("the scheduler runs", async () => {
    const launchers = await withDatabase((db) =>
      db.query("select datname from pg_stat_activity where backend_type = 'pg_cron launcher'")
    );
    expect(launchers.rows).toEqual([{ datname: "postgres" }]);
  });

  it(
    "a scheduled job runs and is recorded in cron.job_run_details",
    async () => {
      const run = await eventually(
        "a run of the probe job",
        () =>
          withDatabase(async (db) => {
            const { rows } = await db.query(
              `select d.status, d.return_message from cron.job_run_details d
                 join cron.job j on j.jobid = d.jobid
                where j.jobname = $1 and d.status = 'succeeded'
                limit 1`,
              [CRON_PROBE_JOB],
            );
            return rows[0];
          }),
        70_000,
      );
      expect(run).toEqual({ status: "succeeded", return_message: "1 row" });
    },
    75_000,
  );
});
