-- The post-visit phase: the drug and exam catalogues, facilities, and one table per child workflow
-- (prescriptions, exams, referrals), each with its own append-only timeline. A child never writes its
-- journey's row: the journey's read model joins the children's statuses when it is read.

create table drugs (
  code text primary key,
  name text not null,
  name_en text not null,
  form text not null,
  class text not null check (class in ('ordinary', 'narcotic', 'psychotropic', 'toxic', 'radioactive')),
  unit_price integer not null check (unit_price >= 0),
  max_days integer not null check (max_days > 0),
  chronic boolean not null default false,
  -- the chronic condition a drug treats, for long prescriptions of enrolled patients
  condition text
);
create index drugs_name on drugs (name);

create table exam_catalogue (
  code text primary key,
  name text not null,
  price integer not null check (price >= 0),
  daily_capacity integer not null check (daily_capacity > 0)
);

create table facilities (
  id text primary key,
  name text not null,
  kind text not null check (kind in ('hospital', 'community', 'lab')),
  webhook_url text,
  created_at timestamptz not null default now()
);

-- Chronic-care enrolments (the care-program workflow extends this); a long prescription needs one.
create table care_programs (
  patient_id text not null references patients (id),
  condition text not null,
  status text not null default 'active' check (status in ('active', 'ended')),
  created_at timestamptz not null default now(),
  primary key (patient_id, condition)
);

create table prescriptions (
  id text primary key,
  journey_id text not null references journeys (id),
  patient_id text not null references patients (id),
  prescriber_id text not null,
  status text not null,
  snapshot jsonb not null,
  version integer not null default 0,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
create index prescriptions_journey on prescriptions (journey_id);
create index prescriptions_status on prescriptions (status, created_at);
create index prescriptions_prescriber on prescriptions (prescriber_id, created_at);
create index prescriptions_patient on prescriptions (patient_id, created_at);

create table exams (
  id text primary key,
  journey_id text not null references journeys (id),
  patient_id text not null references patients (id),
  doctor_id text not null,
  status text not null,
  snapshot jsonb not null,
  version integer not null default 0,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
create index exams_journey on exams (journey_id);

create table referrals (
  id text primary key,
  journey_id text not null references journeys (id),
  patient_id text not null references patients (id),
  facility_id text not null references facilities (id),
  status text not null,
  snapshot jsonb not null,
  version integer not null default 0,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
create index referrals_journey on referrals (journey_id);

-- Each child's own timeline: append-only like the journey's.
create table item_timeline (
  item_id text not null,
  seq integer not null,
  key text not null,
  at timestamptz not null,
  type text not null,
  actor text not null,
  data jsonb not null default '{}',
  primary key (item_id, seq),
  unique (item_id, key)
);
create trigger item_timeline_no_update before update or delete on item_timeline
  for each row execute function timeline_append_only();

-- Orders now pay for a journey's registration, a prescription or an exam: `subject` routes the
-- provider's webhook to the workflow that waits for it.
alter table payments add column subject_type text not null default 'journey'
  check (subject_type in ('journey', 'prescription', 'exam'));
alter table payments add column subject_id text;
update payments set subject_id = journey_id where subject_id is null;
alter table payments alter column subject_id set not null;

-- Dispensing: once per prescription version, whatever the retries.
create table dispenses (
  prescription_id text not null references prescriptions (id),
  version integer not null,
  dispensed_at timestamptz not null default now(),
  primary key (prescription_id, version)
);

-- Courier orders: one per attempt; the courier's webhooks name the delivery id.
create table deliveries (
  delivery_id text primary key,
  prescription_id text not null references prescriptions (id),
  attempt integer not null,
  status text not null default 'ordered',
  created_at timestamptz not null default now(),
  unique (prescription_id, attempt)
);

-- The course's dose occurrences, planned at delivery in the patient's timezone; the first answer stands.
create table doses (
  prescription_id text not null references prescriptions (id),
  scheduled_at timestamptz not null,
  drug_codes text[] not null,
  taken boolean,
  answered_at timestamptz,
  primary key (prescription_id, scheduled_at)
);

-- Exam appointments: one exam per time of an exam's daily schedule.
create table exam_bookings (
  exam_id text primary key references exams (id),
  code text not null references exam_catalogue (code),
  start_at timestamptz not null,
  unique (code, start_at)
);

-- Referrals POSTed to facilities (the facility adapter's outbox): once per referral.
create table referral_sends (
  referral_id text primary key references referrals (id),
  facility_id text not null references facilities (id),
  sent_at timestamptz,
  attempts integer not null default 0,
  last_error text
);
