// Property: whatever the order of reviews, revisions, payments (duplicated, late), courier webhooks
// (duplicated, reordered, for replaced or unknown deliveries), cancellations, alterations of the
// stored content (and its repair) and the passing of time, a prescription is never dispensed or
// shipped before a pharmacist approved it and it was paid, is dispensed at most once, never after it
// expired or was cancelled, never refunds what was not paid, and is reviewed, paid and dispensed only
// right after a check found its stored content matching its signature.
//
// And of the signatures themselves (issue 10, rule 5), with real Ed25519 keys: the unchanged content
// verifies, also as another object with its keys in another order; any change to any field of the
// canonical content fails; a signature made with another doctor's key never verifies in this one's name.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordTransition } from '../activities/journeys.js';
import { createPatient } from '../activities/reference.js';
import { DEV_SIGNING_KEYS, checkStoredContent, digestOf, localSigner, type PrescriptionSigner } from '../activities/signing.js';
import { recordItemTransition } from '../activities/items.js';
import {
  PRESCRIPTION_WORKFLOW,
  cancelPrescriptionUpdate,
  courierUpdate,
  paymentUpdate,
  prescriptionContent,
  prescriptionQuery,
  prescriptionWorkflowId,
  reviewUpdate,
  reviseUpdate,
  type PrescriptionContent,
  type PrescriptionInput,
  type PrescriptionSignature,
  type PrescriptionSnapshot,
} from '../workflows/definitions.js';
import type { prescriptionFulfillment } from '../workflows/prescription.js';
import { testDb, type TestDb } from './support/db.js';
import { fakeSignature } from './support/fake-activities.js';
import { quiet, waitFor, workflowHarness } from './support/workflow-harness.js';

const h = workflowHarness();
const MIN = 60_000;
const item = { drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'bid' as const, days: 1, quantity: 2, name: '阿莫西林胶囊', unitPrice: 50 };

type Command =
  | { kind: 'approve' | 'reject' | 'revise' | 'pay' | 'pay-wrong-order' | 'cancel-doctor' | 'cancel-coordinator' | 'tamper' | 'repair' }
  | { kind: 'courier'; attempt: 1 | 2 | 3; status: 'picked-up' | 'in-transit' | 'delivered' | 'failed' }
  | { kind: 'sleep'; minutes: number };

const simple = (kind: Exclude<Command['kind'], 'courier' | 'sleep'>) => fc.constant<Command>({ kind });
/** Weighted so that many runs get as far as payment and delivery, where the invariants bite. */
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: simple('approve'), weight: 4 },
  { arbitrary: simple('pay'), weight: 4 },
  { arbitrary: simple('reject'), weight: 1 },
  { arbitrary: simple('revise'), weight: 1 },
  { arbitrary: simple('pay-wrong-order'), weight: 1 },
  { arbitrary: simple('cancel-doctor'), weight: 1 },
  { arbitrary: simple('cancel-coordinator'), weight: 1 },
  // the stored content altered (every check fails until it is repaired)
  { arbitrary: simple('tamper'), weight: 1 },
  { arbitrary: simple('repair'), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('courier' as const), attempt: fc.constantFrom<1 | 2 | 3>(1, 2, 3), status: fc.constantFrom('picked-up' as const, 'in-transit' as const, 'delivered' as const, 'failed' as const) }),
    weight: 5,
  },
  // up to past the review SLA (30 min), the validity (1 day) or the delivery SLA (2 h)
  { arbitrary: fc.record({ kind: fc.constant('sleep' as const), minutes: fc.constantFrom(1, 31, 130, 24 * 60 + 1) }), weight: 2 },
);

describe('prescriptionFulfillment under any interleaving', () => {
  it('never dispenses or ships before approval and payment, dispenses at most once, never after expiry or cancellation', async () => {
    await h.withWorker(async ({ world, taskQueue }) => {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 14 }), async (commands) => {
          const id = randomUUID();
          const input: PrescriptionInput = {
            prescriptionId: id, journeyId: 'journey-p', patientId: 'pat-p', prescriberId: 'doc-1', items: [item], long: false, timezone: 'Asia/Shanghai',
            timings: { pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P1D', paymentWindow: 'PT15M', appointmentReminders: [], deliverySla: 'PT2H' },
          };
          input.signature = fakeSignature(prescriptionContent({ ...input, id, version: 1 }));
          const handle = await h.env().client.workflow.start<typeof prescriptionFulfillment>(PRESCRIPTION_WORKFLOW, { taskQueue, workflowId: prescriptionWorkflowId(id), args: [input] });
          h.started.push(handle);
          await waitFor(async () => (await handle.query(prescriptionQuery).catch(() => undefined)) !== undefined);
          const ignoreRefusal = (p: Promise<unknown>) => p.catch(() => undefined);
          // Each command lands once the previous one's activities are done: the test server's clock stays
          // locked while an activity is in flight, so a sleep then would run in real time. (Arrivals in the
          // middle of a transition are covered by the gated tests in prescription.workflow.test.ts.)
          const settle = () => quiet(handle);
          for (const c of commands) {
            const now = await handle.query(prescriptionQuery).catch(() => undefined);
            const orderId = now?.payment?.orderId ?? `${id}-rx`;
            switch (c.kind) {
              case 'approve':
              case 'reject':
                await ignoreRefusal(handle.executeUpdate(reviewUpdate, { args: [{ pharmacistId: 'ph-1', decision: c.kind, ...(c.kind === 'reject' ? { reason: 'r' } : {}) }] }));
                break;
              case 'revise': {
                // Signed as the API signs it, over the next version of what the workflow holds.
                const items = [{ ...item, quantity: 4 }];
                const next = now ? prescriptionContent({ ...now, version: now.version + 1, items }) : undefined;
                await ignoreRefusal(handle.executeUpdate(reviseUpdate, { args: [{ prescriberId: 'doc-1', items, ...(next ? { signature: fakeSignature(next) } : {}) }] }));
                break;
              }
              case 'tamper':
                world.tampered.set(id, 'all');
                break;
              case 'repair':
                world.tampered.delete(id);
                break;
              case 'pay':
              case 'pay-wrong-order':
                await ignoreRefusal(handle.executeUpdate(paymentUpdate, {
                  args: [{ orderId: c.kind === 'pay' ? orderId : 'another', amount: now?.payment?.amount ?? 100, paidAt: new Date().toISOString(), channel: 'wechat' }],
                }));
                break;
              case 'cancel-doctor':
              case 'cancel-coordinator':
                await ignoreRefusal(handle.executeUpdate(cancelPrescriptionUpdate, {
                  args: [{ reason: 'x', actor: c.kind === 'cancel-doctor' ? { role: 'doctor', id: 'doc-1' } : { role: 'coordinator', id: 'co-1' } }],
                }));
                break;
              case 'courier':
                await ignoreRefusal(handle.executeUpdate(courierUpdate, { args: [{ deliveryId: `${id}-d${c.attempt}`, status: c.status, at: new Date().toISOString() }] }));
                break;
              case 'sleep':
                await h.env().sleep(c.minutes * MIN);
                break;
            }
            await settle();
          }
          await settle();
          // Invariants, from what the workflow asked the fakes to do and what it projected, repeats included.
          const events: string[] = (world.projected.get(id) ?? []).map((e) => e.type);
          const first = (type: string) => events.indexOf(type);
          const dispenses = world.dispenseCalls.filter((d) => d.prescriptionId === id);
          const shipments = world.courierCalls.filter((d) => d.prescriptionId === id);
          expect(dispenses.length).toBeLessThanOrEqual(1);
          expect(shipments.length).toBeLessThanOrEqual(2);
          if (dispenses.length > 0 || shipments.length > 0 || first('prescription.dispensed') >= 0) {
            expect(first('prescription.approved')).toBeGreaterThanOrEqual(0);
            expect(first('payment.received')).toBeGreaterThan(first('prescription.approved'));
            expect(first('prescription.dispensed')).toBeGreaterThan(first('payment.received'));
            if (shipments.length > 0 || first('delivery.ordered') >= 0) expect(first('delivery.ordered')).toBeGreaterThan(first('prescription.dispensed'));
            if (shipments.length > 0) expect(dispenses).toHaveLength(1);
            expect(events).not.toContain('prescription.expired');
            if (first('prescription.cancelled') >= 0) expect(first('prescription.cancelled')).toBeGreaterThan(first('prescription.dispensed'));
          }
          expect(events.filter((t) => t === 'prescription.dispensed').length).toBeLessThanOrEqual(1);
          expect(events.filter((t) => t === 'payment.received').length).toBeLessThanOrEqual(1);
          const refunds = world.refundCalls.filter((r) => r.orderId === `${id}-rx`);
          if (refunds.length > 0) expect(refunds.every((r) => r.amount === (world.items.get(id) as { payment?: { amount: number } }).payment?.amount)).toBe(true);
          expect(refunds.length).toBeLessThanOrEqual(1);
          const state = world.items.get(id) as { status: string; payment?: { status: string } } | undefined;
          if (state?.status === 'expired' || state?.status === 'cancelled') expect(state.payment?.status ?? 'none').not.toBe('paid');
          // Nothing is reviewed, paid or dispensed but right after a check that found the stored content matching its signature.
          const checks = world.signatureChecks.filter((c) => c.prescriptionId === id);
          const passed = (stage: string) => checks.filter((c) => c.stage === stage && c.ok).length;
          expect(events.filter((t) => t === 'prescription.approved' || t === 'prescription.rejected').length).toBeLessThanOrEqual(passed('review'));
          expect(events.filter((t) => t === 'payment.received').length).toBeLessThanOrEqual(passed('payment'));
          expect(dispenses.length).toBeLessThanOrEqual(passed('dispense'));
          // Each failed check is on the timeline (once per version and stage) with a task for coordinators.
          for (const c of checks.filter((x) => !x.ok)) {
            expect(world.timeline.get(id)!.some((e) => e.key === `prescription.signature-mismatch:v${c.version}:${c.stage}`)).toBe(true);
            expect(world.tasks.has(`rx:${id}:signature-mismatch:v${c.version}:${c.stage}`)).toBe(true);
          }
          // A failed check before dispensing holds it: never dispensed, and paid back unless a coordinator does it first.
          if (checks.some((c) => c.stage === 'dispense' && !c.ok)) {
            expect(dispenses).toEqual([]);
            expect(['on-hold', 'cancelled']).toContain(state?.status);
          }
        }),
        { numRuns: Number(process.env.RUNS ?? 40) },
      );
    });
  }, 300_000);
});

// ---- signatures, with CarePath's own Ed25519 keys ------------------------------------------------

const DOCTORS = ['doc-a', 'doc-b'] as const;
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const contentArb: fc.Arbitrary<PrescriptionContent> = fc.record({
  prescriptionId: fc.uuid(),
  version: fc.integer({ min: 1, max: 20 }),
  journeyId: fc.uuid(),
  patientId: text,
  prescriberId: fc.constantFrom(...DOCTORS),
  long: fc.boolean(),
  items: fc.array(
    fc.record({
      drugCode: text,
      name: text,
      dose: text,
      frequency: fc.constantFrom('qd' as const, 'bid' as const, 'tid' as const, 'qid' as const, 'qn' as const),
      days: fc.integer({ min: 1, max: 84 }),
      quantity: fc.integer({ min: 1, max: 10_000 }),
      unitPrice: fc.integer({ min: 0, max: 1_000_000 }),
    }),
    { minLength: 1, maxLength: 5 },
  ),
});

/** One change to the content: a field of the prescription or of one item set to another value, or an item dropped, added or moved. */
type Change = { kind: 'field'; at: number; str: string; num: number } | { kind: 'drop' | 'duplicate' | 'rotate'; at: number };
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('field' as const), at: fc.nat(), str: text, num: fc.integer({ min: -5, max: 1_000_000 }) }), weight: 8 },
  fc.record({ kind: fc.constantFrom('drop' as const, 'duplicate' as const, 'rotate' as const), at: fc.nat() }),
);

function changed(c: PrescriptionContent, change: Change): PrescriptionContent {
  const out = structuredClone(c);
  if (change.kind === 'field') {
    // Every leaf of the canonical content: the prescription's own fields, then each item's.
    const leaves: [Record<string, unknown>, string][] = [
      ...(['prescriptionId', 'version', 'journeyId', 'patientId', 'prescriberId', 'long'] as const).map((k): [Record<string, unknown>, string] => [out as unknown as Record<string, unknown>, k]),
      ...out.items.flatMap((i) => Object.keys(i).map((k): [Record<string, unknown>, string] => [i as unknown as Record<string, unknown>, k])),
    ];
    const [obj, key] = leaves[change.at % leaves.length]!;
    const old = obj[key];
    if (typeof old === 'boolean') obj[key] = !old;
    else if (typeof old === 'number') obj[key] = change.num === old ? old + 1 : change.num;
    else if (key === 'frequency') obj[key] = old === 'qd' ? 'bid' : 'qd';
    else obj[key] = change.str === old ? `${String(old)}′` : change.str;
    return out;
  }
  const at = change.at % out.items.length;
  if (change.kind === 'drop') {
    if (out.items.length > 1) out.items.splice(at, 1);
    else out.items[0]!.quantity += 1;
  } else if (change.kind === 'duplicate') {
    out.items.splice(at, 0, structuredClone(out.items[at]!));
  } else {
    // Items in another order are another prescription's text: the first moves to the end, or, when all are alike, one changes.
    const first = out.items.shift()!;
    out.items.push(first);
    if (JSON.stringify(out.items) === JSON.stringify(c.items)) out.items[0]!.days = out.items[0]!.days === 1 ? 2 : 1;
  }
  return out;
}

/** The same content as another object, its keys in reverse order (what PostgreSQL's jsonb hands back may be ordered differently). */
function reordered<T>(v: T): T {
  if (Array.isArray(v)) return v.map(reordered) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reordered(x)])) as T;
  return v;
}

describe('prescription signatures under any change of content', () => {
  let db: TestDb;
  let signer: PrescriptionSigner;
  /** The patient and journey stored prescriptions belong to. */
  const row = { patientId: '', journeyId: 'j-prop-1' };
  beforeAll(async () => {
    db = await testDb({ max: 2 });
    signer = localSigner(db.sql, DEV_SIGNING_KEYS);
    row.patientId = (await createPatient(db.sql, { name: 'P', phone: '+8613800000017', birthDate: '1970-01-01', sex: 'F', timezone: 'Asia/Shanghai' })).id;
    await recordTransition(db.sql, {
      version: 1,
      snapshot: { id: row.journeyId, patientId: row.patientId, mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, phase: 'post-visit', status: 'active', step: 'follow-through' },
      events: [],
    });
  });
  afterAll(async () => {
    await db?.drop();
  });
  const signAs = (c: PrescriptionContent, doctor: string = c.prescriberId) => signer.sign({ role: 'doctor', id: doctor }, { ...c, prescriberId: doctor });

  it('verifies the unchanged content (in any key order); fails for any change to any field; never verifies another doctor\'s key in this one\'s name', async () => {
    await fc.assert(
      fc.asyncProperty(contentArb, changeArb, async (content, change) => {
        const sig = await signAs(content);
        expect(sig).toMatchObject({ signer: content.prescriberId, algorithm: 'Ed25519', digest: digestOf(content) });
        expect(await signer.verify(sig, content)).toEqual({ valid: true });
        expect(await signer.verify(sig, reordered(content))).toEqual({ valid: true });
        expect(digestOf(reordered(content))).toBe(sig.digest);

        const altered = changed(content, change);
        expect(altered).not.toEqual(content);
        expect(digestOf(altered)).not.toBe(sig.digest);
        expect(await signer.verify(sig, altered)).toEqual({ valid: false, reason: 'digest-mismatch' });
        // Nor does the altered content with its digest put in the signature: the signature is over the old digest.
        expect(await signer.verify({ ...sig, digest: digestOf(altered) }, altered)).toEqual({ valid: false, reason: 'bad-signature' });

        // The other doctor's key: their signature of the same content, claimed as this doctor's, or this
        // doctor's signature pointed at the other doctor's key.
        const other = DOCTORS.find((d) => d !== content.prescriberId)!;
        const theirs = await signAs(content, other);
        const claimed: PrescriptionSignature = { ...theirs, signer: content.prescriberId, digest: sig.digest };
        expect(await signer.verify(claimed, content)).toEqual({ valid: false, reason: 'unknown-key' });
        expect(await signer.verify({ ...sig, keyId: theirs.keyId }, content)).toEqual({ valid: false, reason: 'unknown-key' });
        expect(await signer.verify({ ...sig, signature: theirs.signature }, content)).toEqual({ valid: false, reason: 'bad-signature' });
      }),
      { numRuns: Number(process.env.RUNS ?? 100) },
    );
  }, 120_000);

  it('finds any change to the stored row of a signed version (the check the workflow runs before a review, a payment, dispensing)', async () => {
    await fc.assert(
      fc.asyncProperty(contentArb, changeArb, async (raw, change) => {
        // The row as the workflow projects it, for the stored patient and journey.
        const content: PrescriptionContent = { ...raw, version: 1, patientId: row.patientId, journeyId: row.journeyId };
        const snapshot: PrescriptionSnapshot = { ...stored(content), status: 'pending-review' };
        const sig = await signAs(content);
        await db.sql`
          insert into prescription_signatures (prescription_id, version, signer, algorithm, key_id, digest, signature, signed_at)
          values (${content.prescriptionId}, 1, ${sig.signer}, ${sig.algorithm}, ${sig.keyId}, ${sig.digest}, ${sig.signature}, ${sig.signedAt})`;
        await recordItemTransition(db.sql, { type: 'prescription', version: 1, snapshot, events: [] });
        const check = () => checkStoredContent(db.sql, signer, { prescriptionId: content.prescriptionId, version: 1, signature: sig });
        expect(await check()).toEqual({ ok: true });
        // Any field of the signed content changed in the row's snapshot: found.
        const altered = changed(content, change);
        await db.sql`update prescriptions set snapshot = ${db.sql.json({ ...snapshot, ...stored(altered) } as never)} where id = ${content.prescriptionId}`;
        expect(await check()).toMatchObject({ ok: false, reason: 'content-changed' });
        // Put back as it was: it holds again.
        await db.sql`update prescriptions set snapshot = ${db.sql.json(snapshot as never)} where id = ${content.prescriptionId}`;
        expect(await check()).toEqual({ ok: true });
      }),
      { numRuns: Number(process.env.RUNS ?? 40) },
    );
  }, 120_000);
});

/** The snapshot fields a content's fields are stored in. */
function stored(c: PrescriptionContent): Omit<PrescriptionSnapshot, 'status'> {
  return { id: c.prescriptionId, version: c.version, journeyId: c.journeyId, patientId: c.patientId, prescriberId: c.prescriberId, long: c.long, items: c.items };
}
