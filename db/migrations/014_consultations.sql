-- Online consultations (在线咨询, issue 12): a patient asks a doctor in text, pays the fee, and the
-- doctor answers within the template's response time. Templates are versioned data like pathways;
-- one row per consultation (its snapshot, kept by its workflow's projection); its timeline in
-- item_timeline (item_id = consultation id); its messages here, never in workflow history: the API
-- stores a message, the workflow's projection accepts it (accepted_at) in the transition that counts
-- it, and only accepted messages are read back.
create table consultation_templates (
  id text not null,
  version integer not null,
  body jsonb not null,
  created_at timestamptz not null default now(),
  primary key (id, version)
);

create table consultations (
  id text primary key,
  patient_id text not null references patients (id),
  doctor_id text not null references clinicians (id),
  status text not null,
  snapshot jsonb not null,
  version integer not null,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
create index consultations_doctor on consultations (doctor_id, status);
create index consultations_patient on consultations (patient_id, created_at desc);

create table consultation_messages (
  id text primary key,
  consultation_id text not null,
  author_role text not null check (author_role in ('patient', 'doctor')),
  author_id text not null,
  body text not null,
  -- References to images stored elsewhere (ids or URLs the client uploaded to), never the images.
  attachments jsonb not null default '[]',
  at timestamptz not null default date_trunc('milliseconds', now()),
  accepted_at timestamptz
);
create index consultation_messages_of on consultation_messages (consultation_id, at) where accepted_at is not null;

-- A consultation's fee is an order without a journey.
alter table payments alter column journey_id drop not null;
alter table payments drop constraint payments_subject_type_check;
alter table payments add constraint payments_subject_type_check check (subject_type in ('journey', 'prescription', 'exam', 'consultation'));

alter table tasks drop constraint tasks_subject_type;
alter table tasks add constraint tasks_subject_type check (subject_type in ('journey', 'prescription', 'exam', 'referral', 'program', 'consultation'));

-- A consultation's timeline feeds GET /v1/stream like an item's: its patient and its doctor see it.
alter table changes drop constraint changes_kind_check;
alter table changes add constraint changes_kind_check check (kind in ('journey', 'prescription', 'exam', 'referral', 'program', 'consultation'));

create or replace function timeline_change() returns trigger language plpgsql as $$
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
      union all
      select 'consultation', null, c.patient_id, c.doctor_id from consultations c where c.id = new.item_id
    ) x;
  end if;
  return null;
end $$;
