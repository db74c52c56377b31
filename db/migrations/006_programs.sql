-- Care programs: templates (versioned data, like pathways), one row per program (its snapshot, kept by
-- its workflow's projection), its timeline in item_timeline (item_id = program id), tasks about a
-- program, and notifications delivered by the outbox dispatcher.
create table program_templates (
  id text not null,
  version integer not null,
  condition text not null,
  body jsonb not null,
  created_at timestamptz not null default now(),
  primary key (id, version)
);

create table programs (
  id text primary key,
  patient_id text not null references patients (id),
  condition text not null,
  doctor_id text not null,
  status text not null check (status in ('active', 'paused', 'discharged')),
  snapshot jsonb not null,
  version integer not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- At most one program per patient and condition that is not discharged.
create unique index programs_one_open on programs (patient_id, condition) where status <> 'discharged';
create index programs_doctor on programs (doctor_id, status);

-- The first, minimal enrolment table (used only to allow long prescriptions) gives way to programs.
drop table care_programs;

alter table tasks drop constraint tasks_subject_type;
alter table tasks add constraint tasks_subject_type check (subject_type in ('journey', 'prescription', 'exam', 'referral', 'program'));

-- Who delivers a queued notification: the workflow's delivery activity, or the worker's outbox
-- dispatcher (programs: a reminder costs the workflow no activity of its own).
alter table outbox add column via text not null default 'activity' check (via in ('activity', 'dispatcher'));
alter table outbox add column next_attempt_at timestamptz not null default now();
create index outbox_dispatch on outbox (next_attempt_at) where delivered_at is null and via = 'dispatcher';
