-- The audit log: one event for every request to a route that serves patient data (api/audit.ts),
-- allowed or refused. `patient_id` is the patient the request concerned (null when it names none);
-- `patient_ids` the patients a list showed (null for a request that is not a list). Events are
-- only ever appended: the triggers below refuse UPDATE and DELETE of any row and TRUNCATE of the
-- table, whoever asks (the application's own role included). The order of `id` is the order of
-- appending; the API pages newest first by it.
create table audit_events (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor text,
  role text not null,
  action text not null,
  patient_id text,
  patient_ids text[],
  resource text,
  outcome text not null check (outcome in ('allowed', 'refused')),
  status integer not null,
  request_id text not null
);
-- A patient's access log and the admins' patientId filter: the patient's own events, and the lists
-- that showed them (`patient_ids @> array[...]` uses the GIN index).
create index audit_events_patient on audit_events (patient_id, id desc) where patient_id is not null;
create index audit_events_patients on audit_events using gin (patient_ids);
create index audit_events_actor on audit_events (actor, id desc);
create index audit_events_at on audit_events (at);
create index audit_events_request on audit_events (request_id);

-- append_only() is 009_verification.sql's.
create trigger audit_events_no_update before update or delete on audit_events
  for each row execute function append_only();
create trigger audit_events_no_truncate before truncate on audit_events
  for each statement execute function append_only();
