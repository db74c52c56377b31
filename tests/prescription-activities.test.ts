// The prescription activities on the real PostgreSQL, as a worker that dies mid-way and retries them
// would run them: each side effect happens once per key (dispense per version, courier order per
// delivery id, dose plan per prescription, dose answer per occurrence), and the course's dose times
// follow the patient's wall clock across DST changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createActivities } from '../activities/index.js';
import { recordItemTransition } from '../activities/items.js';
import { ledgerPaymentProvider } from '../activities/payments.js';
import { answerDose, checkPrescribing, drugsByCode, planCourse, type Courier } from '../activities/prescriptions.js';
import { createPatient } from '../activities/reference.js';
import { recordTransition } from '../activities/journeys.js';
import { DEV_SIGNING_KEYS, SignerRefused, digestOf, localSigner, type SigningKeyRing } from '../activities/signing.js';
import { prescriptionContent, type PrescriptionSnapshot } from '../workflows/definitions.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
let orders: string[];
let acts: ReturnType<typeof createActivities>;
const rxId = 'rx-act-1';
let patientId: string;

beforeAll(async () => {
  db = await testDb();
  orders = [];
  const courier: Courier = { async order(o) { orders.push(o.deliveryId); } };
  acts = createActivities({ sql: db.sql, log: pino({ level: 'silent' }), payments: ledgerPaymentProvider(db.sql), courier, facilityWebhookSecret: 's', signalQueueAdvanced: async () => {}, startJourney: async () => { throw new Error('no journeys start in these tests'); } });
  patientId = (await createPatient(db.sql, { name: 'A', phone: '+8613800000007', birthDate: '1970-01-01', sex: 'F', timezone: 'Asia/Shanghai' })).id;
  await recordTransition(db.sql, {
    version: 1,
    snapshot: { id: 'j-act-1', patientId, mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, phase: 'post-visit', status: 'active', step: 'follow-through' },
    events: [],
  });
  const snapshot: PrescriptionSnapshot = { id: rxId, journeyId: 'j-act-1', patientId, prescriberId: 'doc-1', version: 1, status: 'paid', items: [], long: false };
  await recordItemTransition(db.sql, { type: 'prescription', version: 1, snapshot, events: [] });
});
afterAll(async () => {
  await db?.drop();
});

describe('prescription activities, retried', () => {
  it('dispenses a version once, however often it is retried', async () => {
    expect(await acts.dispense({ prescriptionId: rxId, version: 1 })).toEqual({ first: true });
    expect(await acts.dispense({ prescriptionId: rxId, version: 1 })).toEqual({ first: false });
    const rows = await db.sql`select version from dispenses where prescription_id = ${rxId}`;
    expect(rows.map((r) => r.version)).toEqual([1]);
  });

  it('records one courier order per delivery id and hands the same id to the courier on a retry', async () => {
    await acts.placeCourierOrder({ deliveryId: `${rxId}-d1`, prescriptionId: rxId, patientId: 'p', attempt: 1 });
    await acts.placeCourierOrder({ deliveryId: `${rxId}-d1`, prescriptionId: rxId, patientId: 'p', attempt: 1 });
    const rows = await db.sql`select delivery_id, attempt, status from deliveries where prescription_id = ${rxId}`;
    expect(rows).toEqual([{ delivery_id: `${rxId}-d1`, attempt: 1, status: 'ordered' }]);
    expect(orders).toEqual([`${rxId}-d1`, `${rxId}-d1`]); // the partner deduplicates on the delivery id
  });

  it('plans the course once and takes the first answer for each dose', async () => {
    const req = { prescriptionId: rxId, items: [{ drugCode: 'amlodipine-5mg', frequency: 'bid' as const, days: 2 }], timezone: 'Asia/Shanghai', from: '2026-12-01T10:30:00+08:00' };
    const plan = await acts.planDoses(req);
    expect(await acts.planDoses(req)).toEqual(plan);
    expect(plan.doses.map((d) => d.at)).toEqual(['2026-12-01T20:00:00+08:00', '2026-12-02T08:00:00+08:00', '2026-12-02T20:00:00+08:00', '2026-12-03T08:00:00+08:00']);
    const [n] = await db.sql<{ n: number }[]>`select count(*)::int as n from doses where prescription_id = ${rxId}`;
    expect(n!.n).toBe(4);
    expect(await answerDose(db.sql, { prescriptionId: rxId, scheduledAt: '2026-12-01T12:00:00Z', taken: true, by: 'patient:p' })).toEqual({ ok: true });
    expect(await answerDose(db.sql, { prescriptionId: rxId, scheduledAt: '2026-12-01T20:00:00+08:00', taken: false, by: 'patient:p' })).toEqual({ ok: false, reason: 'answered' });
    expect(await answerDose(db.sql, { prescriptionId: rxId, scheduledAt: '2026-12-01T21:00:00+08:00', taken: true, by: 'patient:p' })).toEqual({ ok: false, reason: 'unknown-dose' });
    const events = await db.sql`select type, data from item_timeline where item_id = ${rxId} order by seq`;
    expect(events).toEqual([{ type: 'dose.confirmed', data: { scheduledAt: '2026-12-01T12:00:00.000Z' } }]);
  });
});

describe('the course in the patient timezone', () => {
  it('keeps reminders at their wall-clock times across a DST change', () => {
    // New York leaves DST on 2026-11-01 at 02:00: 08:00 is 12:00Z before and 13:00Z after.
    const plan = planCourse([{ drugCode: 'metformin-500mg', frequency: 'qd', days: 3 }], 'America/New_York', '2026-10-31T09:00:00-04:00');
    expect(plan.doses.map((d) => d.at)).toEqual(['2026-11-01T08:00:00-05:00', '2026-11-02T08:00:00-05:00', '2026-11-03T08:00:00-05:00']);
    expect(new Date(plan.doses[0]!.at).toISOString()).toBe('2026-11-01T13:00:00.000Z');
    const spring = planCourse([{ drugCode: 'x', frequency: 'qn', days: 2 }], 'America/New_York', '2026-03-07T22:00:00-05:00');
    expect(spring.doses.map((d) => d.at)).toEqual(['2026-03-08T21:00:00-04:00', '2026-03-09T21:00:00-04:00']);
  });

  it('gives one reminder per distinct time, with the drugs due then, from the first time after delivery', () => {
    const plan = planCourse(
      [
        { drugCode: 'a', frequency: 'qd', days: 2 },
        { drugCode: 'b', frequency: 'tid', days: 1 },
      ],
      'Asia/Shanghai',
      '2026-12-01T08:00:00+08:00', // exactly at 08:00: that time has passed
    );
    expect(plan.times).toEqual(['08:00', '12:00', '18:00']);
    expect(plan.doses).toEqual([
      { at: '2026-12-01T12:00:00+08:00', drugCodes: ['b'] },
      { at: '2026-12-01T18:00:00+08:00', drugCodes: ['b'] },
      { at: '2026-12-02T08:00:00+08:00', drugCodes: ['a', 'b'] },
      { at: '2026-12-03T08:00:00+08:00', drugCodes: ['a'] },
    ]);
  });
});

describe('prescribing rules', () => {
  it('refuses in order: unknown, controlled, too many, too long; long only for enrolled chronic patients', async () => {
    const drugs = await drugsByCode(db.sql, ['amoxicillin-500mg', 'amlodipine-5mg', 'morphine-10mg', 'iodine-131', 'ibuprofen-300mg', 'paracetamol-500mg', 'omeprazole-20mg', 'loratadine-10mg']);
    const item = (drugCode: string, days = 3) => ({ drugCode, dose: '1', frequency: 'qd' as const, days, quantity: days });
    const type = (p: Parameters<typeof checkPrescribing>[0], enrolled: string[] = []) => {
      const r = checkPrescribing(p, drugs, new Set(enrolled));
      return r.ok ? 'ok' : r.refusal.type;
    };
    expect(type({ items: [item('nope'), item('morphine-10mg')] })).toBe('unknown-drug');
    expect(type({ items: [item('amoxicillin-500mg'), item('morphine-10mg')] })).toBe('controlled-drug');
    expect(type({ items: [item('iodine-131', 1)] })).toBe('controlled-drug');
    expect(type({ items: ['amoxicillin-500mg', 'amlodipine-5mg', 'ibuprofen-300mg', 'paracetamol-500mg', 'omeprazole-20mg', 'loratadine-10mg'].map((c) => item(c)) })).toBe('too-many-drugs');
    expect(type({ items: ['amoxicillin-500mg', 'amlodipine-5mg', 'ibuprofen-300mg', 'paracetamol-500mg', 'omeprazole-20mg'].map((c) => item(c)) })).toBe('ok');
    expect(type({ items: [item('amoxicillin-500mg', 7)] })).toBe('ok');
    expect(type({ items: [item('amoxicillin-500mg', 8)] })).toBe('course-too-long');
    expect(type({ items: [item('amlodipine-5mg', 30)] })).toBe('ok');
    expect(type({ items: [item('amlodipine-5mg', 31)] })).toBe('course-too-long');
    expect(type({ long: true, items: [item('amlodipine-5mg', 84)] })).toBe('course-too-long');
    expect(type({ long: true, items: [item('amlodipine-5mg', 84)] }, ['hypertension'])).toBe('ok');
    expect(type({ long: true, items: [item('amlodipine-5mg', 85)] }, ['hypertension'])).toBe('course-too-long');
    expect(type({ long: true, items: [item('amlodipine-5mg', 60)] }, ['diabetes-t2'])).toBe('course-too-long');
    expect(type({ long: true, items: [item('amoxicillin-500mg', 8)] }, ['hypertension'])).toBe('course-too-long');
    const priced = checkPrescribing({ items: [item('amlodipine-5mg', 30)] }, drugs, new Set());
    expect(priced.ok && priced.items[0]).toMatchObject({ name: '氨氯地平片', unitPrice: 150, quantity: 30 });
  });
});

describe('prescription signatures (issue 10, rule 5)', () => {
  const signed: PrescriptionSnapshot = {
    id: 'rx-sig-1', journeyId: 'j-act-1', patientId: '', prescriberId: 'doc-sig', version: 1, status: 'pending-review', long: false,
    items: [{ drugCode: 'amoxicillin-500mg', name: '阿莫西林胶囊', dose: '500 mg', frequency: 'tid', days: 3, quantity: 9, unitPrice: 50 }],
  };
  const ring2: SigningKeyRing = { activeKeyId: 'k2', keys: [{ id: 'k2', key: Buffer.alloc(32, 2) }, ...DEV_SIGNING_KEYS.keys] };

  it("makes one Ed25519 key per doctor at their first signature (one under concurrent first signatures), its private half sealed; refuses anyone but the prescriber", async () => {
    const signer = localSigner(db.sql, DEV_SIGNING_KEYS);
    const content = prescriptionContent({ ...signed, patientId });
    const sigs = await Promise.all([1, 2, 3].map(() => signer.sign({ role: 'doctor', id: 'doc-sig' }, content)));
    const keys = await db.sql<{ key_id: string; algorithm: string; private_key: Buffer; sealed_with: string }[]>`select key_id, algorithm, private_key, sealed_with from signing_keys where clinician_id = 'doc-sig'`;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ algorithm: 'Ed25519', sealed_with: 'dev' });
    expect(new Set(sigs.map((x) => x.keyId))).toEqual(new Set([keys[0]!.key_id]));
    expect(sigs[0]).toMatchObject({ signer: 'doc-sig', algorithm: 'Ed25519', digest: digestOf(content) });
    expect(sigs[0]!.digest).toMatch(/^[0-9a-f]{64}$/);
    // The PKCS#8 header of an Ed25519 private key never appears in the stored bytes: they are sealed.
    expect(keys[0]!.private_key.includes(Buffer.from('302e020100300506032b6570', 'hex'))).toBe(false);
    for (const s of sigs) expect(await signer.verify(s, content)).toEqual({ valid: true });
    // Only the doctor the content names signs it.
    await expect(signer.sign({ role: 'doctor', id: 'doc-other' }, content)).rejects.toBeInstanceOf(SignerRefused);
    await expect(signer.sign({ role: 'pharmacist', id: 'doc-sig' }, content)).rejects.toBeInstanceOf(SignerRefused);
    await expect(signer.sign({ role: 'admin', id: 'doc-sig' }, content)).rejects.toBeInstanceOf(SignerRefused);
    // A process without the key ring (the worker) verifies, and never signs.
    const worker = localSigner(db.sql);
    expect(await worker.verify(sigs[0]!, content)).toEqual({ valid: true });
    await expect(worker.sign({ role: 'doctor', id: 'doc-sig' }, content)).rejects.toThrow(/no signing keys/);
    // A ring without the key that sealed it cannot open the private key.
    await expect(localSigner(db.sql, { activeKeyId: 'k9', keys: [{ id: 'k9', key: Buffer.alloc(32, 9) }] }).sign({ role: 'doctor', id: 'doc-sig' }, content)).rejects.toThrow(/no signing key "dev"/);
  });

  it('seals a private key again with the active key at its next signature, and what the old seal signed still verifies', async () => {
    const content = prescriptionContent({ ...signed, id: 'rx-sig-rot', patientId, prescriberId: 'doc-rot' });
    const before = await localSigner(db.sql, DEV_SIGNING_KEYS).sign({ role: 'doctor', id: 'doc-rot' }, content);
    const after = await localSigner(db.sql, ring2).sign({ role: 'doctor', id: 'doc-rot' }, content);
    const [row] = await db.sql<{ sealed_with: string }[]>`select sealed_with from signing_keys where clinician_id = 'doc-rot'`;
    expect(row!.sealed_with).toBe('k2');
    expect(after.keyId).toBe(before.keyId);
    const verifier = localSigner(db.sql);
    expect(await verifier.verify(before, content)).toEqual({ valid: true });
    expect(await verifier.verify(after, content)).toEqual({ valid: true });
    // Now sealed with k2 only: the development ring alone no longer opens it.
    await expect(localSigner(db.sql, DEV_SIGNING_KEYS).sign({ role: 'doctor', id: 'doc-rot' }, content)).rejects.toThrow(/no signing key "k2"/);
  });

  it("stores a version's valid signature once and never changes it; checks the stored row against it", async () => {
    const snapshot = { ...signed, patientId };
    await recordItemTransition(db.sql, { type: 'prescription', version: 1, snapshot, events: [] });
    const content = prescriptionContent(snapshot);
    const signer = localSigner(db.sql, DEV_SIGNING_KEYS);
    const sig = await signer.sign({ role: 'doctor', id: 'doc-sig' }, content);
    const check = (signature: typeof sig | null = sig, version = 1) => acts.verifyPrescriptionSignature({ prescriptionId: snapshot.id, version, signature, stage: 'review' });
    expect(await check()).toEqual({ ok: false, reason: 'missing-signature' });
    // Not the prescriber's, or not of this content: nothing stored.
    expect(await acts.recordPrescriptionSignature({ content: { ...content, prescriberId: 'doc-x' }, signature: sig })).toEqual({ valid: false });
    expect(await acts.recordPrescriptionSignature({ content: { ...content, version: 2 }, signature: sig })).toEqual({ valid: false });
    expect(await db.sql`select 1 from prescription_signatures where prescription_id = ${snapshot.id}`).toHaveLength(0);
    expect(await acts.recordPrescriptionSignature({ content, signature: sig })).toEqual({ valid: true });
    expect(await acts.recordPrescriptionSignature({ content, signature: sig })).toEqual({ valid: true }); // a retry adds nothing
    const rows = await db.sql`select version, signer, key_id, digest, signature from prescription_signatures where prescription_id = ${snapshot.id}`;
    expect(rows).toEqual([{ version: 1, signer: 'doc-sig', key_id: sig.keyId, digest: sig.digest, signature: sig.signature }]);
    await expect(db.sql`update prescription_signatures set digest = ${'0'.repeat(64)} where prescription_id = ${snapshot.id}`).rejects.toThrow(/append-only/);
    await expect(db.sql`delete from prescription_signatures where prescription_id = ${snapshot.id}`).rejects.toThrow(/append-only/);
    await expect(db.sql`truncate prescription_signatures`).rejects.toThrow(/append-only: TRUNCATE/);

    expect(await check()).toEqual({ ok: true });
    // The workflow's signature must be the stored one; the version must be the row's.
    const other = await signer.sign({ role: 'doctor', id: 'doc-sig' }, { ...content, items: [{ ...content.items[0]!, quantity: 10 }] });
    expect(await check(other)).toEqual({ ok: false, reason: 'signature-changed' });
    expect(await check(null)).toEqual({ ok: false, reason: 'missing-signature' });
    expect(await check(sig, 2)).toEqual({ ok: false, reason: 'missing-signature' });
    // The row altered: a quantity in the snapshot, or the patient column.
    await db.sql`update prescriptions set snapshot = jsonb_set(snapshot, '{items,0,quantity}', '90') where id = ${snapshot.id}`;
    const found = digestOf({ ...content, items: [{ ...content.items[0]!, quantity: 90 }] });
    expect(await check()).toEqual({ ok: false, reason: 'content-changed', found });
    await db.sql`update prescriptions set snapshot = ${db.sql.json(snapshot as never)} where id = ${snapshot.id}`;
    expect(await check()).toEqual({ ok: true });
    await db.sql`update prescriptions set snapshot = snapshot - 'items' where id = ${snapshot.id}`;
    expect(await check()).toEqual({ ok: false, reason: 'content-changed' });
    await db.sql`update prescriptions set snapshot = ${db.sql.json(snapshot as never)} where id = ${snapshot.id}`;
    const other2 = (await createPatient(db.sql, { name: 'B', phone: '+8613800000008', birthDate: '1971-01-01', sex: 'M', timezone: 'Asia/Shanghai' })).id;
    await db.sql`update prescriptions set patient_id = ${other2} where id = ${snapshot.id}`;
    expect(await check()).toMatchObject({ ok: false, reason: 'content-changed' });
    expect(await acts.verifyPrescriptionSignature({ prescriptionId: 'rx-none', version: 1, signature: sig, stage: 'dispense' })).toEqual({ ok: false, reason: 'missing-content' });
  });
});
