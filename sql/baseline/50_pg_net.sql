-- Platform baseline: the part of pg_net (Supabase's asynchronous HTTP extension) our
-- migrations call, for the Docker-less stack, where the extension cannot be installed
-- (Debian does not package it). On hosted Supabase and under `supabase start` the real
-- extension is there and this file is never applied.
--
-- Same contract as pg_net: net.http_post queues the request and returns its id; nothing is
-- sent until the transaction commits (the queue row is invisible until then); a worker
-- (stack/net-worker.ts, standing in for pg_net's background worker) takes queued requests,
-- sends them and records each answer, or the error, in net._http_response.

create schema if not exists net;
grant usage on schema net to postgres, service_role;

create unlogged table net.http_request_queue (
  id bigserial primary key,
  method text not null check (method in ('GET', 'POST', 'DELETE')),
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds integer not null
);

create unlogged table net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index _http_response_created_idx on net._http_response (created);

create function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  request_id bigint;
begin
  if params is not null and params <> '{}'::jsonb then
    raise exception 'the local pg_net stand-in does not support params: put them in the url'
      using errcode = '0A000';
  end if;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', url, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

revoke all on all tables in schema net from public;
revoke execute on function net.http_post(text, jsonb, jsonb, jsonb, integer) from public;
grant execute on function net.http_post(text, jsonb, jsonb, jsonb, integer) to postgres, service_role;
grant select on net._http_response to postgres, service_role;
