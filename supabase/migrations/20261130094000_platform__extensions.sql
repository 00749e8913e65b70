-- Extensions the schema needs before it is created: pg_cron (scheduled jobs; scheduled_jobs()
-- reads cron.job) and pg_net (scheduled jobs call edge functions). Supabase documents pg_cron
-- in pg_catalog. pg_net is not in every Postgres (it is on Supabase); where it is missing, the
-- migration still applies and private.call_edge_function says what is missing when a job runs
-- (the Docker-less stack has a stand-in in sql/baseline).

create extension if not exists pg_cron with schema pg_catalog;

do $$
begin
  if to_regnamespace('net') is null and exists (select 1 from pg_available_extensions where name = 'pg_net') then
    create extension pg_net with schema extensions;
  end if;
end
$$;
