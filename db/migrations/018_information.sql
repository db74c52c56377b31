-- What a patient looks up (issue 13): drug leaflets and the hospital guide, in zh-CN and en, seeded
-- and edited by admins; every admin edit of them and of a price is kept in information_changes.
create table drug_information (
  code text primary key references drugs (code),
  usage jsonb not null,
  contraindications jsonb not null,
  leaflet jsonb not null,
  version integer not null default 1,
  updated_at timestamptz not null default now(),
  updated_by text not null default 'seed'
);

create table guide_departments (
  code text primary key,
  position integer not null,
  name jsonb not null,
  building jsonb not null,
  floor integer not null,
  location jsonb not null,
  hours jsonb not null,
  version integer not null default 1,
  updated_at timestamptz not null default now(),
  updated_by text not null default 'seed'
);

create table guide_procedures (
  code text primary key,
  position integer not null,
  title jsonb not null,
  steps jsonb not null,
  version integer not null default 1,
  updated_at timestamptz not null default now(),
  updated_by text not null default 'seed'
);

-- Every admin edit, with what it set: append-only.
create table information_changes (
  id bigserial primary key,
  kind text not null check (kind in ('drug-information', 'drug-price', 'exam-price', 'guide-department', 'guide-procedure')),
  key text not null,
  version integer not null,
  data jsonb not null,
  changed_by text not null,
  changed_at timestamptz not null default now()
);
create index information_changes_key on information_changes (kind, key, id);
create trigger information_changes_no_update before update or delete on information_changes
  for each row execute function timeline_append_only();

-- A price an admin set is not reset by the seed at the next start.
alter table drugs add column price_version integer not null default 0;
alter table exam_catalogue add column price_version integer not null default 0;
