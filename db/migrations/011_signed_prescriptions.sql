-- Signed prescriptions (issue 10, rule 5). CarePath keeps one Ed25519 key pair per doctor, made at
-- their first signature: the public key in the clear, the private key sealed (AES-256-GCM under a
-- key of SIGNING_KEYS, named by `sealed_with`; the row's key id and clinician are the seal's
-- associated data, so a sealed key moved to another row does not open). Every issued prescription
-- version's signature is stored once, keyed by prescription and version, and never changed.
create table signing_keys (
  key_id text primary key,
  clinician_id text not null,
  algorithm text not null,
  -- SubjectPublicKeyInfo, DER, base64
  public_key text not null,
  -- iv (12 bytes) ‖ AES-256-GCM ciphertext of the PKCS#8 DER private key ‖ tag (16 bytes)
  private_key bytea not null,
  sealed_with text not null,
  created_at timestamptz not null default now(),
  -- A retired key signs no more; the signatures it made still verify.
  retired_at timestamptz
);
-- One key signs for a clinician at a time: a concurrent first signature makes one key, not two.
create unique index signing_keys_active on signing_keys (clinician_id) where retired_at is null;

create table prescription_signatures (
  prescription_id text not null,
  version integer not null check (version > 0),
  signer text not null,
  algorithm text not null,
  key_id text not null,
  -- lowercase hex SHA-256 of the version's RFC 8785 canonical content
  digest text not null check (digest ~ '^[0-9a-f]{64}$'),
  signature text not null,
  signed_at timestamptz not null,
  created_at timestamptz not null default now(),
  primary key (prescription_id, version)
);

-- A stored signature is evidence: it is never changed or removed (a retried store adds nothing).
-- (append_only() is 009_verification.sql's.)
create trigger prescription_signatures_append_only
  before update or delete on prescription_signatures
  for each row execute function append_only();
create trigger prescription_signatures_no_truncate before truncate on prescription_signatures
  for each statement execute function append_only();
