-- Triage rules as one versioned document (concepts, negation and history context, red-flag and urgent
-- rules): activities/triage-engine.ts reads it, db/seed/triage-rules.json is its source. The keyword
-- table of the first engine goes.
create table triage_rule_sets (
  version integer primary key,
  rules jsonb not null,
  stored_at timestamptz not null default now()
);

drop table triage_rules;
