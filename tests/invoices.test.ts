// Electronic invoices on PostgreSQL (db/migrations/019_invoices.sql): issued once in the transaction
// that marks an order paid, with the items of what it paid for and the amounts by payer; voided when
// the order is refunded, and reissued for what remains after a partial refund.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patientInvoices } from '../activities/invoices.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await testDb();
  await db.sql`insert into patients (id, name, phone, birth_date, sex) values ('p-inv', '发票患者', '+8613800000094', '1970-01-01', 'F')`;
  await db.sql`
    insert into journeys (id, patient_id, mode, pathway_id, pathway_version, phase, status, step, snapshot, version)
    values ('j-inv', 'p-inv', 'offline', 'standard-outpatient', 1, 'post-visit', 'active', 'done', '{}', 1)`;
  const items = [
    { drugCode: 'amlodipine-5mg', name: '氨氯地平片', dose: '5 mg', frequency: 'qd', days: 14, quantity: 14, unitPrice: 150 },
    { drugCode: 'metformin-500mg', name: '二甲双胍片', dose: '500 mg', frequency: 'bid', days: 14, quantity: 28, unitPrice: 60 },
  ];
  await db.sql`
    insert into prescriptions (id, journey_id, patient_id, prescriber_id, status, snapshot)
    values ('rx-inv', 'j-inv', 'p-inv', 'doc-1', 'awaiting-payment', ${db.sql.json({ items } as never)})`;
});
afterAll(async () => {
  await db?.drop();
});

async function order(orderId: string, subjectType: string, subjectId: string, amount: number): Promise<void> {
  await db.sql`
    insert into payments (order_id, journey_id, subject_type, subject_id, amount, status, due_by)
    values (${orderId}, 'j-inv', ${subjectType}, ${subjectId}, ${amount}, 'pending', now() + interval '15 minutes')`;
}
const pay = (orderId: string) => db.sql`update payments set status = 'paid', paid_at = now(), channel = 'alipay' where order_id = ${orderId}`;

describe('invoices', () => {
  it("issues one for a paid registration with the pathway's name, once however often it is marked", async () => {
    await order('j-inv-reg', 'journey', 'j-inv', 1500);
    await pay('j-inv-reg');
    await pay('j-inv-reg');
    const [inv, ...rest] = await patientInvoices(db.sql, 'p-inv', 10);
    expect(rest).toEqual([]);
    expect(inv).toMatchObject({
      orderId: 'j-inv-reg',
      status: 'issued',
      items: [{ kind: 'registration', code: 'standard-outpatient', name: 'Standard outpatient visit', quantity: 1, unitPrice: 1500, amount: 1500 }],
      payers: { self: 1500, insurance: 0 },
      amount: 1500,
      currency: 'CNY',
      channel: 'alipay',
    });
    expect(inv!.number).toMatch(/^INV\d{8}\d{8}$/);
  });

  it("itemizes a prescription's drugs, the lines adding up to what was paid", async () => {
    await order('rx-inv-pay', 'prescription', 'rx-inv', 14 * 150 + 28 * 60);
    await pay('rx-inv-pay');
    const inv = (await patientInvoices(db.sql, 'p-inv', 10)).find((i) => i.orderId === 'rx-inv-pay')!;
    expect(inv.items).toEqual([
      { kind: 'drug', code: 'amlodipine-5mg', name: '氨氯地平片', quantity: 14, unitPrice: 150, amount: 2100 },
      { kind: 'drug', code: 'metformin-500mg', name: '二甲双胍片', quantity: 28, unitPrice: 60, amount: 1680 },
    ]);
    expect(inv.items.reduce((a, i) => a + i.amount, 0)).toBe(inv.amount);
  });

  it('voids the invoice of a refunded order; a partial refund reissues one for what remains, under a new number', async () => {
    await db.sql`insert into refunds (order_id, amount, reason) values ('j-inv-reg', 1500, 'cancelled')`;
    await db.sql`update payments set status = 'refunded' where order_id = 'j-inv-reg'`;
    const reg = (await patientInvoices(db.sql, 'p-inv', 10)).filter((i) => i.orderId === 'j-inv-reg');
    expect(reg.map((i) => [i.status, i.amount])).toEqual([['voided', 1500]]);
    expect(reg[0]!.voidedAt).toBeDefined();

    await db.sql`insert into refunds (order_id, amount, reason) values ('rx-inv-pay', 1680, 'one drug returned')`;
    await db.sql`update payments set status = 'refunded' where order_id = 'rx-inv-pay'`;
    const rx = (await patientInvoices(db.sql, 'p-inv', 10)).filter((i) => i.orderId === 'rx-inv-pay');
    const voided = rx.find((i) => i.status === 'voided')!;
    const reissued = rx.find((i) => i.status === 'issued')!;
    expect(rx).toHaveLength(2);
    expect(reissued).toMatchObject({ amount: 2100, payers: { self: 2100, insurance: 0 }, replaces: voided.id, items: [{ kind: 'remainder', quantity: 1, unitPrice: 2100, amount: 2100 }] });
    expect(reissued.number).not.toBe(voided.number);
  });

  it('issues nothing for an order that was never paid', async () => {
    await order('j-inv-lapsed', 'journey', 'j-inv', 1500);
    await db.sql`update payments set status = 'expired' where order_id = 'j-inv-lapsed'`;
    expect((await patientInvoices(db.sql, 'p-inv', 10)).some((i) => i.orderId === 'j-inv-lapsed')).toBe(false);
  });
});
