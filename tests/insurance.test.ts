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
  findSettlement,
  preSettle,
  sandboxInsuranceGateway,
  selfPayDue,
  setCoverageRules,
  settle,
  type InsuranceGateway,
} from '../activities/insurance.js';
import { markPayment, paymentDetail, refundClosedJourneyPayment, refundPayment, type PaymentProvider } from '../activities/payments.js';
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
    expect(await selfPayDue(db.sql, 'rx-ins-pay', total)).toEqual({ due: total });
    expect((await settle(db.sql, gateway, 'rx-ins-pay')).settledNow).toBe(true);
    expect((await settle(db.sql, gateway, 'rx-ins-pay')).settledNow).toBe(false);
    expect(gateway.calls.settle).toEqual(['rx-ins-pay']);
    expect(await selfPayDue(db.sql, 'rx-ins-pay', total, 756)).toEqual({ due: 756 });
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
    const log = createLogger('silent');
    while ((await db.sql`select 1 from outbox where id = 'insurance-reversal:j-ins-exp' and delivered_at is null`).length > 0) {
      await db.sql`update outbox set next_attempt_at = now() where id = 'insurance-reversal:j-ins-exp'`;
      await dispatchOnce({ sql: db.sql, insurance: gateway, log });
    }
    await dispatchOnce({ sql: db.sql, insurance: gateway, log });
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
    expect(await selfPayDue(db.sql, 'j-ins-cut', 1500, 1500)).toBe('settling');
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
    expect(await selfPayDue(db.sql, 'j-ins-race', 1500, 1500)).toEqual({ due: 1500 });
    expect((await findSettlement(db.sql, 'j-ins-race'))!.status).toBe('voided');
    await expect(settle(db.sql, gateway, 'j-ins-race')).rejects.toMatchObject({ reason: 'order-not-pending' });
    expect(gateway.calls.settle).toEqual([]);
  });

  it('a payment of another amount before settlement voids nothing (the webhook refuses it as a wrong amount)', async () => {
    const gateway = countingGateway();
    await order('j-ins-race2', 1500);
    await preSettle(db.sql, gateway, 'j-ins-race2', 'p-ins');
    expect(await selfPayDue(db.sql, 'j-ins-race2', 1500, 750)).toEqual({ due: 1500 });
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
