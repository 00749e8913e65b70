// vitest globalSetup: schedules pg_cron's probe job before the first test file, so that by the
// time tests/integration/stack/pg_cron_runs_jobs_after_reset.test.ts looks (files run one at a
// time, for minutes), the scheduler has had a minute boundary to run it at: pg_cron 1.4
// (Debian's) schedules by the minute at best. Removed after the last file.

import pg from "pg";

export const CRON_PROBE_JOB = "stack-cron-probe";

async function query(sql: string): Promise<void> {
  const url = process.env.SUPABASE_DB_URL;
  if (!url) return;
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query(sql);
  } finally {
    await db.end();
  }
}

export async function setup(): Promise<void> {
  await query(`select cron.schedule('${CRON_PROBE_JOB}', '* * * * *', 'select 1')`);
}

export async function teardown(): Promise<void> {
  await query(
    `select cron.unschedule(jobid) from cron.job where jobname = '${CRON_PROBE_JOB}'`,
  );
}
