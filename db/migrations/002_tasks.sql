-- Tasks become work items of every workflow: `subject` names the item they are about ({type, id}),
-- `action` says what to do, a doctor's task names its assignee, and a completed task keeps who closed
-- it and their note.
alter table tasks rename column subject to action;
alter table tasks add column subject_type text;
alter table tasks add column subject_id text;
alter table tasks add column assignee_id text;
alter table tasks add column closed_by text;
alter table tasks add column note text;
update tasks set subject_type = 'journey', subject_id = journey_id where subject_type is null;
alter table tasks alter column subject_type set not null;
alter table tasks alter column subject_id set not null;
alter table tasks add constraint tasks_subject_type check (subject_type in ('journey', 'prescription', 'exam', 'referral'));
create index tasks_queue on tasks (role, due_at, id) where status = 'open';
create index tasks_assignee on tasks (assignee_id, due_at) where status = 'open';
