// Medical insurance on PostgreSQL (activities/insurance.ts, db/migrations/021_insurance.sql): the
// sandbox gateway's coverage rules; a split order's pre-settlement, settlement and the self-paid part
// due; a refund that reverses the insured part and refunds the rest, once however often it is retried;
// an order that expires with its insured part settled, reversed once through the outbox; the race
// between a whole-amount payment and a settlement; invoices by payer; and reconciliation's insurance
// channel matching the gateway's books.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patientInvoices } from '../activities/invoices.js';
import {
  DEFAULT_COVERAGE_RULES,
  cover,
  dispatchReversal,
  findSettlement,
  preSettle,
  reverseInsured,
  sandboxInsuranceGateway,
  selfPayDue,
  setCoverageRules,
  settle,
  type InsuranceGateway,
} from '../activities/insurance.js';
import { markPayment, paymentDetail, refundClosedJourneyPayment, refundPayment, storeOrder, tellPaymentProvider, type PaymentProvider } from '../activities/payments.js';
import { carepathLines, matchStatement, plantStatementFault, sandboxSettlementChannel } from '../activities/reconciliation.js';
import { dispatchOnce } from '../workers/outbox.js';
import { testDb, type TestDb } from './support/db.js';
import { createLogger } from '../workers/logger.js';

let db: TestDb;
const TZ = 'Asia/Shanghai';
const shanghaiDay = (ms = Date.now()) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);

/** The sandbox gateway, every call counted. */
function countingGateway(): InsuranceGateway & { calls: { settle: string[]; reverse: string[] } } {
  const inner = sandboxInsuranceGateway(db.sql);
  const calls = { settle: [] as string[], reverse: [] as string[] };
  return {
    calls,
    preSettle: (r) => inner.preSettle(r),
    settle: (r) => (calls.settle.push(r.orderId), inner.settle(r)),
    reverse: (r) => (calls.reverse.push(r.orderId), inner.reverse(r)),
    statement: (day, tz) => inner.statement!(day, tz),
  };
}
/** A provider that records each refund it is asked for. */
function countingProvider(): PaymentProvider & { refunds: { orderId: string; amount: number }[] } {
  const refunds: { orderId: string; amount: number }[] = [];
  return {
    refunds,
    async refund(r) {
      refunds.push({ orderId: r.orderId, amount: r.amount });
      await db.sql`insert into refunds (order_id, amount, reason) values (${r.orderId}, ${r.amount}, ${r.reason}) on conflict (order_id) do nothing`;
    },
  };
}

beforeAll(async () => {
  db = await testDb();
  await db.sql`insert into patients (id, name, phone, birth_date, sex) values ('p-ins', '医保患者', '+8613800000095', '1960-01-01', 'M')`;
  await db.sql`
    insert into journeys (id, patient_id, mode, pathway_id, pathway_version, phase, status, step, snapshot, version)
    values ('j-ins', 'p-ins', 'offline', 'standard-outpatient', 1, 'pre-visit', 'active', 'awaiting-payment', '{}', 1)`;
  const items = [
    { drugCode: 'amlodipine-5mg', name: '氨氯地平片', dose: '5 mg', frequency: 'qd', days: 14, quantity: 14, unitPrice: 150 },
    { drugCode: 'metformin-500mg', name: '二甲双胍片', dose: '500 mg', frequency: 'bid', days: 14, quantity: 28, unitPrice: 60 },
  ];
  await db.sql`
    insert into prescriptions (id, journey_id, patient_id, prescriber_id, status, snapshot)
    values ('rx-ins', 'j-ins', 'p-ins', 'doc-1', 'awaiting-payment', ${db.sql.json({ items } as never)})`;
});
afterAll(async () => {
  await db?.drop();
});

/** Runs the outbox dispatcher until nothing is due (at most 10 rounds). */
async function dispatchAll(gateway: InsuranceGateway): Promise<void> {
  const log = createLogger('silent');
  for (let round = 0; round < 10; round++) {
    await db.sql`update outbox set next_attempt_at = now() where delivered_at is null and kind = 'insurance-reversal'`;
    if ((await dispatchOnce({ sql: db.sql, insurance: gateway, log })) === 0) return;
  }
  throw new Error('the outbox still has due rows after 10 rounds');
}

/**
 * The insurance channel's lines of one order today: CarePath's, as `[kind, amount]` sorted, and whether
 * they match the sandbox gateway's statement line for line.
 */
async function insuranceBooks(orderId: string): Promise<{ ours: [string, number][]; mismatches: unknown[] }> {
  const today = shanghaiDay();
  const ours = (await carepathLines(db.sql, 'insurance', today, TZ)).filter((l) => l.orderId === orderId);
  const theirs = (await sandboxSettlementChannel(db.sql, TZ).statement('insurance', today)).filter((l) => l.orderId === orderId);
  return { ours: ours.map((l): [string, number] => [l.kind, l.amount]).sort(), mismatches: matchStatement(ours, theirs).mismatches };
}

async function order(orderId: string, amount: number, subject: { type: string; id: string } = { type: 'journey', id: 'j-ins' }): Promise<void> {
  await db.sql`
    insert into payments (order_id, journey_id, subject_type, subject_id, amount, status, due_by)
    values (${orderId}, 'j-ins', ${subject.type}, ${subject.id}, ${amount}, 'pending', now() + interval '15 minutes')`;
}

describe('coverage rules', () => {
  it("covers each item at its kind's ratio rounded down, less the deductible, at most the cap and the total", () => {
    const items = [
      { kind: 'drug', code: 'a', name: 'A', amount: 2101 },
      { kind: 'drug', code: 'b', name: 'B', amount: 999 },
      { kind: 'exam', code: 'x', name: 'X', amount: 1000 },
    ];
    expect(cover(DEFAULT_COVERAGE_RULES, items, 4100)).toEqual({
      insured: 1680 + 799 + 700,
      items: [
        { ...items[0], insured: 1680 },
        { ...items[1], insured: 799 },
        { ...items[2], insured: 700 },
      ],
    });
    expect(cover({ ...DEFAULT_COVERAGE_RULES, excludedCodes: ['b'], deductible: 500 }, items, 4100).insured).toBe(1680 + 700 - 500);
    expect(cover({ ...DEFAULT_COVERAGE_RULES, cap: 1000 }, items, 4100).insured).toBe(1000);
    expect(cover({ ...DEFAULT_COVERAGE_RULES, deductible: 10_000 }, items, 4100).insured).toBe(0);
    expect(cover({ ...DEFAULT_COVERAGE_RULES, ratios: { drug: 1, exam: 1 } }, items, 4000).insured).toBe(4000);
  });
});

describe('a split order', () => {
  it('is pre-settled by item, settled once, and the provider then takes the self-paid rest; the invoice shows both payers', async () => {
    const gateway = countingGateway();
    const total = 14 * 150 + 28 * 60; // 3,780 fen of drugs at 80 %
    await order('rx-ins-pay', total, { type: 'prescription', id: 'rx-ins' });
    const split = await preSettle(db.sql, gateway, 'rx-ins-pay', 'p-ins');
    expect(split).toMatchObject({ status: 'pre-settled', total, insured: 1680 + 1344, self: total - 3024 });
    expect(split.items.map((i) => [i.code, i.amount, i.insured])).toEqual([
      ['amlodipine-5mg', 2100, 1680],
      ['metformin-500mg', 1680, 1344],
    ]);
    // Before settlement the provider is to take the whole amount.
    expect(await selfPayDue(db.sql, gateway, 'rx-ins-pay', total)).toEqual({ due: total });
    expect((await settle(db.sql, gateway, 'rx-ins-pay')).settledNow).toBe(true);
    expect((await settle(db.sql, gateway, 'rx-ins-pay')).settledNow).toBe(false);
    expect(gateway.calls.settle).toEqual(['rx-ins-pay']);
    expect(await selfPayDue(db.sql, gateway, 'rx-ins-pay', total, 756)).toEqual({ due: 756 });
    expect((await paymentDetail(db.sql, 'rx-ins-pay'))!).toMatchObject({
      due: 756,
      parts: [
        { payer: 'insurance', amount: 3024, status: 'settled' },
        { payer: 'self', amount: 756, status: 'pending' },
      ],
    });
    await markPayment(db.sql, { orderId: 'rx-ins-pay', status: 'paid', paidAt: new Date().toISOString(), channel: 'wechat' });
    const inv = (await patientInvoices(db.sql, 'p-ins', 10)).find((i) => i.orderId === 'rx-ins-pay')!;
    expect(inv).toMatchObject({ status: 'issued', amount: total, payers: { self: 756, insurance: 3024 }, channel: 'wechat' });
    expect(inv.items.reduce((n, i) => n + i.amount, 0)).toBe(total);
    // Paid: a new pre-settlement is refused.
    await expect(preSettle(db.sql, gateway, 'rx-ins-pay', 'p-ins')).rejects.toMatchObject({ reason: 'order-not-pending' });
  });

  it('is refunded in both parts, each once however often the refund is retried: the insured part reversed, the rest refunded, the invoice voided', async () => {
    const gateway = countingGateway();
    const provider = countingProvider();
    await order('j-ins-r1', 1500);
    await preSettle(db.sql, gateway, 'j-ins-r1', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-r1');
    await markPayment(db.sql, { orderId: 'j-ins-r1', status: 'paid', paidAt: new Date().toISOString(), channel: 'alipay' });
    await refundPayment(db.sql, provider, { orderId: 'j-ins-r1', amount: 1500, reason: 'cancelled' }, gateway);
    await refundPayment(db.sql, provider, { orderId: 'j-ins-r1', amount: 1500, reason: 'cancelled' }, gateway);
    expect(gateway.calls.reverse).toEqual(['j-ins-r1']);
    // The provider is idempotent by order (the ledger keeps one row); it was asked for the self-paid part only.
    expect(provider.refunds).toEqual([
      { orderId: 'j-ins-r1', amount: 750 },
      { orderId: 'j-ins-r1', amount: 750 },
    ]);
    expect(await db.sql`select amount from refunds where order_id = 'j-ins-r1'`).toEqual([{ amount: 750 }]);
    expect(await db.sql`select kind, amount from sandbox_insurance_ledger where order_id = 'j-ins-r1' order by kind`).toEqual([
      { kind: 'reversal', amount: 750 },
      { kind: 'settlement', amount: 750 },
    ]);
    expect((await paymentDetail(db.sql, 'j-ins-r1'))!).toMatchObject({
      status: 'refunded',
      due: 0,
      parts: [
        { payer: 'insurance', amount: 750, status: 'reversed' },
        { payer: 'self', amount: 750, status: 'refunded', channel: 'alipay' },
      ],
      insurance: { reversalReason: 'cancelled' },
    });
    // Both parts paid back: the invoice is voided and none reissued.
    const invoices = (await patientInvoices(db.sql, 'p-ins', 20)).filter((i) => i.orderId === 'j-ins-r1');
    expect(invoices.map((i) => [i.status, i.payers])).toEqual([['voided', { self: 750, insurance: 750 }]]);
  });

  it('without a gateway to reverse with, is not refunded at all (the activity fails and is retried)', async () => {
    const gateway = countingGateway();
    const provider = countingProvider();
    await order('j-ins-r2', 1500);
    await preSettle(db.sql, gateway, 'j-ins-r2', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-r2');
    await markPayment(db.sql, { orderId: 'j-ins-r2', status: 'paid', paidAt: new Date().toISOString(), channel: 'alipay' });
    await expect(refundPayment(db.sql, provider, { orderId: 'j-ins-r2', amount: 1500, reason: 'cancelled' })).rejects.toThrow(/no insurance gateway/);
    expect(provider.refunds).toEqual([]);
    expect((await paymentDetail(db.sql, 'j-ins-r2'))!.status).toBe('paid');
  });

  it('paid late for a closed prescription: both parts paid back', async () => {
    const gateway = countingGateway();
    const provider = countingProvider();
    await order('j-ins-late', 3780, { type: 'prescription', id: 'rx-ins' });
    await preSettle(db.sql, gateway, 'j-ins-late', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-late');
    await markPayment(db.sql, { orderId: 'j-ins-late', status: 'expired' });
    const notice = await refundClosedJourneyPayment(db.sql, provider, 'j-ins-late', { paidAt: new Date().toISOString(), channel: 'wechat' }, gateway);
    // Drugs at 80 %: 3,024 fen insured, 756 self-paid.
    expect(notice).toMatchObject({ kind: 'payment.refunded', params: { amount: 3780 } });
    expect(gateway.calls.reverse).toEqual(['j-ins-late']);
    expect(provider.refunds).toEqual([{ orderId: 'j-ins-late', amount: 756 }]);
    expect(await db.sql`select kind, amount from sandbox_insurance_ledger where order_id = 'j-ins-late' order by kind`).toEqual([
      { kind: 'reversal', amount: 3024 },
      { kind: 'settlement', amount: 3024 },
    ]);
  });
});

describe('an order that expires unpaid with its insured part settled', () => {
  it('queues the reversal in the transaction that expires it; the dispatcher reverses it once', async () => {
    const gateway = countingGateway();
    await order('j-ins-exp', 1500);
    await preSettle(db.sql, gateway, 'j-ins-exp', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-exp');
    await db.sql.begin((tx) => markPayment(tx as never, { orderId: 'j-ins-exp', status: 'expired' }));
    expect(await db.sql`select kind, order_id from outbox where id = 'insurance-reversal:j-ins-exp'`).toEqual([{ kind: 'insurance-reversal', order_id: 'j-ins-exp' }]);
    await dispatchAll(gateway);
    await dispatchAll(gateway);
    expect(gateway.calls.reverse).toEqual(['j-ins-exp']);
    expect(await findSettlement(db.sql, 'j-ins-exp')).toMatchObject({ status: 'reversed', reversalReason: 'expired', insured: 750 });
    expect(await db.sql`select amount from sandbox_insurance_ledger where kind = 'reversal' and order_id = 'j-ins-exp'`).toEqual([{ amount: 750 }]);
  });

  it('with its pre-settlement never settled: the pre-settlement is voided and nothing is reversed', async () => {
    const gateway = countingGateway();
    await order('j-ins-exp2', 1500);
    await preSettle(db.sql, gateway, 'j-ins-exp2', 'p-ins');
    await markPayment(db.sql, { orderId: 'j-ins-exp2', status: 'expired' });
    expect((await findSettlement(db.sql, 'j-ins-exp2'))!.status).toBe('voided');
    expect(await db.sql`select 1 from outbox where order_id = 'j-ins-exp2'`).toEqual([]);
    await expect(settle(db.sql, gateway, 'j-ins-exp2')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(gateway.calls.settle).toEqual([]);
  });

  it('reversed while its settlement was cut short: the gateway never settles it afterwards', async () => {
    const gateway = countingGateway();
    await order('j-ins-cut', 1500);
    await preSettle(db.sql, gateway, 'j-ins-cut', 'p-ins');
    // A settlement cut short after it was marked settling, before the gateway was asked.
    await db.sql`update insurance_settlements set status = 'settling' where order_id = 'j-ins-cut'`;
    expect(await selfPayDue(db.sql, gateway, 'j-ins-cut', 1500, 1500)).toBe('settling');
    await gateway.reverse({ orderId: 'j-ins-cut', reason: 'expired' });
    await expect(settle(db.sql, gateway, 'j-ins-cut')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(await db.sql`select kind, amount from sandbox_insurance_ledger where order_id = 'j-ins-cut'`).toEqual([{ kind: 'reversal', amount: 0 }]);
    expect((await findSettlement(db.sql, 'j-ins-cut'))!.status).toBe('reversed');
  });
});

describe('a whole-amount payment and a settlement racing', () => {
  it('the payment of the whole amount voids the pre-settlement: the settlement is then refused', async () => {
    const gateway = countingGateway();
    await order('j-ins-race', 1500);
    await preSettle(db.sql, gateway, 'j-ins-race', 'p-ins');
    expect(await selfPayDue(db.sql, gateway, 'j-ins-race', 1500, 1500)).toEqual({ due: 1500 });
    expect((await findSettlement(db.sql, 'j-ins-race'))!.status).toBe('voided');
    await expect(settle(db.sql, gateway, 'j-ins-race')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(gateway.calls.settle).toEqual([]);
  });

  it('a payment of another amount before settlement voids nothing (the webhook refuses it as a wrong amount)', async () => {
    const gateway = countingGateway();
    await order('j-ins-race2', 1500);
    await preSettle(db.sql, gateway, 'j-ins-race2', 'p-ins');
    expect(await selfPayDue(db.sql, gateway, 'j-ins-race2', 1500, 750)).toEqual({ due: 1500 });
    expect((await findSettlement(db.sql, 'j-ins-race2'))!.status).toBe('pre-settled');
  });

  it('an uninsured patient is refused at pre-settlement', async () => {
    await setCoverageRules(db.sql, { ...DEFAULT_COVERAGE_RULES, uninsuredPatients: ['p-ins'] });
    try {
      await order('j-ins-none', 1500);
      await expect(preSettle(db.sql, countingGateway(), 'j-ins-none', 'p-ins')).rejects.toMatchObject({ reason: 'not-insured' });
      expect(await findSettlement(db.sql, 'j-ins-none')).toBeUndefined();
    } finally {
      await setCoverageRules(db.sql, DEFAULT_COVERAGE_RULES);
    }
  });
});

describe('the provider and insurance both paying', () => {
  it('a whole-amount payment before any pre-settlement claims the order: insurance can then not pre-settle it', async () => {
    const gateway = countingGateway();
    await order('j-ins-claim', 1500);
    expect(await selfPayDue(db.sql, gateway, 'j-ins-claim', 1500, 1500)).toEqual({ due: 1500 });
    await expect(preSettle(db.sql, gateway, 'j-ins-claim', 'p-ins')).rejects.toMatchObject({ reason: 'order-not-pending' });
    await expect(settle(db.sql, gateway, 'j-ins-claim')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(gateway.calls.settle).toEqual([]);
    expect((await paymentDetail(db.sql, 'j-ins-claim'))!.parts).toEqual([{ payer: 'self', amount: 1500, status: 'pending' }]);
  });

  it('the whole amount taken after insurance settled: the insured part is reversed as the excess, and a refund pays the provider part back whole', async () => {
    const gateway = countingGateway();
    const provider = countingProvider();
    await order('j-ins-over', 1500);
    await preSettle(db.sql, gateway, 'j-ins-over', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-over');
    expect(await selfPayDue(db.sql, gateway, 'j-ins-over', 1500, 1500)).toEqual({ due: 1500 });
    expect(gateway.calls.reverse).toEqual(['j-ins-over']);
    expect(await findSettlement(db.sql, 'j-ins-over')).toMatchObject({ status: 'reversed', reversalReason: 'paid-in-full', counted: false });
    await markPayment(db.sql, { orderId: 'j-ins-over', status: 'paid', paidAt: new Date().toISOString(), channel: 'wechat' });
    const inv = (await patientInvoices(db.sql, 'p-ins', 50)).find((i) => i.orderId === 'j-ins-over')!;
    expect(inv.payers).toEqual({ self: 1500, insurance: 0 });
    expect((await paymentDetail(db.sql, 'j-ins-over'))!.parts).toEqual([{ payer: 'self', amount: 1500, status: 'paid', channel: 'wechat' }]);
    const today = shanghaiDay();
    expect((await carepathLines(db.sql, 'wechat', today, TZ)).filter((l) => l.orderId === 'j-ins-over').map((l) => [l.kind, l.amount])).toEqual([['payment', 1500]]);
    expect((await carepathLines(db.sql, 'insurance', today, TZ)).filter((l) => l.orderId === 'j-ins-over').map((l) => [l.kind, l.amount]).sort()).toEqual([['payment', 750], ['refund', 750]]);
    await refundPayment(db.sql, provider, { orderId: 'j-ins-over', amount: 1500, reason: 'cancelled' }, gateway);
    expect(provider.refunds).toEqual([{ orderId: 'j-ins-over', amount: 1500 }]);
    expect(gateway.calls.reverse).toEqual(['j-ins-over']);
  });

  it('paid late after the expired order had its insured part reversed: the self-paid part is taken and refunded; so is the whole amount', async () => {
    const gateway = countingGateway();
    const provider = countingProvider();
    // Prescriptions of 3,780 fen: 3,024 insured, 756 self-paid.
    for (const id of ['rx-ins-late-self', 'rx-ins-late-all']) {
      await order(id, 3780, { type: 'prescription', id: 'rx-ins' });
      await preSettle(db.sql, gateway, id, 'p-ins');
      await settle(db.sql, gateway, id);
      await markPayment(db.sql, { orderId: id, status: 'expired' });
    }
    await dispatchAll(gateway);
    expect(gateway.calls.reverse.sort()).toEqual(['rx-ins-late-all', 'rx-ins-late-self']);
    expect(await selfPayDue(db.sql, gateway, 'rx-ins-late-self', 3780, 756)).toEqual({ due: 756 });
    await refundClosedJourneyPayment(db.sql, provider, 'rx-ins-late-self', {}, gateway);
    expect(await selfPayDue(db.sql, gateway, 'rx-ins-late-all', 3780, 3780)).toEqual({ due: 3780 });
    await refundClosedJourneyPayment(db.sql, provider, 'rx-ins-late-all', {}, gateway);
    expect(provider.refunds).toEqual([
      { orderId: 'rx-ins-late-self', amount: 756 },
      { orderId: 'rx-ins-late-all', amount: 3780 },
    ]);
    // Nothing reversed twice.
    expect(gateway.calls.reverse.sort()).toEqual(['rx-ins-late-all', 'rx-ins-late-self']);
  });

  it('a settlement the gateway made while the order expired is recorded beside its reversal', async () => {
    const inner = countingGateway();
    // The gateway settles, and before CarePath records it the order expires and is reversed.
    const gateway: InsuranceGateway = {
      ...inner,
      async settle(r) {
        const done = await inner.settle(r);
        await markPayment(db.sql, { orderId: r.orderId, status: 'expired' });
        await reverseInsured(db.sql, inner, r.orderId, 'expired');
        return done;
      },
    };
    await order('j-ins-crossed', 1500);
    await preSettle(db.sql, gateway, 'j-ins-crossed', 'p-ins');
    await expect(settle(db.sql, gateway, 'j-ins-crossed')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(await findSettlement(db.sql, 'j-ins-crossed')).toMatchObject({ status: 'reversed', insured: 750, settledAt: expect.any(String), reversedAt: expect.any(String) });
    expect(await insuranceBooks('j-ins-crossed')).toEqual({ ours: [['payment', 750], ['refund', 750]], mismatches: [] });
  });

  it('a provider told of the order is told again after settlement, to take the self-paid part', async () => {
    const gateway = countingGateway();
    const told: { orderId: string; amount: number }[] = [];
    const provider: PaymentProvider = { refund: async () => undefined, requested: async (o) => void told.push({ orderId: o.orderId, amount: o.amount }) };
    await storeOrder(db.sql, { orderId: 'j-ins-told', journeyId: 'j-ins', amount: 1500, dueBy: new Date(Date.now() + 900_000).toISOString() }, true);
    expect(await tellPaymentProvider(db.sql, provider, 'payment:j-ins-told', 'j-ins-told')).toBe('told');
    await preSettle(db.sql, gateway, 'j-ins-told', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-told');
    await settle(db.sql, gateway, 'j-ins-told');
    expect(await db.sql`select id from outbox where order_id = 'j-ins-told' order by id`).toEqual([{ id: 'payment:j-ins-told' }, { id: 'payment:j-ins-told:after-insurance' }]);
    expect(await tellPaymentProvider(db.sql, provider, 'payment:j-ins-told:after-insurance', 'j-ins-told')).toBe('told');
    expect(await tellPaymentProvider(db.sql, provider, 'payment:j-ins-told:after-insurance', 'j-ins-told')).toBe('already-told');
    expect(told).toEqual([
      { orderId: 'j-ins-told', amount: 1500 },
      { orderId: 'j-ins-told', amount: 750 },
    ]);
  });

  it('an expiry whose first attempt was cut short before it queued the reversal queues it when retried', async () => {
    const gateway = countingGateway();
    await order('j-ins-retry', 1500);
    await preSettle(db.sql, gateway, 'j-ins-retry', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-retry');
    await db.sql`update payments set status = 'expired' where order_id = 'j-ins-retry'`; // the first attempt's update, then a crash
    await markPayment(db.sql, { orderId: 'j-ins-retry', status: 'expired' });
    expect(await db.sql`select kind from outbox where order_id = 'j-ins-retry' and kind = 'insurance-reversal'`).toEqual([{ kind: 'insurance-reversal' }]);
  });

  it('refunded through a provider that keeps no refund record here: the invoice is voided, none reissued', async () => {
    const gateway = countingGateway();
    const remote: PaymentProvider = { refund: async () => undefined };
    await order('j-ins-remote', 1500);
    await preSettle(db.sql, gateway, 'j-ins-remote', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-remote');
    await markPayment(db.sql, { orderId: 'j-ins-remote', status: 'paid', paidAt: new Date().toISOString(), channel: 'wechat' });
    await refundPayment(db.sql, remote, { orderId: 'j-ins-remote', amount: 1500, reason: 'cancelled' }, gateway);
    const invoices = (await patientInvoices(db.sql, 'p-ins', 100)).filter((i) => i.orderId === 'j-ins-remote');
    expect(invoices.map((i) => i.status)).toEqual(['voided']);
  });
});

describe('what each step refuses', () => {
  it('settles nothing not pre-settled, pre-settles nothing settled, and settles no order that is no longer pending', async () => {
    const gateway = countingGateway();
    await order('j-ins-ref1', 1500);
    await expect(settle(db.sql, gateway, 'j-ins-ref1')).rejects.toMatchObject({ reason: 'not-pre-settled' });
    await preSettle(db.sql, gateway, 'j-ins-ref1', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-ref1');
    await expect(preSettle(db.sql, gateway, 'j-ins-ref1', 'p-ins')).rejects.toMatchObject({ reason: 'insurance-settled' });
    // Reversed: neither settled again nor pre-settled again.
    await reverseInsured(db.sql, gateway, 'j-ins-ref1', 'cancelled');
    await expect(settle(db.sql, gateway, 'j-ins-ref1')).rejects.toMatchObject({ reason: 'insurance-settled' });
    await expect(preSettle(db.sql, gateway, 'j-ins-ref1', 'p-ins')).rejects.toMatchObject({ reason: 'insurance-settled' });
    // Pre-settled, then the order paid in full by another path that did not void it: not settled.
    await order('j-ins-ref2', 1500);
    await preSettle(db.sql, gateway, 'j-ins-ref2', 'p-ins');
    await db.sql`update payments set status = 'paid' where order_id = 'j-ins-ref2'`;
    await expect(settle(db.sql, gateway, 'j-ins-ref2')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(gateway.calls.settle).toEqual(['j-ins-ref1']);
  });

  it("passes on a gateway's failure as it is (to be retried): the settlement stays settling and is asked again", async () => {
    const inner = countingGateway();
    let down = true;
    const gateway: InsuranceGateway = {
      ...inner,
      preSettle: async (r) => (down ? Promise.reject(new Error('gateway unreachable')) : inner.preSettle(r)),
      settle: async (r) => (down ? Promise.reject(new Error('gateway unreachable')) : inner.settle(r)),
    };
    await order('j-ins-down', 1500);
    await expect(preSettle(db.sql, gateway, 'j-ins-down', 'p-ins')).rejects.toThrow('gateway unreachable');
    down = false;
    await preSettle(db.sql, gateway, 'j-ins-down', 'p-ins');
    down = true;
    await expect(settle(db.sql, gateway, 'j-ins-down')).rejects.toThrow('gateway unreachable');
    expect((await findSettlement(db.sql, 'j-ins-down'))!.status).toBe('settling');
    down = false;
    expect(await settle(db.sql, gateway, 'j-ins-down')).toMatchObject({ settledNow: true, settlement: { status: 'settled', insured: 750 } });
  });

  it('reverses nothing that was never settled', async () => {
    const gateway = countingGateway();
    await reverseInsured(db.sql, gateway, 'no-such-order', 'cancelled');
    await order('j-ins-rev0', 1500);
    await preSettle(db.sql, gateway, 'j-ins-rev0', 'p-ins');
    await reverseInsured(db.sql, gateway, 'j-ins-rev0', 'cancelled');
    expect(gateway.calls.reverse).toEqual([]);
    expect((await findSettlement(db.sql, 'j-ins-rev0'))!.status).toBe('pre-settled');
  });

  it('takes the whole amount of an order nothing was asked of insurance for, claiming it only for a payment of that amount', async () => {
    const gateway = countingGateway();
    await order('j-ins-due', 1500);
    expect(await selfPayDue(db.sql, gateway, 'j-ins-due', 1500, 700)).toEqual({ due: 1500 });
    expect(await findSettlement(db.sql, 'j-ins-due')).toBeUndefined();
    expect(await selfPayDue(db.sql, gateway, 'j-ins-due', 1500)).toEqual({ due: 1500 });
    expect(await findSettlement(db.sql, 'j-ins-due')).toBeUndefined();
    // After a reversal as paid-in-full, or one of a settlement that never happened, the whole amount is due.
    await order('j-ins-due2', 1500);
    await preSettle(db.sql, gateway, 'j-ins-due2', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-due2');
    await selfPayDue(db.sql, gateway, 'j-ins-due2', 1500, 1500);
    expect(await selfPayDue(db.sql, gateway, 'j-ins-due2', 1500, 750)).toEqual({ due: 1500 });
    await order('j-ins-due3', 1500);
    await preSettle(db.sql, gateway, 'j-ins-due3', 'p-ins');
    await db.sql`update insurance_settlements set status = 'reversed' where order_id = 'j-ins-due3'`;
    expect(await selfPayDue(db.sql, gateway, 'j-ins-due3', 1500, 750)).toEqual({ due: 1500 });
  });

  it('leaves an insurance-reversal row undelivered, its error kept, while no gateway is configured; delivered once there is one', async () => {
    const gateway = countingGateway();
    await order('j-ins-nogw', 1500);
    await preSettle(db.sql, gateway, 'j-ins-nogw', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-nogw');
    await markPayment(db.sql, { orderId: 'j-ins-nogw', status: 'expired' });
    const id = 'insurance-reversal:j-ins-nogw';
    await expect(dispatchReversal(db.sql, undefined, id, 'j-ins-nogw')).rejects.toThrow(/no insurance gateway/);
    expect(await db.sql`select attempts, last_error, delivered_at from outbox where id = ${id}`).toEqual([
      { attempts: 1, last_error: 'outbox: no insurance gateway configured to reverse with', delivered_at: null },
    ]);
    expect(await dispatchReversal(db.sql, gateway, id, 'j-ins-nogw')).toBe('reversed');
    expect(await dispatchReversal(db.sql, gateway, id, 'j-ins-nogw')).toBe('already-reversed');
    expect(gateway.calls.reverse).toEqual(['j-ins-nogw']);
  });
});

describe('the second review', () => {
  it('a whole-amount payment racing the expiry reversal leaves the insured part uncounted, so all of it is refunded', async () => {
    const inner = countingGateway();
    const provider = countingProvider();
    await order('rx-ins-race', 3780, { type: 'prescription', id: 'rx-ins' });
    await preSettle(db.sql, inner, 'rx-ins-race', 'p-ins');
    await settle(db.sql, inner, 'rx-ins-race');
    await markPayment(db.sql, { orderId: 'rx-ins-race', status: 'expired' });
    // The dispatcher's reversal lands between the webhook's read and its own reversal.
    const racing: InsuranceGateway = {
      ...inner,
      async reverse(r) {
        await reverseInsured(db.sql, inner, r.orderId, 'expired');
        return inner.reverse(r);
      },
    };
    expect(await selfPayDue(db.sql, racing, 'rx-ins-race', 3780, 3780)).toEqual({ due: 3780 });
    expect(await findSettlement(db.sql, 'rx-ins-race')).toMatchObject({ status: 'reversed', counted: false });
    await refundClosedJourneyPayment(db.sql, provider, 'rx-ins-race', {}, inner);
    expect(provider.refunds).toEqual([{ orderId: 'rx-ins-race', amount: 3780 }]);
  });

  it('an order insurance covered whole is never reversed for a provider payment: nothing was left to take', async () => {
    const gateway = countingGateway();
    await setCoverageRules(db.sql, { ...DEFAULT_COVERAGE_RULES, ratios: { registration: 1 } });
    try {
      await order('j-ins-whole', 1500);
      await preSettle(db.sql, gateway, 'j-ins-whole', 'p-ins');
      await settle(db.sql, gateway, 'j-ins-whole');
      expect(await selfPayDue(db.sql, gateway, 'j-ins-whole', 1500, 1500)).toEqual({ due: 0 });
      expect(gateway.calls.reverse).toEqual([]);
      // Nothing for the provider to be told either.
      expect(await db.sql`select 1 from outbox where order_id = 'j-ins-whole'`).toEqual([]);
    } finally {
      await setCoverageRules(db.sql, DEFAULT_COVERAGE_RULES);
    }
  });

  it('a settlement cut short after the gateway made it, then reversed on expiry, is recorded with its reversal', async () => {
    const gateway = countingGateway();
    await order('j-ins-short', 1500);
    const pre = await preSettle(db.sql, gateway, 'j-ins-short', 'p-ins');
    await db.sql`update insurance_settlements set status = 'settling' where order_id = 'j-ins-short'`;
    const row = (await db.sql<{ pre_settlement_id: string }[]>`select pre_settlement_id from insurance_settlements where order_id = 'j-ins-short'`)[0]!;
    await gateway.settle({ orderId: 'j-ins-short', preSettlementId: row.pre_settlement_id, insured: pre.insured }); // then the crash
    await markPayment(db.sql, { orderId: 'j-ins-short', status: 'expired' });
    // Retried after the expiry: not asked of the gateway again.
    await expect(settle(db.sql, gateway, 'j-ins-short')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(gateway.calls.settle).toEqual(['j-ins-short']);
    await dispatchAll(gateway);
    expect(await findSettlement(db.sql, 'j-ins-short')).toMatchObject({ status: 'reversed', settledAt: expect.any(String), reversedAt: expect.any(String) });
    expect(await insuranceBooks('j-ins-short')).toEqual({ ours: [['payment', 750], ['refund', 750]], mismatches: [] });
  });

  it('claims no order where no gateway is configured, and tells no provider after insurance when there is nothing to tell', async () => {
    await order('j-ins-nogw2', 1500);
    expect(await selfPayDue(db.sql, undefined, 'j-ins-nogw2', 1500, 1500)).toEqual({ due: 1500 });
    expect(await findSettlement(db.sql, 'j-ins-nogw2')).toBeUndefined();
    const gateway = countingGateway();
    const told: number[] = [];
    const provider: PaymentProvider = { refund: async () => undefined, requested: async (o) => void told.push(o.amount) };
    await order('j-ins-tell', 1500);
    await preSettle(db.sql, gateway, 'j-ins-tell', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-tell');
    // A provider that is not told of orders (the development ledger): the row is done with.
    expect(await tellPaymentProvider(db.sql, { refund: async () => undefined }, 'payment:j-ins-tell:after-insurance', 'j-ins-tell')).toBe('told');
    expect(await db.sql`select delivered_at is not null as done from outbox where id = 'payment:j-ins-tell:after-insurance'`).toEqual([{ done: true }]);
    // An order no longer pending: nothing told.
    await order('j-ins-tell2', 1500);
    await preSettle(db.sql, gateway, 'j-ins-tell2', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-tell2');
    await markPayment(db.sql, { orderId: 'j-ins-tell2', status: 'paid', paidAt: new Date().toISOString(), channel: 'wechat' });
    await tellPaymentProvider(db.sql, provider, 'payment:j-ins-tell2:after-insurance', 'j-ins-tell2');
    expect(told).toEqual([]);
  });
});

describe("reconciliation's insurance channel", () => {
  it("matches the insured parts settled and reversed against the gateway's books; the provider's channel carries the self-paid part only", async () => {
    const gateway = countingGateway();
    const provider = countingProvider();
    await order('j-ins-rec', 2000);
    await preSettle(db.sql, gateway, 'j-ins-rec', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-rec');
    await markPayment(db.sql, { orderId: 'j-ins-rec', status: 'paid', paidAt: new Date().toISOString(), channel: 'wechat' });
    await order('j-ins-rec2', 3000);
    await preSettle(db.sql, gateway, 'j-ins-rec2', 'p-ins');
    await settle(db.sql, gateway, 'j-ins-rec2');
    await markPayment(db.sql, { orderId: 'j-ins-rec2', status: 'paid', paidAt: new Date().toISOString(), channel: 'wechat' });
    await refundPayment(db.sql, provider, { orderId: 'j-ins-rec2', amount: 3000, reason: 'cancelled' }, gateway);
    const today = shanghaiDay();
    const channel = sandboxSettlementChannel(db.sql, TZ);
    const of = (lines: { kind: string; orderId: string; amount: number }[], ids: string[]) =>
      lines.filter((l) => ids.includes(l.orderId)).map((l) => [l.kind, l.orderId, l.amount]).sort();
    const ids = ['j-ins-rec', 'j-ins-rec2'];
    const ours = await carepathLines(db.sql, 'insurance', today, TZ);
    expect(of(ours, ids)).toEqual([
      ['payment', 'j-ins-rec', 1000],
      ['payment', 'j-ins-rec2', 1500],
      ['refund', 'j-ins-rec2', 1500],
    ]);
    expect(of(await carepathLines(db.sql, 'wechat', today, TZ), ids)).toEqual([
      ['payment', 'j-ins-rec', 1000],
      ['payment', 'j-ins-rec2', 1500],
      ['refund', 'j-ins-rec2', 1500],
    ]);
    const theirs = await channel.statement('insurance', today);
    expect(matchStatement(ours.filter((l) => ids.includes(l.orderId)), theirs.filter((l) => ids.includes(l.orderId))).mismatches).toEqual([]);
    // The gateway's statement shows the reversal as 900: one mismatch, both sides shown.
    await plantStatementFault(db.sql, { channel: 'insurance', day: today, kind: 'refund', orderId: 'j-ins-rec2', fault: 'alter', amount: 900 });
    const altered = (await channel.statement('insurance', today)).filter((l) => ids.includes(l.orderId));
    const { mismatches } = matchStatement(ours.filter((l) => ids.includes(l.orderId)), altered);
    expect(mismatches.map((m) => [m.type, m.kind, m.orderId, m.ours?.amount, m.theirs.map((t) => t.amount)])).toEqual([['amount-differs', 'refund', 'j-ins-rec2', 1500, [900]]]);
  });
});
