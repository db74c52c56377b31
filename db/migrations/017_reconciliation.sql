-- Daily reconciliation (issue 13): each run of a day fetches every channel's settlement statement,
-- matches it line by line against CarePath's payments and refunds, and records the result. A day's
-- latest finished run is its result; earlier runs are kept.
create table reconciliation_runs (
  id text primary key,
  -- The hospital's local day the run reconciles.
  day date not null,
  trigger text not null check (trigger in ('schedule', 'admin')),
  requested_by text,
  status text not null check (status in ('running', 'done')),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  -- Per channel: lines on each side, matched and mismatched (counts only).
  summary jsonb not null default '{}'
);
-- A scheduled run happens once per day, however often the schedule fires for it (a catch-up after an outage).
create unique index reconciliation_runs_scheduled on reconciliation_runs (day) where trigger = 'schedule';
create index reconciliation_runs_day on reconciliation_runs (day, started_at);

-- A channel's statement as its adapter gave it for a run.
create table settlement_lines (
  run_id text not null references reconciliation_runs (id),
  channel text not null,
  line integer not null,
  kind text not null check (kind in ('payment', 'refund')),
  order_id text not null,
  amount integer not null,
  at timestamptz not null,
  primary key (run_id, channel, line)
);

-- One row per mismatch a run found; its `finance-exception` task is keyed by the day and the mismatch,
-- so a re-run that finds the same mismatch keeps the same task.
create table reconciliation_mismatches (
  run_id text not null references reconciliation_runs (id),
  task_id text not null,
  channel text not null,
  kind text not null check (kind in ('payment', 'refund')),
  order_id text not null,
  type text not null check (type in ('missing-in-statement', 'missing-in-carepath', 'amount-differs', 'duplicate', 'refund-not-settled')),
  ours jsonb,
  theirs jsonb not null default '[]',
  primary key (run_id, task_id)
);

-- What the sandbox channels are told to get wrong in a day's statement (development and tests only).
create table sandbox_statement_faults (
  id bigserial primary key,
  channel text not null,
  day date not null,
  kind text not null check (kind in ('payment', 'refund')),
  order_id text not null,
  fault text not null check (fault in ('drop', 'duplicate', 'alter', 'add')),
  amount integer,
  created_at timestamptz not null default now()
);
create index sandbox_statement_faults_day on sandbox_statement_faults (channel, day);

alter table tasks drop constraint tasks_subject_type;
alter table tasks add constraint tasks_subject_type check (subject_type in ('journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt', 'remote', 'reconciliation'));
