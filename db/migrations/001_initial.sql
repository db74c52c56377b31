-- CarePath schema: reference data, pathway templates, triage rules, the journeys read model,
-- the append-only timeline, tasks, payments and notifications (inbox + outbox).

create table clinicians (
  id text primary key,
  name text not null,
  role text not null check (role in ('doctor', 'pharmacist', 'coordinator')),
  department text,
  created_at timestamptz not null default now()
);

create table patients (
  id text primary key,
  name text not null,
  phone text not null,
  birth_date date not null,
  sex text not null check (sex in ('F', 'M', 'O')),
  timezone text not null default 'Asia/Shanghai',
  created_at timestamptz not null default now()
);

create table slots (
  id text primary key,
  doctor_id text not null references clinicians (id),
  department text not null,
  start_at timestamptz not null,
  end_at timestamptz not null,
  capacity integer not null check (capacity > 0),
  remaining integer not null check (remaining >= 0 and remaining <= capacity),
  mode text not null check (mode in ('online', 'offline')),
  created_at timestamptz not null default now(),
  check (end_at > start_at)
);
create index slots_search on slots (department, start_at);

-- One seat per journey; released seats stay as history.
create table seats (
  journey_id text primary key,
  slot_id text not null references slots (id),
  status text not null check (status in ('held', 'released', 'no-show')),
  created_at timestamptz not null default now(),
  released_at timestamptz
);
create index seats_slot on seats (slot_id);

create table queue_entries (
  journey_id text primary key,
  slot_id text not null references slots (id),
  queue_number integer not null,
  status text not null check (status in ('waiting', 'in-consultation', 'done')),
  checked_in_at timestamptz not null default now(),
  unique (slot_id, queue_number)
);

create table pathway_templates (
  id text not null,
  version integer not null,
  body jsonb not null,
  created_at timestamptz not null default now(),
  primary key (id, version)
);

create table triage_rules (
  id text primary key,
  department text not null,
  urgency text not null check (urgency in ('routine', 'urgent', 'emergency')),
  -- every group must match; a group matches when any of its keywords occurs in the complaint
  keyword_groups jsonb not null,
  advice text not null,
  priority integer not null default 0
);

create table journeys (
  id text primary key,
  patient_id text not null references patients (id),
  mode text not null,
  pathway_id text not null,
  pathway_version integer not null,
  phase text not null,
  status text not null,
  step text not null,
  department text,
  doctor_id text,
  slot_id text,
  snapshot jsonb not null,
  -- the workflow's projection counter: an older transition never overwrites a newer snapshot
  version integer not null default 0,
  -- millisecond precision, so the ISO cursor of GET /v1/journeys compares exactly
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
create index journeys_status on journeys (status, phase, created_at desc, id desc);
create index journeys_patient on journeys (patient_id, created_at desc);
create index journeys_doctor on journeys (doctor_id, created_at desc);

create table timeline (
  journey_id text not null references journeys (id),
  seq integer not null,
  key text not null,
  at timestamptz not null,
  type text not null,
  actor text not null,
  data jsonb not null default '{}',
  primary key (journey_id, seq),
  unique (journey_id, key)
);

-- The timeline is append-only: nothing may rewrite or remove an event.
create function timeline_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'timeline is append-only';
end $$;
create trigger timeline_no_update before update or delete on timeline
  for each row execute function timeline_append_only();

create table tasks (
  id text primary key,
  kind text not null,
  role text not null,
  status text not null check (status in ('open', 'done', 'cancelled')),
  journey_id text references journeys (id),
  subject text not null,
  due_at timestamptz not null,
  tier integer not null default 1,
  created_at timestamptz not null default now(),
  closed_at timestamptz
);
create index tasks_open on tasks (journey_id) where status = 'open';

create table payments (
  order_id text primary key,
  journey_id text not null references journeys (id),
  amount integer not null,
  currency text not null default 'CNY',
  status text not null check (status in ('pending', 'paid', 'expired', 'refunded')),
  due_by timestamptz not null,
  paid_at timestamptz,
  channel text,
  created_at timestamptz not null default now()
);

-- The payment provider adapter's ledger of refunds: one per order, whatever the retries.
create table refunds (
  order_id text primary key references payments (order_id),
  amount integer not null,
  reason text not null,
  created_at timestamptz not null default now()
);

create table notifications (
  id text primary key,
  patient_id text not null references patients (id),
  kind text not null,
  title text not null,
  body text not null,
  at timestamptz not null default now(),
  refs jsonb not null default '{}'
);
create index notifications_patient on notifications (patient_id, at desc);

create table outbox (
  id text primary key references notifications (id),
  delivered_at timestamptz,
  attempts integer not null default 0,
  last_error text
);
