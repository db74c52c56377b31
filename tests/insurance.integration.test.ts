// Medical insurance over HTTP on the real stack: a registration fee split between the sandbox
// insurance gateway and WeChat Pay (pre-settlement, settlement, the provider taking the self-paid
// rest), what the patient sees of both parts and on the invoice, the journey cancelled and both parts
// paid back; a fee insurance covers whole; the day reconciled with a mismatch planted in the insurance
// channel's statement; who may do what, and the refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_COVERAGE_RULES } from '../activities/insurance.js';
import { exceptionTaskId } from '../activities/reconciliation.js';
import { startStack, type Stack } from './support/stack.js';
import { json, problem } from './support/http.js';
import { verifiedClinician } from './support/people.js';
import { booked } from './support/visits.js';

type Json = Record<string, any>;
let stack: Stack;
let admin: string;
let doctorId: string;
const FEE = 1500;
const shanghai = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'finance-1');
  doctorId = (await verifiedClinician(stack, admin, { name: '医保医生', role: 'doctor', department: 'cardiology' })).id;
});
afterAll(async () => {
  await stack?.stop();
});

/** A patient with a booked registration: their token, the journey and its order. */
async function bookedFee(): Promise<{ patientId: string; token: string; journeyId: string; orderId: string }> {
  const b = await booked(stack, { admin, doctorId, department: 'cardiology', complaint: '高血压复诊', patient: { name: '医保患者', phone: '+8613800000201', birthDate: '1958-03-03', sex: 'M' } });
  return { patientId: b.patientId, token: b.patient, journeyId: b.journeyId, orderId: b.orderId };
}

describe('a registration fee split between medical insurance and WeChat Pay', () => {
  it('is pre-settled, settled, the rest paid through the provider; the patient sees both parts; cancelled, both are paid back', async () => {
    const { patientId, token, journeyId, orderId } = await bookedFee();
    const split = await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token }), 200);
    expect(split).toMatchObject({ orderId, status: 'pre-settled', total: FEE, insured: 750, self: 750, items: [{ kind: 'registration', amount: FEE, insured: 750 }] });
    expect(await json(await stack.call('GET', `/v1/payments/${orderId}`, { token }), 200)).toMatchObject({
      amount: FEE,
      status: 'pending',
      due: FEE,
      parts: [
        { payer: 'insurance', amount: 750, status: 'pre-settled' },
        { payer: 'self', amount: 750, status: 'pending' },
      ],
    });
    const settled = await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/settlement`, { token }), 200);
    expect(settled).toMatchObject({ status: 'pending', due: 750, parts: [{ payer: 'insurance', amount: 750, status: 'settled' }, { payer: 'self', amount: 750, status: 'pending' }] });
    // Settled again: nothing changes, and the gateway settled it once.
    expect((await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/settlement`, { token }), 200)).insurance.settledAt).toBe(settled.insurance.settledAt);
    expect(await stack.db.sql`select kind, amount from sandbox_insurance_ledger where order_id = ${orderId}`).toEqual([{ kind: 'settlement', amount: 750 }]);

    // A failure notice of the prepay order for the whole fee changes nothing.
    expect((await stack.payWebhook({ orderId, status: 'failed', amount: FEE, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
    // The provider takes the self-paid 750 fen now: another amount is refused.
    const paidAt = new Date().toISOString();
    expect((await problem(await stack.payWebhook({ orderId, status: 'paid', amount: 700, paidAt, channel: 'wechat' }), 422)).detail).toContain('750 fen after insurance');
    expect((await stack.payWebhook({ orderId, status: 'paid', amount: 750, paidAt, channel: 'wechat' })).status).toBe(204);
    const journey = await json(await stack.call('GET', `/v1/journeys/${journeyId}`, { token }), 200);
    expect(journey.payment).toMatchObject({ orderId, amount: FEE, status: 'paid' });
    expect(await json(await stack.call('GET', `/v1/payments/${orderId}`, { token }), 200)).toMatchObject({
      status: 'paid',
      channel: 'wechat',
      due: 0,
      parts: [
        { payer: 'insurance', amount: 750, status: 'settled' },
        { payer: 'self', amount: 750, status: 'paid', channel: 'wechat' },
      ],
    });
    const [invoice] = (await json(await stack.call('GET', `/v1/patients/${patientId}/invoices`, { token }), 200)).items;
    expect(invoice).toMatchObject({ orderId, status: 'issued', amount: FEE, payers: { self: 750, insurance: 750 }, channel: 'wechat' });

    // Cancelled: the insured part reversed through the gateway, the self-paid part refunded through the provider.
    const cancelled = await json(await stack.call('POST', `/v1/journeys/${journeyId}/cancel`, { token, body: { reason: '改期' } }), 200);
    expect(cancelled.payment).toMatchObject({ status: 'refunded', amount: FEE });
    expect(await stack.db.sql`select amount from refunds where order_id = ${orderId}`).toEqual([{ amount: 750 }]);
    expect(await stack.db.sql`select kind, amount from sandbox_insurance_ledger where order_id = ${orderId} order by kind`).toEqual([
      { kind: 'reversal', amount: 750 },
      { kind: 'settlement', amount: 750 },
    ]);
    expect(await json(await stack.call('GET', `/v1/payments/${orderId}`, { token }), 200)).toMatchObject({
      status: 'refunded',
      parts: [
        { payer: 'insurance', amount: 750, status: 'reversed' },
        { payer: 'self', amount: 750, status: 'refunded', channel: 'wechat' },
      ],
      insurance: { status: 'reversed', reversalReason: 'cancelled' },
    });
    const invoices = (await json(await stack.call('GET', `/v1/patients/${patientId}/invoices`, { token }), 200)).items as Json[];
    expect(invoices.map((i) => [i.orderId, i.status, i.payers])).toEqual([[orderId, 'voided', { self: 750, insurance: 750 }]]);
  });

  it('covered whole by insurance, the fee is paid by the settlement itself (channel insurance)', async () => {
    await json(await stack.call('PUT', '/v1/sandbox/insurance-rules', { token: admin, body: { ...DEFAULT_COVERAGE_RULES, ratios: { registration: 1 } } }), 200);
    try {
      const { patientId, token, journeyId, orderId } = await bookedFee();
      expect(await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token }), 200)).toMatchObject({ insured: FEE, self: 0 });
      const paid = await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/settlement`, { token }), 200);
      expect(paid).toMatchObject({ status: 'paid', channel: 'insurance', due: 0, parts: [{ payer: 'insurance', amount: FEE, status: 'settled' }, { payer: 'self', amount: 0, status: 'paid' }] });
      expect((await json(await stack.call('GET', `/v1/journeys/${journeyId}`, { token }), 200)).payment.status).toBe('paid');
      const [invoice] = (await json(await stack.call('GET', `/v1/patients/${patientId}/invoices`, { token }), 200)).items;
      expect(invoice).toMatchObject({ orderId, status: 'issued', payers: { self: 0, insurance: FEE }, channel: 'insurance' });
      // A late duplicate from the provider changes nothing.
      expect((await stack.payWebhook({ orderId, status: 'paid', amount: 0, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
      expect(await stack.db.sql`select count(*)::int as n from invoices where order_id = ${orderId}`).toEqual([{ n: 1 }]);
    } finally {
      await json(await stack.call('PUT', '/v1/sandbox/insurance-rules', { token: admin, body: DEFAULT_COVERAGE_RULES }), 200);
    }
  });

  it('the whole fee taken by the provider after insurance settled: the insured part is reversed, the provider part refunded whole on cancellation', async () => {
    const { token, journeyId, orderId } = await bookedFee();
    await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token }), 200);
    await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/settlement`, { token }), 200);
    expect((await stack.payWebhook({ orderId, status: 'paid', amount: FEE, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
    expect(await json(await stack.call('GET', `/v1/payments/${orderId}`, { token }), 200)).toMatchObject({
      status: 'paid',
      parts: [{ payer: 'self', amount: FEE, status: 'paid', channel: 'wechat' }],
      insurance: { status: 'reversed', reversalReason: 'paid-in-full', counted: false },
    });
    await json(await stack.call('POST', `/v1/journeys/${journeyId}/cancel`, { token, body: { reason: '改期' } }), 200);
    expect(await stack.db.sql`select amount from refunds where order_id = ${orderId}`).toEqual([{ amount: FEE }]);
    expect(await stack.db.sql`select kind, amount from sandbox_insurance_ledger where order_id = ${orderId} order by kind`).toEqual([
      { kind: 'reversal', amount: 750 },
      { kind: 'settlement', amount: 750 },
    ]);
  });

  it("reconciles the day's insurance channel against the gateway's books: a dropped line becomes one finance exception", async () => {
    const { token, orderId } = await bookedFee();
    await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token }), 200);
    await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/settlement`, { token }), 200);
    expect((await stack.payWebhook({ orderId, status: 'paid', amount: 750, paidAt: new Date().toISOString(), channel: 'alipay' })).status).toBe(204);
    // As if all of it happened yesterday (a day over, which may be reconciled).
    const yesterdayMs = Date.now() - 86_400_000;
    const yesterday = shanghai(yesterdayMs);
    const at = new Date(yesterdayMs).toISOString();
    await stack.db.sql`update payments set paid_at = ${at} where order_id = ${orderId}`;
    await stack.db.sql`update insurance_settlements set settled_at = ${at} where order_id = ${orderId}`;
    await stack.db.sql`update sandbox_insurance_ledger set at = ${at} where order_id = ${orderId}`;
    await json(await stack.call('POST', '/v1/sandbox/statement-faults', { token: admin, body: { channel: 'insurance', date: yesterday, kind: 'payment', orderId, fault: 'drop' } }), 201);
    const day = await json(await stack.call('POST', `/v1/reconciliations/${yesterday}/runs`, { token: admin }), 201);
    expect(day.result.channels.alipay).toEqual({ ours: 1, theirs: 1, matched: 1, mismatched: 0 });
    expect(day.result.channels.insurance).toEqual({ ours: 1, theirs: 0, matched: 0, mismatched: 1 });
    expect(day.result.mismatches).toEqual([
      {
        taskId: exceptionTaskId(yesterday, 'insurance', 'payment', orderId),
        taskStatus: 'open',
        channel: 'insurance',
        kind: 'payment',
        orderId,
        type: 'missing-in-statement',
        ours: { amount: 750, at },
        theirs: [],
      },
    ]);
  });
});

describe('who may and the refusals', () => {
  it('shows an order to its patient, coordinators and admins only; refuses what cannot be done', async () => {
    const { token, orderId } = await bookedFee();
    const other = await stack.token('patient', 'someone-else');
    const doctor = await stack.token('doctor', doctorId);
    const coordinator = await stack.token('coordinator', 'coord-1');
    expect((await stack.call('GET', `/v1/payments/${orderId}`)).status).toBe(401);
    expect((await problem(await stack.call('GET', `/v1/payments/${orderId}`, { token: other }), 404)).type).toMatch(/not-found$/);
    expect((await stack.call('GET', `/v1/payments/${orderId}`, { token: doctor })).status).toBe(404);
    expect((await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token: other })).status).toBe(404);
    expect((await stack.call('GET', '/v1/payments/no-such-order', { token: admin })).status).toBe(404);
    expect((await problem(await stack.call('POST', `/v1/payments/${orderId}/insurance/settlement`, { token }), 409)).type).toMatch(/not-pre-settled$/);
    // A coordinator at the desk may ask for the patient.
    expect((await json(await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token: coordinator }), 200)).insured).toBe(750);
    // Paid in full through Alipay: the pre-settlement is void, insurance can no longer settle.
    expect((await stack.payWebhook({ orderId, status: 'paid', amount: FEE, paidAt: new Date().toISOString(), channel: 'alipay' })).status).toBe(204);
    expect((await problem(await stack.call('POST', `/v1/payments/${orderId}/insurance/settlement`, { token }), 409)).type).toMatch(/order-not-pending$/);
    expect((await problem(await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token }), 409)).type).toMatch(/order-not-pending$/);
    expect(await json(await stack.call('GET', `/v1/payments/${orderId}`, { token }), 200)).toMatchObject({ status: 'paid', parts: [{ payer: 'self', amount: FEE, status: 'paid', channel: 'alipay' }], insurance: { status: 'voided' } });
    expect(await stack.db.sql`select 1 from sandbox_insurance_ledger where order_id = ${orderId}`).toEqual([]);
  });

  it('refuses an uninsured patient, and lets admins only change the sandbox rules, validated', async () => {
    const { patientId, token, orderId } = await bookedFee();
    const coordinator = await stack.token('coordinator', 'coord-1');
    expect((await stack.call('PUT', '/v1/sandbox/insurance-rules', { token: coordinator, body: DEFAULT_COVERAGE_RULES })).status).toBe(403);
    expect((await stack.call('PUT', '/v1/sandbox/insurance-rules', { token: admin, body: { ...DEFAULT_COVERAGE_RULES, ratios: { drug: 1.5 } } })).status).toBe(400);
    expect((await stack.call('PUT', '/v1/sandbox/insurance-rules', { token: admin, body: { ...DEFAULT_COVERAGE_RULES, extra: 1 } })).status).toBe(400);
    await json(await stack.call('PUT', '/v1/sandbox/insurance-rules', { token: admin, body: { ...DEFAULT_COVERAGE_RULES, uninsuredPatients: [patientId] } }), 200);
    try {
      expect((await problem(await stack.call('POST', `/v1/payments/${orderId}/insurance/pre-settlement`, { token }), 422)).type).toMatch(/not-insured$/);
    } finally {
      await json(await stack.call('PUT', '/v1/sandbox/insurance-rules', { token: admin, body: DEFAULT_COVERAGE_RULES }), 200);
    }
    expect(await json(await stack.call('GET', '/v1/sandbox/insurance-rules', { token: admin }), 200)).toEqual(DEFAULT_COVERAGE_RULES);
  });
});
