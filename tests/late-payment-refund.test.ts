// The late refund on the real PostgreSQL: a payment whose subject's workflow has closed (a journey, a
// prescription or an exam) is refunded through the provider and recorded on that subject in one
// transaction (order, snapshot with its version bumped once, and its own timeline), its status
// unchanged; the notification names the subject. Doing it twice changes nothing more.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getItem, recordItemTransition } from '../activities/items.js';
import { getJourney, recordTransition } from '../activities/journeys.js';
import { findOrder, ledgerPaymentProvider, markPayment, refundClosedJourneyPayment, refundPayment, requestPayment, type PaymentProvider } from '../activities/payments.js';
import { createPatient } from '../activities/reference.js';
import type { ExamSnapshot, JourneySnapshot, PrescriptionSnapshot } from '../workflows/definitions.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
let patientId: string;
let provider: PaymentProvider;
/** Every refund the provider was asked for, in order (the ledger itself keeps one row per order). */
const asked: { orderId: string; amount: number; reason: string }[] = [];

beforeAll(async () => {
  db = await testDb();
  patientId = (await createPatient(db.sql, { name: 'L', phone: '+8613800000009', birthDate: '1970-01-01', sex: 'M', timezone: 'Asia/Shanghai' })).id;
  const ledger = ledgerPaymentProvider(db.sql);
  provider = { refund: async (r) => { asked.push(r); await ledger.refund(r); } };
});
afterAll(async () => {
  await db?.drop();
});

const dueBy = '2026-12-01T09:15:00.000Z';

async function journey(id: string, over: Partial<JourneySnapshot> = {}): Promise<void> {
  const snapshot: JourneySnapshot = {
    id, patientId, mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, phase: 'post-visit', status: 'active', step: 'follow-through', ...over,
  };
  await recordTransition(db.sql, { version: 4, snapshot, events: [{ key: 'journey.started', at: new Date().toISOString(), type: 'journey.started', actor: 'system', data: {} }] });
}

const ledgerRows = (orderId: string) => db.sql<{ amount: number; reason: string }[]>`select amount, reason from refunds where order_id = ${orderId}`;
const orderStatus = async (orderId: string) => (await findOrder(db.sql, orderId))?.status;
const version = async (table: 'prescriptions' | 'exams', id: string) => (await db.sql<{ version: number; status: string }[]>`select version, status from ${db.sql(table)} where id = ${id}`)[0];

describe('refundClosedJourneyPayment for a prescription order', () => {
  it('refunds, marks the order, the snapshot (version + 1, status kept) and the prescription timeline once, and names the prescription', async () => {
    const journeyId = 'lp-j1';
    const rxId = 'lp-rx1';
    const orderId = `${rxId}-rx`;
    await journey(journeyId);
    await requestPayment(db.sql, { orderId, journeyId, amount: 460, dueBy, subject: { type: 'prescription', id: rxId } });
    await markPayment(db.sql, { orderId, status: 'expired' });
    const snapshot: PrescriptionSnapshot = {
      id: rxId, journeyId, patientId, prescriberId: 'doc-1', version: 1, status: 'expired', long: false,
      items: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', frequency: 'qd', days: 2, quantity: 2, name: '氨氯地平片', unitPrice: 230 }],
      payment: { orderId, amount: 460, currency: 'CNY', status: 'expired', dueBy },
    };
    await recordItemTransition(db.sql, {
      type: 'prescription', version: 7, snapshot,
      events: [{ key: 'prescription.expired', at: new Date().toISOString(), type: 'prescription.expired', actor: 'system', data: { reason: 'unpaid', version: 1 } }],
    });
    expect(await findOrder(db.sql, orderId)).toMatchObject({ orderId, journeyId, subject: { type: 'prescription', id: rxId }, amount: 460, status: 'expired' });

    const notice = await refundClosedJourneyPayment(db.sql, provider, orderId);
    expect(notice).toEqual({
      id: `rx:${rxId}:payment.refunded:${orderId}`, patientId, kind: 'payment.refunded',
      refs: { journeyId, prescriptionId: rxId }, params: { amount: 460 },
    });
    expect(await orderStatus(orderId)).toBe('refunded');
    expect(await ledgerRows(orderId)).toEqual([{ amount: 460, reason: 'late-payment' }]);
    expect(await version('prescriptions', rxId)).toEqual({ version: 8, status: 'expired' });
    const rx = (await getItem<PrescriptionSnapshot>(db.sql, 'prescription', rxId))!;
    expect(rx.status).toBe('expired');
    expect(rx.payment).toEqual({ orderId, amount: 460, currency: 'CNY', status: 'refunded', dueBy });
    expect(rx.items).toEqual(snapshot.items);
    expect(rx.timeline.map((e) => [e.seq, e.type, e.actor, e.data])).toEqual([
      [1, 'prescription.expired', 'system', { reason: 'unpaid', version: 1 }],
      [2, 'payment.refunded', 'system', { orderId, amount: 460, reason: 'late-payment' }],
    ]);
    // The journey's own row and timeline are not the prescription's: untouched.
    const j = (await getJourney(db.sql, journeyId))!;
    expect(j.timeline.map((e) => e.type)).toEqual(['journey.started']);
    expect(j.status).toBe('active');

    // Again (a retried activity, or a second late payment workflow): the same notice, nothing new.
    expect(await refundClosedJourneyPayment(db.sql, provider, orderId)).toEqual(notice);
    expect(await version('prescriptions', rxId)).toEqual({ version: 8, status: 'expired' });
    expect((await getItem<PrescriptionSnapshot>(db.sql, 'prescription', rxId))!.timeline).toHaveLength(2);
    expect(await ledgerRows(orderId)).toEqual([{ amount: 460, reason: 'late-payment' }]);
  });

  it('does nothing for an order that was paid (a payment the prescription took), nor for an unknown order', async () => {
    const journeyId = 'lp-j2';
    const rxId = 'lp-rx2';
    const orderId = `${rxId}-rx`;
    await journey(journeyId);
    await requestPayment(db.sql, { orderId, journeyId, amount: 300, dueBy, subject: { type: 'prescription', id: rxId } });
    await markPayment(db.sql, { orderId, status: 'paid', paidAt: new Date().toISOString(), channel: 'alipay' });
    await recordItemTransition(db.sql, {
      type: 'prescription', version: 3,
      snapshot: { id: rxId, journeyId, patientId, prescriberId: 'doc-1', version: 1, status: 'delivered', long: false, items: [], payment: { orderId, amount: 300, currency: 'CNY', status: 'paid', dueBy } },
      events: [],
    });
    const before = asked.length;
    expect(await refundClosedJourneyPayment(db.sql, provider, orderId)).toBeUndefined();
    expect(await refundClosedJourneyPayment(db.sql, provider, 'no-such-order')).toBeUndefined();
    expect(asked.length).toBe(before);
    expect(await orderStatus(orderId)).toBe('paid');
    expect(await version('prescriptions', rxId)).toEqual({ version: 3, status: 'delivered' });
    expect((await getItem<PrescriptionSnapshot>(db.sql, 'prescription', rxId))!.payment!.status).toBe('paid');
  });
});

describe('refundClosedJourneyPayment for an exam order', () => {
  it('refunds a cancelled exam paid late: the exam keeps its status, its timeline says refunded, the notice names the exam', async () => {
    const journeyId = 'lp-j3';
    const examId = 'lp-ex1';
    const orderId = `${examId}-exam`;
    await journey(journeyId);
    await requestPayment(db.sql, { orderId, journeyId, amount: 6000, dueBy, subject: { type: 'exam', id: examId } });
    await markPayment(db.sql, { orderId, status: 'expired' });
    const snapshot: ExamSnapshot = {
      id: examId, journeyId, patientId, doctorId: 'doc-1', code: 'hba1c', name: '糖化血红蛋白 (HbA1c)', status: 'cancelled',
      payment: { orderId, amount: 6000, currency: 'CNY', status: 'expired', dueBy },
    };
    await recordItemTransition(db.sql, {
      type: 'exam', version: 2, snapshot,
      events: [
        { key: 'exam.ordered', at: new Date().toISOString(), type: 'exam.ordered', actor: 'system', data: { code: 'hba1c' } },
        { key: 'exam.cancelled', at: new Date().toISOString(), type: 'exam.cancelled', actor: `patient:${patientId}`, data: {} },
      ],
    });

    const notice = await refundClosedJourneyPayment(db.sql, provider, orderId);
    expect(notice).toEqual({
      id: `exam:${examId}:payment.refunded:${orderId}`, patientId, kind: 'payment.refunded',
      refs: { journeyId, examId }, params: { amount: 6000 },
    });
    expect(asked.at(-1)).toEqual({ orderId, amount: 6000, reason: 'late-payment' });
    expect(await orderStatus(orderId)).toBe('refunded');
    expect(await version('exams', examId)).toEqual({ version: 3, status: 'cancelled' });
    const exam = (await getItem<ExamSnapshot>(db.sql, 'exam', examId))!;
    expect(exam).toMatchObject({ status: 'cancelled', code: 'hba1c', payment: { orderId, amount: 6000, currency: 'CNY', status: 'refunded', dueBy } });
    expect(exam.timeline.map((e) => [e.seq, e.type, e.data])).toEqual([
      [1, 'exam.ordered', { code: 'hba1c' }],
      [2, 'exam.cancelled', {}],
      [3, 'payment.refunded', { orderId, amount: 6000, reason: 'late-payment' }],
    ]);
    expect(await refundClosedJourneyPayment(db.sql, provider, orderId)).toEqual(notice);
    expect(await version('exams', examId)).toEqual({ version: 3, status: 'cancelled' });
    expect((await getItem<ExamSnapshot>(db.sql, 'exam', examId))!.timeline).toHaveLength(3);
  });
});

describe('refundClosedJourneyPayment for a journey order (unchanged)', () => {
  it("refunds onto the journey's snapshot and timeline, with the journey's notice", async () => {
    const journeyId = 'lp-j4';
    const orderId = `${journeyId}-reg`;
    await journey(journeyId, { phase: 'closed', status: 'cancelled', step: 'done', payment: { orderId, amount: 1500, currency: 'CNY', status: 'expired', dueBy } });
    await requestPayment(db.sql, { orderId, journeyId, amount: 1500, dueBy });
    await markPayment(db.sql, { orderId, status: 'expired' });
    expect((await findOrder(db.sql, orderId))!.subject).toEqual({ type: 'journey', id: journeyId });
    expect(await refundClosedJourneyPayment(db.sql, provider, orderId)).toEqual({
      id: `journey:${journeyId}:payment.refunded:${orderId}`, patientId, kind: 'payment.refunded', refs: { journeyId }, params: { amount: 1500 },
    });
    const j = (await getJourney(db.sql, journeyId))!;
    expect(j).toMatchObject({ status: 'cancelled', phase: 'closed', step: 'done', payment: { status: 'refunded', amount: 1500 } });
    expect(j.timeline.at(-1)).toMatchObject({ type: 'payment.refunded', data: { orderId, amount: 1500, reason: 'late-payment' } });
  });
});

describe('refundClosedJourneyPayment keeps when and how the late payment was made', () => {
  const paidAt = '2026-12-01T09:20:31.250Z';

  it("records the provider's paidAt and channel on the refunded journey order, and a retry keeps them", async () => {
    const journeyId = 'lp-j5';
    const orderId = `${journeyId}-reg`;
    await journey(journeyId, { phase: 'closed', status: 'cancelled', step: 'done', payment: { orderId, amount: 1500, currency: 'CNY', status: 'expired', dueBy } });
    await requestPayment(db.sql, { orderId, journeyId, amount: 1500, dueBy });
    await markPayment(db.sql, { orderId, status: 'expired' });
    expect(await findOrder(db.sql, orderId)).not.toHaveProperty('paidAt');

    await refundClosedJourneyPayment(db.sql, provider, orderId, { paidAt, channel: 'wechat' });
    expect(await findOrder(db.sql, orderId)).toEqual({
      orderId, journeyId, subject: { type: 'journey', id: journeyId }, amount: 1500, currency: 'CNY', status: 'refunded', dueBy, paidAt, channel: 'wechat',
    });
    // A retried activity (or a run started before the payment was passed on) changes neither.
    await refundClosedJourneyPayment(db.sql, provider, orderId, { paidAt: '2026-12-02T00:00:00.000Z', channel: 'alipay' });
    await refundClosedJourneyPayment(db.sql, provider, orderId);
    expect(await findOrder(db.sql, orderId)).toMatchObject({ status: 'refunded', paidAt, channel: 'wechat' });
  });

  it("records them on a refunded exam order too", async () => {
    const journeyId = 'lp-j6';
    const examId = 'lp-ex2';
    const orderId = `${examId}-exam`;
    await journey(journeyId);
    await requestPayment(db.sql, { orderId, journeyId, amount: 4500, dueBy, subject: { type: 'exam', id: examId } });
    await markPayment(db.sql, { orderId, status: 'expired' });
    await recordItemTransition(db.sql, {
      type: 'exam', version: 2,
      snapshot: { id: examId, journeyId, patientId, doctorId: 'doc-1', code: 'lipids', name: 'Lipid panel', status: 'cancelled', payment: { orderId, amount: 4500, currency: 'CNY', status: 'expired', dueBy } } satisfies ExamSnapshot,
      events: [],
    });
    await refundClosedJourneyPayment(db.sql, provider, orderId, { paidAt, channel: 'insurance' });
    expect(await findOrder(db.sql, orderId)).toMatchObject({ status: 'refunded', paidAt, channel: 'insurance' });
  });
});

describe('refundPayment (a late payment refunded by a workflow still running)', () => {
  it("keeps the late payment's paidAt and channel on the refunded order; a refund of a paid order keeps the ones it was paid with", async () => {
    const journeyId = 'lp-j7';
    await journey(journeyId);
    const late = `${journeyId}-reg`;
    await requestPayment(db.sql, { orderId: late, journeyId, amount: 1500, dueBy });
    await markPayment(db.sql, { orderId: late, status: 'expired' });
    await refundPayment(db.sql, provider, { orderId: late, amount: 1500, reason: 'late-payment', paidAt: '2026-12-01T09:16:02.000Z', channel: 'alipay' });
    expect(await findOrder(db.sql, late)).toMatchObject({ status: 'refunded', paidAt: '2026-12-01T09:16:02.000Z', channel: 'alipay' });
    expect(asked.at(-1)).toEqual({ orderId: late, amount: 1500, reason: 'late-payment' });

    const paid = 'lp-j7-rx';
    await requestPayment(db.sql, { orderId: paid, journeyId, amount: 300, dueBy, subject: { type: 'prescription', id: 'lp-rx7' } });
    await markPayment(db.sql, { orderId: paid, status: 'paid', paidAt: '2026-12-01T08:00:00.000Z', channel: 'insurance' });
    await refundPayment(db.sql, provider, { orderId: paid, amount: 300, reason: 'cancelled' });
    expect(await findOrder(db.sql, paid)).toMatchObject({ status: 'refunded', paidAt: '2026-12-01T08:00:00.000Z', channel: 'insurance' });
  });
});
