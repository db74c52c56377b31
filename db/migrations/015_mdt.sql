-- Multidisciplinary consultations (多学科会诊, issue 12): a doctor convenes specialists on one patient's
-- case. Their templates are rows of consultation_templates whose body says `"kind": "mdt"`; one row
-- per MDT (its snapshot, kept by its workflow's projection); its timeline in item_timeline; the case,
-- the opinions and the conclusion are texts in consultation_messages (consultation_id = the MDT's id),
-- each accepted by the projection that counts it, like a consultation's messages.
create table mdts (
  id text primary key,
  patient_id text not null references patients (id),
  convener_id text not null references clinicians (id),
  status text not null,
  snapshot jsonb not null,
  version integer not null,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
create index mdts_convener on mdts (convener_id, status);
create index mdts_patient on mdts (patient_id, created_at desc);
-- The specialists invited, for their queue (the snapshot has the same list with each one's state).
create table mdt_invitations (
  mdt_id text not null references mdts (id),
  doctor_id text not null references clinicians (id),
  primary key (mdt_id, doctor_id)
);
create index mdt_invitations_doctor on mdt_invitations (doctor_id);

alter table consultation_messages add column kind text not null default 'message' check (kind in ('message', 'case', 'opinion', 'conclusion'));

alter table tasks drop constraint tasks_subject_type;
alter table tasks add constraint tasks_subject_type check (subject_type in ('journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt'));

-- An MDT's timeline feeds GET /v1/stream: its patient and its convener see it (each specialist reads it
-- through the API while invited).
alter table changes drop constraint changes_kind_check;
alter table changes add constraint changes_kind_check check (kind in ('journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt'));

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
    ) x;
  end if;
  return null;
end $$;
