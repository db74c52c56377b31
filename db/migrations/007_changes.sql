-- The change feed behind GET /v1/stream: one row for every event appended to a journey's or an item's
-- timeline (prescriptions, exams, referrals, programs), written by triggers in the appending
-- transaction, so every projection feeds it and nothing is left out. Each API instance reads it in
-- (xid, id) order up to the oldest transaction still running, so a row whose transaction commits late
-- is read late, never skipped. Rows carry ids only (the stream never carries patient data) and who may
-- see them: the patient, the responsible doctor. Rows older than a day are deleted by the readers.
create table changes (
  id bigserial primary key,
  xid xid8 not null default pg_current_xact_id(),
  at timestamptz not null default now(),
  kind text not null check (kind in ('journey', 'prescription', 'exam', 'referral', 'program')),
  subject_id text not null,
  journey_id text,
  patient_id text,
  doctor_id text,
  seq integer not null,
  type text not null
);
create index changes_order on changes (xid, id);
create index changes_at on changes (at);

create function timeline_change() returns trigger language plpgsql as $$
begin
  if tg_table_name = 'timeline' then
    insert into changes (kind, subject_id, journey_id, patient_id, doctor_id, seq, type)
    select 'journey', new.journey_id, new.journey_id, j.patient_id, j.doctor_id, new.seq, new.type
    from journeys j where j.id = new.journey_id;
  else
    insert into changes (kind, subject_id, journey_id, patient_id, doctor_id, seq, type)
    select x.kind, new.item_id, x.journey_id, x.patient_id, x.doctor_id, new.seq, new.type
    from (
      select 'prescription' as kind, p.journey_id, p.patient_id, p.prescriber_id as doctor_id from prescriptions p where p.id = new.item_id
      union all
      select 'exam', e.journey_id, e.patient_id, e.doctor_id from exams e where e.id = new.item_id
      union all
      select 'referral', r.journey_id, r.patient_id, j.doctor_id from referrals r left join journeys j on j.id = r.journey_id where r.id = new.item_id
      union all
      select 'program', g.snapshot ->> 'journeyId', g.patient_id, g.doctor_id from programs g where g.id = new.item_id
    ) x;
  end if;
  return null;
end $$;

create trigger timeline_change after insert on timeline for each row execute function timeline_change();
create trigger item_timeline_change after insert on item_timeline for each row execute function timeline_change();
