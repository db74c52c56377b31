-- Remote consultations (远程会诊, issue 12): primary-care institutions and pharmacies ask CarePath for a
-- specialist's opinion on one of their patients. Each institution signs its requests with a secret of
-- its own (made by CarePath, shown once) and receives the opinion, signed with the same secret, at its
-- callback URL. The secret is kept as it is: an HMAC needs it to verify (like every webhook secret of
-- the configuration, it is a credential to keep in the database's own protection).
create table institutions (
  id text primary key,
  name text not null,
  kind text not null check (kind in ('primary-care', 'pharmacy')),
  callback_url text not null,
  signing_secret text not null,
  -- The remote consultation template of its agreement (its timings): a row of consultation_templates, kind remote.
  template_id text not null,
  created_at timestamptz not null default date_trunc('milliseconds', now())
);

-- An institution's patient as CarePath knows them (created on its first request).
create table institution_patients (
  institution_id text not null references institutions (id),
  external_id text not null,
  patient_id text not null references patients (id),
  primary key (institution_id, external_id)
);

create table remote_consultations (
  id text primary key,
  institution_id text not null references institutions (id),
  external_ref text not null,
  patient_id text not null references patients (id),
  doctor_id text references clinicians (id),
  status text not null,
  snapshot jsonb not null,
  version integer not null,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now(),
  -- The institution's own reference: a request sent again is the same consultation.
  unique (institution_id, external_ref)
);
create index remote_consultations_doctor on remote_consultations (doctor_id, status);

-- The opinion's return to its institution: at least once, keyed by the consultation.
create table remote_opinion_sends (
  remote_id text primary key references remote_consultations (id),
  attempts integer not null default 0,
  sent_at timestamptz,
  last_error text
);

alter table tasks drop constraint tasks_subject_type;
alter table tasks add constraint tasks_subject_type check (subject_type in ('journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt', 'remote'));

alter table changes drop constraint changes_kind_check;
alter table changes add constraint changes_kind_check check (kind in ('journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt', 'remote'));

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
      union all
      select 'mdt', m.snapshot ->> 'journeyId', m.patient_id, m.convener_id from mdts m where m.id = new.item_id
      union all
      select 'remote', null, rc.patient_id, rc.doctor_id from remote_consultations rc where rc.id = new.item_id
    ) x;
  end if;
  return null;
end $$;
