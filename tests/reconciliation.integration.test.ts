// A day's reconciliation over HTTP on the real stack: registration fees paid through the signed payment
// webhook on two channels (yesterday, in the hospital's time zone), a mismatch planted in one channel's
// statement, the day re-run by finance (an admin), the exception in the admin's task queue with both
// sides shown, resolved, and the day closed. Who may do what, and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exceptionTaskId } from '../activities/reconciliation.js';
import { startStack, type Stack } from './support/stack.js';
import { json, problem } from './support/http.js';
import { verifiedClinician } from './support/people.js';
import { booked } from './support/visits.js';

type Json = Record<string, any>;
let stack: Stack;
let admin: string;
const FEE = 1500;
/** Yesterday in Asia/Shanghai (the stack's default hospital time zone), and an instant at 10:00 that day. */
const shanghai = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);
const yesterday = shanghai(Date.now() - 86_400_000);
const yesterdayAt10 = new Date(Date.parse(`${yesterday}T10:00:00+08:00`)).toISOString();

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'finance-1');
});
afterAll(async () => {
  await stack?.stop();
});

/** A registration fee paid yesterday through `channel`: its order id. */
async function paidYesterday(doctorId: string, channel: 'wechat' | 'alipay'): Promise<string> {
  const { orderId } = await booked(stack, { admin, doctorId, department: 'cardiology', complaint: '高血压，最近头晕', patient: { name: '对账患者', phone: '+8613800000091', birthDate: '1966-06-06', sex: 'F' } });
  expect((await stack.payWebhook({ orderId, status: 'paid', amount: FEE, paidAt: yesterdayAt10, channel })).status).toBe(204);
  return orderId;
}

describe('daily reconciliation over HTTP', () => {
  let wechatOrder: string;
  let alipayOrder: string;
  beforeAll(async () => {
    const doctor = await verifiedClinician(stack, admin, { name: '对账医生', role: 'doctor', department: 'cardiology' });
    wechatOrder = await paidYesterday(doctor.id, 'wechat');
    alipayOrder = await paidYesterday(doctor.id, 'alipay');
  });

  it('turns a planted mismatch into one finance exception with both sides; resolved, the day closes', async () => {
    // The channel's statement shows the Alipay fee as 1,600 fen.
    await json(await stack.call('POST', '/v1/sandbox/statement-faults', { token: admin, body: { channel: 'alipay', date: yesterday, kind: 'payment', orderId: alipayOrder, fault: 'alter', amount: 1600 } }), 201);
    const day = await json(await stack.call('POST', `/v1/reconciliations/${yesterday}/runs`, { token: admin }), 201);
    expect(day.status).toBe('open');
    expect(day.runs).toHaveLength(1);
    expect(day.result).toMatchObject({ trigger: 'admin', status: 'done', requestedBy: 'admin:finance-1' });
    expect(day.result.channels.wechat).toEqual({ ours: 1, theirs: 1, matched: 1, mismatched: 0 });
    expect(day.result.channels.alipay).toEqual({ ours: 1, theirs: 1, matched: 0, mismatched: 1 });
    expect(day.result.mismatches).toEqual([
      {
        taskId: exceptionTaskId(yesterday, 'alipay', 'payment', alipayOrder),
        taskStatus: 'open',
        channel: 'alipay',
        kind: 'payment',
        orderId: alipayOrder,
        type: 'amount-differs',
        ours: { amount: FEE, at: yesterdayAt10 },
        theirs: [{ amount: 1600, at: yesterdayAt10 }],
      },
    ]);
    // In finance's queue: one task, nothing for the WeChat order that matched.
    const tasks = (await json(await stack.call('GET', '/v1/tasks?kind=finance-exception', { token: admin }), 200)).items as Json[];
    const mine = tasks.filter((t) => t.subject.id === yesterday);
    expect(mine.map((t) => [t.id, t.role, t.subject.type, t.status])).toEqual([[day.result.mismatches[0].taskId, 'admin', 'reconciliation', 'open']]);
    expect(tasks.some((t) => String(t.action).includes(wechatOrder))).toBe(false);
    // A coordinator's queue does not hold it.
    const coordinator = await stack.token('coordinator', 'coord-1');
    const theirs = (await json(await stack.call('GET', '/v1/tasks?kind=finance-exception', { token: coordinator }), 200)).items as Json[];
    expect(theirs).toEqual([]);

    // Run again without a correction: the same mismatch keeps its one task; both runs are kept.
    const again = await json(await stack.call('POST', `/v1/reconciliations/${yesterday}/runs`, { token: admin }), 201);
    expect(again.runs).toHaveLength(2);
    expect(again.result.id).toBe(again.runs[0].id);
    expect(again.result.mismatches.map((m: Json) => m.taskId)).toEqual([day.result.mismatches[0].taskId]);
    expect((await json(await stack.call('GET', '/v1/tasks?kind=finance-exception', { token: admin }), 200)).items.filter((t: Json) => t.subject.id === yesterday)).toHaveLength(1);

    // Finance resolves it: the day is closed.
    await json(await stack.call('POST', `/v1/tasks/${day.result.mismatches[0].taskId}/complete`, { token: admin, body: { note: 'channel fee adjustment confirmed' } }), 200);
    const closed = await json(await stack.call('GET', `/v1/reconciliations/${yesterday}`, { token: admin }), 200);
    expect(closed.status).toBe('closed');
    expect(closed.result.mismatches[0].taskStatus).toBe('done');
    const list = await json(await stack.call('GET', `/v1/reconciliations?from=${yesterday}&to=${yesterday}`, { token: admin }), 200);
    expect(list.items).toEqual([expect.objectContaining({ date: yesterday, status: 'closed', openExceptions: 0, exceptions: 1 })]);
  });

  it('is for admins only, refuses a day not over and bad dates, and 404s a day never reconciled', async () => {
    const coordinator = await stack.token('coordinator', 'coord-1');
    expect((await stack.call('GET', `/v1/reconciliations/${yesterday}`, { token: coordinator })).status).toBe(403);
    expect((await stack.call('POST', `/v1/reconciliations/${yesterday}/runs`, { token: coordinator })).status).toBe(403);
    expect((await stack.call('POST', '/v1/sandbox/statement-faults', { token: coordinator, body: { channel: 'alipay', date: yesterday, kind: 'payment', orderId: 'x', fault: 'drop' } })).status).toBe(403);
    expect((await stack.call('GET', `/v1/reconciliations/${yesterday}`)).status).toBe(401);
    const today = shanghai(Date.now());
    expect((await problem(await stack.call('POST', `/v1/reconciliations/${today}/runs`, { token: admin }), 422)).type).toMatch(/day-not-over$/);
    expect((await stack.call('GET', '/v1/reconciliations/2026-02-30', { token: admin })).status).toBe(400);
    expect((await stack.call('GET', '/v1/reconciliations?from=2026-01-01', { token: admin })).status).toBe(400);
    expect((await problem(await stack.call('GET', '/v1/reconciliations?from=2026-02-01&to=2026-01-01', { token: admin }), 422)).type).toMatch(/invalid-range$/);
    expect((await stack.call('GET', '/v1/reconciliations/2001-01-01', { token: admin })).status).toBe(404);
    expect((await stack.call('POST', '/v1/sandbox/statement-faults', { token: admin, body: { channel: 'alipay', date: yesterday, kind: 'payment', orderId: 'x', fault: 'alter' } })).status).toBe(400);
    expect((await stack.call('POST', '/v1/sandbox/statement-faults', { token: admin, body: { channel: 'paypal', date: yesterday, kind: 'payment', orderId: 'x', fault: 'drop' } })).status).toBe(400);
  });
});
