// The daily reconciliation on the time-skipping server, with its real activities on PostgreSQL and the
// sandbox channels: a simulated week of payments and refunds on three channels, one run a day at 06:00
// (Asia/Shanghai) for the day before, every kind of mismatch planted, a day whose run came late (the
// system was down at 06:00) and was fired twice, and a day re-run after a correction.
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dayBefore,
  exceptionTaskId,
  getReconciliationDay,
  matchStatement,
  plantStatementFault,
  reconciliationActivities,
  sandboxSettlementChannel,
  type SettlementLine,
} from '../activities/reconciliation.js';
import { RECONCILIATION_WORKFLOW, SCHEDULED_RECONCILIATION_ID, type ReconciliationInput, type ReconciliationResult } from '../workflows/definitions.js';
import { testDb, type TestDb } from './support/db.js';
import { DATA_CONVERTER, timeSkippingEnv, workflowBundle } from './support/temporal.js';

const TZ = 'Asia/Shanghai';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('matchStatement', () => {
  const line = (kind: SettlementLine['kind'], orderId: string, amount: number): SettlementLine => ({ kind, orderId, amount, at: '2026-11-01T02:00:00.000Z' });
  it('matches equal lines and names each other case once per order and kind', () => {
    const ours = [line('payment', 'a', 100), line('payment', 'b', 200), line('payment', 'c', 300), line('payment', 'd', 400), line('refund', 'a', 100), line('refund', 'e', 50)];
    const theirs = [line('payment', 'a', 100), line('payment', 'b', 250), line('payment', 'd', 400), line('payment', 'd', 400), line('payment', 'x', 70), line('refund', 'a', 100)];
    const { matched, mismatches } = matchStatement(ours, theirs);
    expect(matched).toBe(2);
    expect(mismatches.map((m) => [m.kind, m.orderId, m.type, m.ours?.amount ?? null, m.theirs.map((t) => t.amount)])).toEqual([
      ['payment', 'b', 'amount-differs', 200, [250]],
      ['payment', 'c', 'missing-in-statement', 300, []],
      ['payment', 'd', 'duplicate', 400, [400, 400]],
      ['payment', 'x', 'missing-in-carepath', null, [70]],
      ['refund', 'e', 'refund-not-settled', 50, []],
    ]);
  });
  it('finds nothing to say about two empty sides', () => {
    expect(matchStatement([], [])).toEqual({ matched: 0, mismatches: [] });
  });
});

describe('dayBefore', () => {
  it("is the hospital's local day before the time given", () => {
    // 2026-11-30 06:00 in Shanghai is 2026-11-29 22:00 UTC.
    expect(dayBefore('2026-11-29T22:00:00.000Z', TZ)).toBe('2026-11-29');
    expect(dayBefore('2026-11-29T15:59:00.000Z', TZ)).toBe('2026-11-28');
    expect(dayBefore('2026-03-01T01:00:00.000Z', TZ)).toBe('2026-02-28');
    expect(dayBefore('2026-11-29T22:00:00.000Z', 'UTC')).toBe('2026-11-28');
  });
});

describe('dailyReconciliation over a simulated week', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDb;
  beforeAll(async () => {
    env = await timeSkippingEnv({ dataConverter: DATA_CONVERTER });
    db = await testDb();
  });
  afterAll(async () => {
    await env?.teardown();
    await db?.drop();
  });

  /** The local date (YYYY-MM-DD, Shanghai) of `ms`. */
  const localDate = (ms: number) => new Date(ms + 8 * HOUR).toISOString().slice(0, 10);
  /** `day` at `hour`:00 Shanghai, as an instant. */
  const at = (day: string, hour: number) => Date.parse(`${day}T00:00:00.000Z`) - 8 * HOUR + hour * HOUR;

  async function pay(orderId: string, amount: number, channel: string, paidAt: number, status = 'paid'): Promise<void> {
    await db.sql`
      insert into payments (order_id, journey_id, subject_type, subject_id, amount, status, due_by, paid_at, channel)
      values (${orderId}, null, 'journey', ${`j-${orderId}`}, ${amount}, ${status}, ${new Date(paidAt)}, ${new Date(paidAt)}, ${channel})`;
  }
  async function refund(orderId: string, amount: number, at: number): Promise<void> {
    await db.sql`insert into refunds (order_id, amount, reason, created_at) values (${orderId}, ${amount}, 'cancelled', ${new Date(at)})`;
  }

  it('runs each day once, turns each planted mismatch into one task, runs a late day once, and re-runs a corrected day', async () => {
    const taskQueue = `reconcile-${randomUUID()}`;
    // A plain client: the test environment's own would let the clock run free while it awaits a
    // result, and the server would skip to its next deadline (years ahead). Time moves by env.sleep only.
    const client = new Client({ connection: env.connection, dataConverter: DATA_CONVERTER });
    const newWorker = async () =>
      Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities: reconciliationActivities({ sql: db.sql, timezone: TZ, settlement: sandboxSettlementChannel(db.sql, TZ) }),
        dataConverter: DATA_CONVERTER,
      });
    // The week: the seven local days that start tomorrow (the server's clock begins now).
    const start = await env.currentTimeMs();
    const days = Array.from({ length: 7 }, (_, i) => localDate(start + (i + 1) * DAY));
    // Every day: a WeChat and an Alipay payment that match, paid at 10:00.
    for (const [i, d] of days.entries()) {
      await pay(`wx-${i}`, 1500, 'wechat', at(d, 10));
      await pay(`ali-${i}`, 2000, 'alipay', at(d, 10));
    }
    // Day 1: an insurance payment refunded the same day (both match); a WeChat line the channel repeats.
    await pay('ins-1', 8000, 'insurance', at(days[1]!, 9), 'refunded');
    await refund('ins-1', 8000, at(days[1]!, 15));
    await plantStatementFault(db.sql, { channel: 'wechat', day: days[1]!, kind: 'payment', orderId: 'wx-1', fault: 'duplicate' });
    // Day 2: Alipay shows another amount; the channel has a line CarePath never took.
    await plantStatementFault(db.sql, { channel: 'alipay', day: days[2]!, kind: 'payment', orderId: 'ali-2', fault: 'alter', amount: 2100 });
    await plantStatementFault(db.sql, { channel: 'alipay', day: days[2]!, kind: 'payment', orderId: 'ghost-2', fault: 'add', amount: 999 });
    // Day 3 (the day whose run comes late): WeChat leaves a payment out.
    await plantStatementFault(db.sql, { channel: 'wechat', day: days[3]!, kind: 'payment', orderId: 'wx-3', fault: 'drop' });
    // Day 4: a refund the channel has not settled.
    await pay('wx-r4', 1500, 'wechat', at(days[4]!, 8), 'refunded');
    await refund('wx-r4', 1500, at(days[4]!, 11));
    await plantStatementFault(db.sql, { channel: 'wechat', day: days[4]!, kind: 'refund', orderId: 'wx-r4', fault: 'drop' });

    const scheduled = async (): Promise<ReconciliationResult> => {
      // As the Schedule starts it: a new workflow id each time (the server appends the time).
      const input: ReconciliationInput = { trigger: 'schedule' };
      return client.workflow.execute(RECONCILIATION_WORKFLOW, { taskQueue, workflowId: `${SCHEDULED_RECONCILIATION_ID}-${randomUUID()}`, args: [input] });
    };
    const results: ReconciliationResult[] = [];
    await (await newWorker()).runUntil(async () => {
      for (const [i, d] of days.entries()) {
        // The next day's 06:00, or for day 3 09:00: the system was down at 06:00 and the run caught up.
        const next = localDate(at(d, 12) + DAY);
        const when = at(next, i === 3 ? 9 : 6);
        await env.sleep(when - (await env.currentTimeMs()));
        results.push(await scheduled());
        // Day 3's catch-up fired twice (an outage spanning two fires of the Schedule): the second does nothing.
        if (i === 3) results.push(await scheduled());
      }
    });

    expect(results.map((r) => [r.day, r.skipped, r.mismatched])).toEqual([
      [days[0], false, 0],
      [days[1], false, 1],
      [days[2], false, 2],
      [days[3], false, 1],
      [days[3], true, 0],
      [days[4], false, 1],
      [days[5], false, 0],
      [days[6], false, 0],
    ]);
    const runs = await db.sql<{ day: string; n: number }[]>`select day::text as day, count(*)::int as n from reconciliation_runs group by day order by day`;
    expect(runs).toEqual(days.map((d) => ({ day: d, n: 1 })));

    // Each mismatch is one open task, with both sides shown.
    const tasks = await db.sql<{ id: string; subject_id: string; status: string; role: string }[]>`select id, subject_id, status, role from tasks where kind = 'finance-exception' order by subject_id, id`;
    expect(tasks).toHaveLength(5);
    expect(tasks.every((t) => t.status === 'open' && t.role === 'admin')).toBe(true);
    const day = async (i: number) => (await getReconciliationDay(db.sql, days[i]!))!;
    expect((await day(0)).status).toBe('closed');
    const d1 = await day(1);
    expect(d1.status).toBe('open');
    expect(d1.result!.channels).toEqual({
      wechat: { ours: 1, theirs: 2, matched: 0, mismatched: 1 },
      alipay: { ours: 1, theirs: 1, matched: 1, mismatched: 0 },
      insurance: { ours: 2, theirs: 2, matched: 2, mismatched: 0 },
    });
    expect(d1.result!.mismatches).toEqual([
      {
        taskId: exceptionTaskId(days[1]!, 'wechat', 'payment', 'wx-1'),
        taskStatus: 'open',
        channel: 'wechat',
        kind: 'payment',
        orderId: 'wx-1',
        type: 'duplicate',
        ours: { amount: 1500, at: new Date(at(days[1]!, 10)).toISOString() },
        theirs: [
          { amount: 1500, at: new Date(at(days[1]!, 10)).toISOString() },
          { amount: 1500, at: new Date(at(days[1]!, 10)).toISOString() },
        ],
      },
    ]);
    expect((await day(2)).result!.mismatches.map((m) => [m.orderId, m.type, m.ours?.amount ?? null, m.theirs.map((t) => t.amount)])).toEqual([
      ['ali-2', 'amount-differs', 2000, [2100]],
      ['ghost-2', 'missing-in-carepath', null, [999]],
    ]);
    expect((await day(3)).result!.mismatches.map((m) => [m.orderId, m.type])).toEqual([['wx-3', 'missing-in-statement']]);
    expect((await day(4)).result!.mismatches.map((m) => [m.kind, m.orderId, m.type, m.ours?.amount])).toEqual([['refund', 'wx-r4', 'refund-not-settled', 1500]]);

    // Day 2 is corrected at the channel (the altered line withdrawn) and re-run by an admin: the run
    // replaces the result, the first is kept; the ghost line is found again and keeps its task; the
    // corrected one's task is cancelled.
    await db.sql`delete from sandbox_statement_faults where day = ${days[2]!} and order_id = 'ali-2'`;
    const rerun = await (await newWorker()).runUntil(
      client.workflow.execute(RECONCILIATION_WORKFLOW, {
        taskQueue,
        workflowId: `reconciliation:${days[2]!}`,
        args: [{ trigger: 'admin', day: days[2]!, requestedBy: 'admin:finance-1', runId: `reconciliation:${days[2]!}:rerun` } satisfies ReconciliationInput],
      }),
    );
    expect(rerun).toEqual({ runId: `reconciliation:${days[2]!}:rerun`, day: days[2], skipped: false, mismatched: 1 });
    const d2 = await day(2);
    expect(d2.runs.map((r) => [r.trigger, r.status])).toEqual([
      ['admin', 'done'],
      ['schedule', 'done'],
    ]);
    expect(d2.result!.id).toBe(`reconciliation:${days[2]!}:rerun`);
    expect(d2.result!.requestedBy).toBe('admin:finance-1');
    expect(d2.result!.mismatches.map((m) => [m.orderId, m.type, m.taskStatus])).toEqual([['ghost-2', 'missing-in-carepath', 'open']]);
    const [corrected] = await db.sql<{ status: string; note: string }[]>`select status, note from tasks where id = ${exceptionTaskId(days[2]!, 'alipay', 'payment', 'ali-2')}`;
    expect(corrected).toEqual({ status: 'cancelled', note: `not found again by run reconciliation:${days[2]!}:rerun` });
    expect(await db.sql`select 1 from tasks where kind = 'finance-exception' and subject_id = ${days[2]!}`).toHaveLength(2);
  }, 120_000);
});

describe('reconciliation runs of one day, at the activities', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await testDb();
  });
  afterAll(async () => {
    await db?.drop();
  });
  const day = '2026-10-10';
  const a = () => reconciliationActivities({ sql: db.sql, timezone: TZ, settlement: sandboxSettlementChannel(db.sql, TZ) });
  const run = async (runId: string, trigger: 'schedule' | 'admin' = 'admin') => {
    const acts = a();
    const begun = await acts.beginReconciliation({ runId, trigger, day });
    if (begun.skipped) return begun;
    for (const channel of begun.channels) {
      await acts.fetchStatement({ runId, channel });
      await acts.reconcileChannel({ runId, channel });
    }
    await acts.finishReconciliation({ runId });
    return begun;
  };
  const ghost = (orderId: string) => plantStatementFault(db.sql, { channel: 'wechat', day, kind: 'payment', orderId, fault: 'add', amount: 100 });
  const taskStatus = async (orderId: string) =>
    (await db.sql<{ status: string }[]>`select status from tasks where id = ${exceptionTaskId(day, 'wechat', 'payment', orderId)}`)[0]?.status;

  it('skips a finished run started again under its id, and records a retried channel once', async () => {
    await ghost('g-1');
    expect((await run('r-1', 'schedule')).skipped).toBe(false);
    expect((await run('r-1', 'schedule')).skipped).toBe(true);
    // Another scheduled run of the day (the Schedule firing again for it): skipped, nothing recorded.
    expect((await run('r-1b', 'schedule')).skipped).toBe(true);
    expect(await db.sql`select id from reconciliation_runs where day = ${day}`).toHaveLength(1);
    // A channel reconciled twice (a retry after its transaction committed) keeps one row per mismatch.
    await a().reconcileChannel({ runId: 'r-1', channel: 'wechat' });
    expect(await db.sql`select 1 from reconciliation_mismatches where run_id = 'r-1'`).toHaveLength(1);
  });

  it('reopens the task of a mismatch that a later run finds again after one did not', async () => {
    await db.sql`delete from sandbox_statement_faults where order_id = 'g-1'`;
    await run('r-2');
    expect(await taskStatus('g-1')).toBe('cancelled');
    await ghost('g-1');
    await run('r-3');
    expect(await taskStatus('g-1')).toBe('open');
    expect((await getReconciliationDay(db.sql, day))!.result!.mismatches.map((m) => [m.orderId, m.taskStatus])).toEqual([['g-1', 'open']]);
  });

  it('keeps the latest-begun run as the result when an earlier one finishes after it; the earlier one changes no task', async () => {
    // Run A begins, fetches the statement with g-2 in it, and is held; B begins after it, with g-2
    // corrected and g-3 new, and finishes; then A finishes.
    await ghost('g-2');
    const acts = a();
    await acts.beginReconciliation({ runId: 'r-a', trigger: 'admin', day });
    for (const channel of ['wechat', 'alipay', 'insurance'] as const) await acts.fetchStatement({ runId: 'r-a', channel });
    await db.sql`delete from sandbox_statement_faults where order_id = 'g-2'`;
    await ghost('g-3');
    await run('r-b');
    for (const channel of ['wechat', 'alipay', 'insurance'] as const) await acts.reconcileChannel({ runId: 'r-a', channel });
    await acts.finishReconciliation({ runId: 'r-a' });
    const d = (await getReconciliationDay(db.sql, day))!;
    expect(d.result!.id).toBe('r-b');
    expect(d.result!.mismatches.map((m) => [m.orderId, m.taskStatus])).toEqual([
      ['g-1', 'open'],
      ['g-3', 'open'],
    ]);
    // A found g-2, but opened no task for it, and cancelled nothing of B's.
    expect(await taskStatus('g-2')).toBeUndefined();
    expect(await taskStatus('g-3')).toBe('open');
  });
});
