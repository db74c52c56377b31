-- Idempotency-Key on the POSTs that create something: the first answer to (caller, key) is kept and a
-- retry with the same key and the same request gets it again; another request under the same key is
-- refused. A row without an answer is a request still in flight. Kept a day.
create table idempotency_keys (
  caller text not null,
  key text not null,
  request_hash text not null,
  status integer,
  response text,
  created_at timestamptz not null default now(),
  primary key (caller, key)
);
create index idempotency_keys_created on idempotency_keys (created_at);
