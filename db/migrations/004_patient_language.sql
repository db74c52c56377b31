-- The language a patient reads their notifications in. Optional on input; zh-CN unless set.
-- A new language needs its message file (activities/messages/<language>.json) and this check widened.
alter table patients add column language text not null default 'zh-CN'
  check (language in ('zh-CN', 'en'));
