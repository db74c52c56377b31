// Electronic signatures of prescriptions (issue 10, rule 5). Every issued prescription version carries
// its prescriber's signature over its canonical content: RFC 8785 JSON of the fields in
// `PrescriptionContent`, hashed with SHA-256, the digest signed. The signature adapter is a boundary
// (`PrescriptionSigner`), chosen in configuration like the payment provider and the courier: the local
// default signs with a per-clinician Ed25519 key that CarePath keeps in PostgreSQL, its private half
// sealed with SIGNING_KEYS; a CA-issued certificate service (a 电子签名 provider holding each doctor's
// certificate) implements the same two calls, with its own `algorithm` and `keyId`.
//
// Only the API signs, in the request of the doctor who prescribes (their own token): the worker's
// signer holds no key ring and can only verify. docs/architecture.md ("Signed prescriptions").
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign as signBytes,
  verify as verifyBytes,
  type KeyObject,
} from 'node:crypto';
import canonicalize from 'canonicalize';
import {
  prescriptionContent,
  type Actor,
  type PrescriptionContent,
  type PrescriptionSignature,
  type PrescriptionSnapshot,
  type SignatureCheck,
} from '../workflows/definitions.js';
import type { Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';

export const ED25519 = 'Ed25519';

/** The canonical bytes of a version's content (RFC 8785): the same content, the same bytes, whatever the key order. */
export function canonicalBytes(content: PrescriptionContent): Buffer {
  return Buffer.from(canonicalize(prescriptionContent({ ...content, id: content.prescriptionId }))!, 'utf8');
}

/** Lowercase hex SHA-256 of the canonical content: what is signed. */
export function digestOf(content: PrescriptionContent): string {
  return createHash('sha256').update(canonicalBytes(content)).digest('hex');
}

/** Why a signature does not hold for a content. */
export type Verdict = { valid: true } | { valid: false; reason: 'digest-mismatch' | 'unknown-key' | 'bad-signature' | 'unsupported-algorithm' };

/** The signature adapter. */
export interface PrescriptionSigner {
  /**
   * Signs one version's content as `signer`, who must be the doctor it names as prescriber
   * (`SignerRefused` otherwise): there is no other way to sign.
   */
  sign(signer: Actor, content: PrescriptionContent): Promise<PrescriptionSignature>;
  /** Whether `signature` is its signer's signature of exactly `content`. */
  verify(signature: PrescriptionSignature, content: PrescriptionContent): Promise<Verdict>;
}

/** Signing for anyone but the prescribing doctor (the API answers 403 `signer-not-prescriber`). */
export class SignerRefused extends Error {
  override readonly name = 'SignerRefused';
}

/** The keys that seal doctors' private keys: the active one seals, every listed one opens. */
export interface SigningKeyRing {
  activeKeyId: string;
  keys: readonly { id: string; key: Buffer }[];
}

/** Development's and the tests' key ring (public, like the development payload key): production refuses it. */
export const DEV_SIGNING_KEYS: SigningKeyRing = Object.freeze({
  activeKeyId: 'dev',
  keys: Object.freeze([Object.freeze({ id: 'dev', key: Buffer.from('carepath-dev-only-signing-key-32', 'utf8') })]),
});

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The seal is bound to its row: a private key copied into another clinician's row does not open. */
const sealContext = (keyId: string, clinicianId: string) => Buffer.from(`carepath-signing-key\n${keyId}\n${clinicianId}`, 'utf8');

function seal(ring: SigningKeyRing, keyId: string, clinicianId: string, clear: Buffer): { sealed: Buffer; sealedWith: string } {
  const kek = ring.keys.find((k) => k.id === ring.activeKeyId)!;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv);
  cipher.setAAD(sealContext(keyId, clinicianId));
  return { sealed: Buffer.concat([iv, cipher.update(clear), cipher.final(), cipher.getAuthTag()]), sealedWith: kek.id };
}

function unseal(ring: SigningKeyRing, row: { key_id: string; clinician_id: string; private_key: Buffer; sealed_with: string }): KeyObject {
  const kek = ring.keys.find((k) => k.id === row.sealed_with);
  if (!kek) throw new Error(`no signing key "${row.sealed_with}" is configured (SIGNING_KEYS): keep a retired key listed while private keys are sealed with it`);
  const data = row.private_key;
  const decipher = createDecipheriv('aes-256-gcm', kek.key, data.subarray(0, IV_BYTES));
  decipher.setAAD(sealContext(row.key_id, row.clinician_id));
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  let der: Buffer;
  try {
    der = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new Error(`the private key ${row.key_id} does not open with signing key "${row.sealed_with}" (wrong key, or the row was altered)`);
  }
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

interface KeyRow {
  key_id: string;
  clinician_id: string;
  private_key: Buffer;
  sealed_with: string;
}

/**
 * CarePath's own signer: one Ed25519 key pair per doctor, made at their first signature and kept in
 * `signing_keys`. Without `ring` (the worker) it verifies only: signing needs the key ring that opens
 * the private keys, which only the API holds.
 */
export function localSigner(sql: Sql, ring?: SigningKeyRing): PrescriptionSigner {
  /** Public keys never change: read once per key. */
  const publicKeys = new Map<string, { clinicianId: string; key: KeyObject }>();

  async function activeKey(clinicianId: string, keys: SigningKeyRing): Promise<{ keyId: string; privateKey: KeyObject }> {
    const current = () => sql<KeyRow[]>`
      select key_id, clinician_id, private_key, sealed_with from signing_keys where clinician_id = ${clinicianId} and retired_at is null`;
    let [row] = await current();
    if (!row) {
      // The doctor's first signature: a new pair. Of two concurrent first signatures one key is kept.
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const keyId = randomUUID();
      const { sealed, sealedWith } = seal(keys, keyId, clinicianId, privateKey.export({ format: 'der', type: 'pkcs8' }));
      await sql`
        insert into signing_keys (key_id, clinician_id, algorithm, public_key, private_key, sealed_with)
        values (${keyId}, ${clinicianId}, ${ED25519}, ${publicKey.export({ format: 'der', type: 'spki' }).toString('base64')}, ${sealed}, ${sealedWith})
        on conflict (clinician_id) where retired_at is null do nothing`;
      [row] = await current();
    }
    const privateKey = unseal(keys, row!);
    if (row!.sealed_with !== keys.activeKeyId) {
      // Sealed with a key being rotated out: sealed again with the active one, so the old key can go.
      const again = seal(keys, row!.key_id, clinicianId, privateKey.export({ format: 'der', type: 'pkcs8' }));
      await sql`update signing_keys set private_key = ${again.sealed}, sealed_with = ${again.sealedWith} where key_id = ${row!.key_id}`;
    }
    return { keyId: row!.key_id, privateKey };
  }

  async function publicKey(keyId: string): Promise<{ clinicianId: string; key: KeyObject } | undefined> {
    const known = publicKeys.get(keyId);
    if (known) return known;
    const [row] = await sql<{ clinician_id: string; public_key: string; algorithm: string }[]>`
      select clinician_id, public_key, algorithm from signing_keys where key_id = ${keyId}`;
    if (!row || row.algorithm !== ED25519) return undefined;
    const found = { clinicianId: row.clinician_id, key: createPublicKey({ key: Buffer.from(row.public_key, 'base64'), format: 'der', type: 'spki' }) };
    publicKeys.set(keyId, found);
    return found;
  }

  return {
    async sign(signer, content) {
      if (signer.role !== 'doctor' || signer.id !== content.prescriberId) throw new SignerRefused('only the prescribing doctor signs a prescription');
      if (!ring) throw new Error('this process holds no signing keys: prescriptions are signed in the API, in the prescribing doctor\'s request');
      const { keyId, privateKey } = await activeKey(signer.id, ring);
      const digest = digestOf(content);
      const signature = signBytes(null, Buffer.from(digest, 'hex'), privateKey).toString('base64');
      return { signer: signer.id, algorithm: ED25519, keyId, digest, signature, signedAt: new Date().toISOString() };
    },
    async verify(signature, content) {
      if (signature.algorithm !== ED25519) return { valid: false, reason: 'unsupported-algorithm' };
      if (digestOf(content) !== signature.digest) return { valid: false, reason: 'digest-mismatch' };
      const key = await publicKey(signature.keyId);
      // Another doctor's key never verifies a signature in this doctor's name.
      if (!key || key.clinicianId !== signature.signer) return { valid: false, reason: 'unknown-key' };
      let ok: boolean;
      try {
        ok = verifyBytes(null, Buffer.from(signature.digest, 'hex'), key.key, Buffer.from(signature.signature, 'base64'));
      } catch {
        ok = false; // a malformed signature
      }
      return ok ? { valid: true } : { valid: false, reason: 'bad-signature' };
    },
  };
}

interface SignatureRow {
  signer: string;
  algorithm: string;
  key_id: string;
  digest: string;
  signature: string;
  signed_at: Date;
}

/** The stored signature of one version, if any. */
export async function storedSignature(sql: Sql, prescriptionId: string, version: number): Promise<PrescriptionSignature | undefined> {
  const [row] = await sql<SignatureRow[]>`
    select signer, algorithm, key_id, digest, signature, signed_at from prescription_signatures
    where prescription_id = ${prescriptionId} and version = ${version}`;
  return row && { signer: row.signer, algorithm: row.algorithm, keyId: row.key_id, digest: row.digest, signature: row.signature, signedAt: new Date(row.signed_at).toISOString() };
}

const sameSignature = (a: PrescriptionSignature, b: PrescriptionSignature): boolean =>
  a.signer === b.signer && a.algorithm === b.algorithm && a.keyId === b.keyId && a.digest === b.digest && a.signature === b.signature && Date.parse(a.signedAt) === Date.parse(b.signedAt);

/**
 * Checks a version's content as the read model stores it (the row the pharmacist reads and the
 * pharmacy dispenses from) against the signature the workflow holds: the stored signature must be
 * that one, the row must be of that version and agree with its own columns, and the signature must
 * verify over the canonical content recomputed from the row.
 */
export async function checkStoredContent(sql: Sql, signer: PrescriptionSigner, r: { prescriptionId: string; version: number; signature: PrescriptionSignature | null }): Promise<SignatureCheck> {
  const [row] = await sql<{ id: string; journey_id: string; patient_id: string; prescriber_id: string; snapshot: PrescriptionSnapshot }[]>`
    select id, journey_id, patient_id, prescriber_id, snapshot from prescriptions where id = ${r.prescriptionId}`;
  if (!row) return { ok: false, reason: 'missing-content' };
  const stored = await storedSignature(sql, r.prescriptionId, r.version);
  if (!stored || !r.signature) return { ok: false, reason: 'missing-signature' };
  if (!sameSignature(stored, r.signature)) return { ok: false, reason: 'signature-changed' };
  const s = row.snapshot;
  let content: PrescriptionContent;
  try {
    content = prescriptionContent(s);
  } catch {
    return { ok: false, reason: 'content-changed' }; // not even the shape of a prescription any more
  }
  const found = digestOf(content);
  const columnsAgree = row.id === s.id && row.journey_id === s.journeyId && row.patient_id === s.patientId && row.prescriber_id === s.prescriberId;
  if (!columnsAgree || s.version !== r.version) return { ok: false, reason: 'content-changed', found };
  const verdict = await signer.verify(r.signature, content);
  if (verdict.valid) return { ok: true };
  return { ok: false, reason: verdict.reason === 'digest-mismatch' ? 'content-changed' : 'bad-signature', found };
}

/** The workflow's side of signing: storing each version's signature, and checking stored content against it. */
export function signingActivities(deps: Pick<ActivityDeps, 'sql' | 'log' | 'signer'>) {
  const signer = deps.signer ?? localSigner(deps.sql);
  return {
    /**
     * Stores a version's signature once, if it is the prescriber's valid signature of `content`
     * (`valid: false`: nothing stored, and the version's checks will find no signature).
     */
    async recordPrescriptionSignature(r: { content: PrescriptionContent; signature: PrescriptionSignature }): Promise<{ valid: boolean }> {
      const { content: c, signature: s } = r;
      const valid = s.signer === c.prescriberId && (await signer.verify(s, c)).valid;
      if (valid) {
        await deps.sql`
          insert into prescription_signatures (prescription_id, version, signer, algorithm, key_id, digest, signature, signed_at)
          values (${c.prescriptionId}, ${c.version}, ${s.signer}, ${s.algorithm}, ${s.keyId}, ${s.digest}, ${s.signature}, ${s.signedAt})
          on conflict (prescription_id, version) do nothing`;
      }
      activityLog(deps).info({ prescriptionId: c.prescriptionId, version: c.version, keyId: s.keyId, valid }, 'prescription signature stored');
      return { valid };
    },
    /** Before a review, a payment or dispensing takes effect: does the stored content still match its signature? */
    async verifyPrescriptionSignature(r: { prescriptionId: string; version: number; signature: PrescriptionSignature | null; stage: 'review' | 'payment' | 'dispense' }): Promise<SignatureCheck> {
      const check = await checkStoredContent(deps.sql, signer, r);
      const log = activityLog(deps);
      if (check.ok) log.debug({ prescriptionId: r.prescriptionId, version: r.version, stage: r.stage }, 'prescription signature holds');
      else log.warn({ prescriptionId: r.prescriptionId, version: r.version, stage: r.stage, reason: check.reason }, 'prescription content does not match its signature');
      return check;
    },
  };
}
