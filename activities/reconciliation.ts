// Daily reconciliation (对账): each channel's settlement statement for a day, matched line by line
// against CarePath's payments and refunds of that day. A mismatch becomes one `finance-exception` task,
// keyed by the day and the line it is about, so a re-run that finds it again keeps the same task. The
// channels' statements come through `SettlementChannel`; the sandbox one here builds a statement from
// what the channel was told (the payments it reported, the refunds it made), with the faults it was
// told to plant.
import { createHash } from 'node:crypto';
import type { Sql } from './db.js';
import { iso } from './db.js';
import { whileHeartbeating } from './heartbeat.js';
import { sandboxInsuranceGateway } from './insurance.js';

/** The hospital's time zone when none is configured: the days reconciliation counts in. */
export const DEFAULT_HOSPITAL_TIMEZONE = 'Asia/Shanghai';

export const SETTLEMENT_CHANNELS = ['wechat', 'alipay', 'insurance'] as const;
export type SettlementChannelName = (typeof SETTLEMENT_CHANNELS)[number];

/** One line of a statement, or of CarePath's side: a payment taken or a refund made, in fen. */
export interface SettlementLine {
  kind: 'payment' | 'refund';
  orderId: string;
  amount: number;
  at: string;
}

/** A payment channel's settlement statements. Production swaps in each channel's own client. */
export interface SettlementChannel {
  /** The channel's lines for the hospital's local day `day` (YYYY-MM-DD). */
  statement(channel: SettlementChannelName, day: string): Promise<SettlementLine[]>;
}

export const MISMATCH_TYPES = ['missing-in-statement', 'missing-in-carepath', 'amount-differs', 'duplicate', 'refund-not-settled'] as const;
export type MismatchType = (typeof MISMATCH_TYPES)[number];

export interface Mismatch {
  kind: SettlementLine['kind'];
  orderId: string;
  type: MismatchType;
  /** CarePath's line, when it has one. */
  ours?: { amount: number; at: string };
  /** The statement's lines for the same order and kind (none, one, or the duplicates). */
  theirs: { amount: number; at: string }[];
}

/**
 * Matches a statement against CarePath's lines, by order and kind: one result per order and kind that
 * does not match exactly once with the same amount. Several statement lines for one: `duplicate`;
 * none for a payment: `missing-in-statement`, for a refund: `refund-not-settled`; a statement line
 * CarePath has not: `missing-in-carepath`; one line with another amount: `amount-differs`.
 */
export function matchStatement(ours: SettlementLine[], theirs: SettlementLine[]): { matched: number; mismatches: Mismatch[] } {
  const key = (l: SettlementLine) => `${l.kind}\u0000${l.orderId}`;
  const mine = new Map(ours.map((l) => [key(l), l]));
  const statement = new Map<string, SettlementLine[]>();
  for (const l of theirs) statement.set(key(l), [...(statement.get(key(l)) ?? []), l]);
  const keys = [...new Set([...mine.keys(), ...statement.keys()])].sort();
  let matched = 0;
  const mismatches: Mismatch[] = [];
  for (const k of keys) {
    const o = mine.get(k);
    const t = statement.get(k) ?? [];
    const first = (o ?? t[0])!;
    const base = { kind: first.kind, orderId: first.orderId, ...(o ? { ours: { amount: o.amount, at: o.at } } : {}), theirs: t.map((l) => ({ amount: l.amount, at: l.at })) };
    let type: MismatchType | undefined;
    if (!o) type = 'missing-in-carepath';
    else if (t.length === 0) type = o.kind === 'refund' ? 'refund-not-settled' : 'missing-in-statement';
    else if (t.length > 1) type = 'duplicate';
    else if (t[0]!.amount !== o.amount) type = 'amount-differs';
    if (type) mismatches.push({ ...base, type });
    else matched += 1;
  }
  return { matched, mismatches };
}

/** The local day's bounds in `timezone`, as SQL timestamptz expressions. */
const dayBounds = (sql: Sql, day: string, timezone: string) => ({
  from: sql`(${day}::date)::timestamp at time zone ${timezone}`,
  to: sql`(${day}::date + 1)::timestamp at time zone ${timezone}`,
});

type LineRow = { kind: 'payment' | 'refund'; order_id: string; amount: number; at: Date };
const lines = (rows: LineRow[]): SettlementLine[] => rows.map((r) => ({ kind: r.kind, orderId: r.order_id, amount: r.amount, at: iso(r.at)! }));

/**
 * What the payment provider reported and refunded through `channel` that day: the payments it took
 * (paid then, refunded since or not; of a split order, its self-paid part) and the refunds it made then.
 */
async function providerLines(sql: Sql, channel: SettlementChannelName, day: string, timezone: string): Promise<SettlementLine[]> {
  const { from, to } = dayBounds(sql, day, timezone);
  return lines(await sql<LineRow[]>`
    select 'payment' as kind, p.order_id, p.amount - insured_part(p.order_id) as amount, p.paid_at as at from payments p
    where p.channel = ${channel} and p.status in ('paid', 'refunded') and p.paid_at >= ${from} and p.paid_at < ${to} and p.amount - insured_part(p.order_id) > 0
    union all
    select 'refund', r.order_id, r.amount, r.created_at from refunds r join payments p using (order_id)
    where p.channel = ${channel} and r.created_at >= ${from} and r.created_at < ${to}
    order by at, order_id`);
}

/** The insured parts CarePath settled through the insurance gateway that day, and those it reversed then. */
async function insuredLines(sql: Sql, day: string, timezone: string): Promise<SettlementLine[]> {
  const { from, to } = dayBounds(sql, day, timezone);
  return lines(await sql<LineRow[]>`
    select 'payment' as kind, order_id, insured as amount, settled_at as at from insurance_settlements
    where insured > 0 and settled_at >= ${from} and settled_at < ${to}
    union all
    select 'refund', order_id, insured, reversed_at from insurance_settlements
    where insured > 0 and settled_at is not null and reversed_at >= ${from} and reversed_at < ${to}
    order by at, order_id`);
}

/** CarePath's side of a channel's day: the provider's lines, and for `insurance` the insured parts settled and reversed. */
export async function carepathLines(sql: Sql, channel: SettlementChannelName, day: string, timezone: string): Promise<SettlementLine[]> {
  const provider = await providerLines(sql, channel, day, timezone);
  return channel === 'insurance' ? [...provider, ...(await insuredLines(sql, day, timezone))] : provider;
}

export type StatementFault = 'drop' | 'duplicate' | 'alter' | 'add';

/**
 * The sandbox channels: a day's statement is what the channel was told (the payments reported through
 * the payment webhook and taken, the refunds made through the provider; for `insurance`, also the
 * sandbox insurance gateway's own books of what it settled and reversed), with the faults planted for
 * that day and channel (`plantStatementFault`) applied in the order they were planted.
 */
export function sandboxSettlementChannel(sql: Sql, timezone: string): SettlementChannel {
  const gateway = sandboxInsuranceGateway(sql);
  return {
    async statement(channel, day) {
      let lines = await providerLines(sql, channel, day, timezone);
      if (channel === 'insurance') lines.push(...(await gateway.statement!(day, timezone)));
      const faults = await sql<{ kind: 'payment' | 'refund'; order_id: string; fault: StatementFault; amount: number | null }[]>`
        select kind, order_id, fault, amount from sandbox_statement_faults where channel = ${channel} and day = ${day} order by id`;
      for (const f of faults) {
        const is = (l: SettlementLine) => l.kind === f.kind && l.orderId === f.order_id;
        if (f.fault === 'drop') lines = lines.filter((l) => !is(l));
        if (f.fault === 'duplicate') lines = lines.flatMap((l) => (is(l) ? [l, { ...l }] : [l]));
        if (f.fault === 'alter') lines = lines.map((l) => (is(l) ? { ...l, amount: f.amount ?? l.amount } : l));
        if (f.fault === 'add') lines.push({ kind: f.kind, orderId: f.order_id, amount: f.amount ?? 0, at: `${day}T12:00:00.000Z` });
      }
      return lines;
    },
  };
}

export interface FaultInput {
  channel: SettlementChannelName;
  day: string;
  kind: SettlementLine['kind'];
  orderId: string;
  fault: StatementFault;
  amount?: number;
}

export async function plantStatementFault(sql: Sql, f: FaultInput): Promise<{ id: string }> {
  const [row] = await sql<{ id: bigint }[]>`
    insert into sandbox_statement_faults (channel, day, kind, order_id, fault, amount)
    values (${f.channel}, ${f.day}, ${f.kind}, ${f.orderId}, ${f.fault}, ${f.amount ?? null}) returning id`;
  return { id: String(row!.id) };
}

/** The `finance-exception` task of a day's mismatch: the same id whichever run finds it. */
export function exceptionTaskId(day: string, channel: string, kind: string, orderId: string): string {
  return `finance:${day}:${createHash('sha256').update(`${channel}\u0000${kind}\u0000${orderId}`).digest('hex').slice(0, 24)}`;
}

export interface BeginInput {
  runId: string;
  trigger: 'schedule' | 'admin';
  /** The day to reconcile; a scheduled run reconciles the local day before `scheduledAt`. */
  day?: string;
  scheduledAt?: string;
  requestedBy?: string;
}

export interface Begun {
  runId: string;
  day: string;
  /** A scheduled run of a day that has had its scheduled run already (a catch-up fired twice): nothing to do. */
  skipped: boolean;
  channels: SettlementChannelName[];
}

/** The local date (YYYY-MM-DD) in `timezone` of `at`. */
export const localDate = (at: Date, timezone: string): string =>
  new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);

/** The local date (YYYY-MM-DD) in `timezone` of the day before `at`. */
export function dayBefore(at: string, timezone: string): string {
  const d = new Date(`${localDate(new Date(at), timezone)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

export interface ReconciliationDeps {
  sql: Sql;
  settlement: SettlementChannel;
  timezone: string;
}

/** Reconciliation's activities: each idempotent by its run id. */
export function reconciliationActivities(d: ReconciliationDeps) {
  const { sql } = d;
  const dayOf = async (runId: string): Promise<string> => {
    const [row] = await sql<{ day: string }[]>`select day::text as day from reconciliation_runs where id = ${runId}`;
    if (!row) throw new Error(`reconciliation run ${runId} not found`);
    return row.day;
  };
  return {
    /**
     * Records the run (once). `skipped`: the run has finished already (its workflow started again under
     * the same id, as a Schedule's backfill does), or another scheduled run holds the day.
     */
    async beginReconciliation(b: BeginInput): Promise<Begun> {
      const day = b.day ?? dayBefore(b.scheduledAt ?? new Date().toISOString(), d.timezone);
      const begun = (found: { day: string; status: string } | undefined): Begun | undefined =>
        found ? { runId: b.runId, day: found.day, skipped: found.status === 'done', channels: [...SETTLEMENT_CHANNELS] } : undefined;
      const mine = async () => (await sql<{ day: string; status: string }[]>`select day::text as day, status from reconciliation_runs where id = ${b.runId}`)[0];
      const before = begun(await mine());
      if (before) return before;
      await sql`
        insert into reconciliation_runs (id, day, trigger, requested_by, status)
        values (${b.runId}, ${day}, ${b.trigger}, ${b.requestedBy ?? null}, 'running')
        on conflict do nothing`;
      // Inserted now, or by an attempt of this activity that overlapped this one: this run goes on.
      return begun(await mine()) ?? { runId: b.runId, day, skipped: true, channels: [...SETTLEMENT_CHANNELS] };
    },

    /** Fetches the channel's statement through its adapter and stores it as the run's lines (a retry replaces them). Returns the line count. */
    async fetchStatement(r: { runId: string; channel: SettlementChannelName }): Promise<number> {
      const day = await dayOf(r.runId);
      // A partner call: heartbeats while the channel answers (PARTNER_CALL's heartbeat timeout).
      const lines = await whileHeartbeating(() => d.settlement.statement(r.channel, day));
      await sql.begin(async (tx) => {
        await tx`delete from settlement_lines where run_id = ${r.runId} and channel = ${r.channel}`;
        if (lines.length === 0) return;
        const rows = lines.map((l, i) => ({ run_id: r.runId, channel: r.channel, line: i + 1, kind: l.kind, order_id: l.orderId, amount: l.amount, at: l.at }));
        await tx`insert into settlement_lines ${tx(rows)}`;
      });
      return lines.length;
    },

    /**
     * Matches the stored statement against CarePath's side, then, in one transaction, records the
     * mismatches, opens each one's task (kept as it is when a run before opened it) and the channel's
     * counts. Returns the counts.
     */
    async reconcileChannel(r: { runId: string; channel: SettlementChannelName }): Promise<{ ours: number; theirs: number; matched: number; mismatched: number }> {
      const day = await dayOf(r.runId);
      const ours = await carepathLines(sql, r.channel, day, d.timezone);
      const stored = await sql<{ kind: 'payment' | 'refund'; order_id: string; amount: number; at: Date }[]>`
        select kind, order_id, amount, at from settlement_lines where run_id = ${r.runId} and channel = ${r.channel} order by line`;
      const theirs = stored.map((l) => ({ kind: l.kind, orderId: l.order_id, amount: l.amount, at: iso(l.at)! }));
      const { matched, mismatches } = matchStatement(ours, theirs);
      const counts = { ours: ours.length, theirs: theirs.length, matched, mismatched: mismatches.length };
      const rows = mismatches.map((m) => ({
        task_id: exceptionTaskId(day, r.channel, m.kind, m.orderId),
        kind: m.kind,
        order_id: m.orderId,
        type: m.type,
        ours: m.ours ?? null,
        theirs: m.theirs,
        action: `Reconcile ${r.channel} ${m.kind} of order ${m.orderId}: ${m.type}`,
      }));
      await sql.begin(async (tx) => {
        // A retry (or the run's workflow started again) records this channel's mismatches afresh.
        await tx`delete from reconciliation_mismatches where run_id = ${r.runId} and channel = ${r.channel}`;
        if (rows.length > 0) {
          const set = tx.json(rows as never);
          await tx`
            insert into reconciliation_mismatches (run_id, task_id, channel, kind, order_id, type, ours, theirs)
            select ${r.runId}, x.task_id, ${r.channel}, x.kind, x.order_id, x.type, x.ours, x.theirs
            from jsonb_to_recordset(${set}) as x(task_id text, kind text, order_id text, type text, ours jsonb, theirs jsonb)`;
          // One task per mismatch of the day: kept open by every run that finds it, reopened when a run
          // finds again what an earlier one no longer found.
          await tx`
            insert into tasks (id, kind, role, status, subject_type, subject_id, action, due_at)
            select x.task_id, 'finance-exception', 'admin', 'open', 'reconciliation', ${day}, x.action, now() + interval '1 day'
            from jsonb_to_recordset(${set}) as x(task_id text, action text)
            -- a run that a later run of the day began after is not the day's result: it opens nothing
            where not exists (
              select 1 from reconciliation_runs later
              where later.day = ${day}::date and later.seq > (select seq from reconciliation_runs where id = ${r.runId}))
            on conflict (id) do update set status = 'open', action = excluded.action, closed_at = null, closed_by = null, note = null
              where tasks.status = 'cancelled'`;
        }
        await tx`update reconciliation_runs set summary = summary || ${tx.json({ [r.channel]: counts })} where id = ${r.runId}`;
      });
      return counts;
    },

    /**
     * Ends the run. The day's result is its latest-begun finished run; so only a run that no later run
     * of the day began after cancels the tasks of the day it did not find again (the mismatch was
     * corrected before the re-run), noting the run. A run that finishes after a later-begun one changes
     * no task and is not the result.
     */
    async finishReconciliation(r: { runId: string }): Promise<void> {
      const day = await dayOf(r.runId);
      await sql.begin(async (tx) => {
        // The day's runs finish one at a time.
        await tx`select pg_advisory_xact_lock(hashtext(${`reconciliation:${day}`}))`;
        await tx`update reconciliation_runs set status = 'done', finished_at = coalesce(finished_at, now()) where id = ${r.runId}`;
        await tx`
          update tasks set status = 'cancelled', closed_at = now(), closed_by = 'system', note = ${`not found again by run ${r.runId}`}
          where kind = 'finance-exception' and subject_type = 'reconciliation' and subject_id = ${day} and status = 'open'
            and id not in (select task_id from reconciliation_mismatches where run_id = ${r.runId})
            and not exists (
              select 1 from reconciliation_runs later
              where later.day = ${day}::date and later.seq > (select seq from reconciliation_runs where id = ${r.runId}))`;
      });
    },
  };
}

// ---- reads ------------------------------------------------------------------------------------

export interface ReconciliationRunView {
  id: string;
  trigger: 'schedule' | 'admin';
  status: 'running' | 'done';
  requestedBy?: string;
  startedAt: string;
  finishedAt?: string;
  /** Per channel: lines on each side, matched and mismatched. */
  channels: Record<string, { ours: number; theirs: number; matched: number; mismatched: number }>;
}

export interface MismatchView {
  taskId: string;
  /** The exception's task: open until finance resolves it (done), or cancelled when a later run no longer found it. */
  taskStatus: 'open' | 'done' | 'cancelled';
  channel: string;
  kind: SettlementLine['kind'];
  orderId: string;
  type: MismatchType;
  ours: { amount: number; at: string } | null;
  theirs: { amount: number; at: string }[];
}

export interface ReconciliationDayView {
  date: string;
  /** `closed`: the result has no open exception; `open`: it has; `running`: no run has finished yet. */
  status: 'running' | 'open' | 'closed';
  /** The day's result: its latest finished run. */
  result?: ReconciliationRunView & { mismatches: MismatchView[] };
  /** Every run of the day, newest first (the result among them). */
  runs: ReconciliationRunView[];
}

interface RunRow {
  id: string;
  day: string;
  trigger: 'schedule' | 'admin';
  status: 'running' | 'done';
  requested_by: string | null;
  started_at: Date;
  finished_at: Date | null;
  summary: ReconciliationRunView['channels'];
}

const runView = (r: RunRow): ReconciliationRunView => ({
  id: r.id,
  trigger: r.trigger,
  status: r.status,
  ...(r.requested_by ? { requestedBy: r.requested_by } : {}),
  startedAt: iso(r.started_at)!,
  ...(r.finished_at ? { finishedAt: iso(r.finished_at)! } : {}),
  channels: r.summary,
});

/** The days of [from, to] that have a run, newest first, each with its result's counts. */
export async function listReconciliationDays(sql: Sql, f: { from: string; to: string }): Promise<(Omit<ReconciliationDayView, 'runs' | 'result'> & { result?: ReconciliationRunView; openExceptions: number; exceptions: number })[]> {
  const rows = await sql<(RunRow & { open_exceptions: number; exceptions: number })[]>`
    select distinct on (r.day) r.id, r.day::text as day, r.trigger, r.status, r.requested_by, r.started_at, r.finished_at, r.summary,
      (select count(*)::int from reconciliation_mismatches m join tasks t on t.id = m.task_id where m.run_id = r.id and t.status = 'open') as open_exceptions,
      (select count(*)::int from reconciliation_mismatches m where m.run_id = r.id) as exceptions
    from reconciliation_runs r
    where r.day between ${f.from}::date and ${f.to}::date
    order by r.day desc, (r.status = 'done') desc, r.seq desc`;
  return rows.map((r) => ({
    date: r.day,
    status: r.status !== 'done' ? 'running' : r.open_exceptions > 0 ? 'open' : 'closed',
    ...(r.status === 'done' ? { result: runView(r) } : {}),
    openExceptions: r.open_exceptions,
    exceptions: r.exceptions,
  }));
}

/** Whether a run of the day has begun and not finished. */
export async function reconciliationRunning(sql: Sql, day: string): Promise<boolean> {
  return (await sql`select 1 from reconciliation_runs where day = ${day}::date and status = 'running' limit 1`).length > 0;
}

export async function getReconciliationDay(sql: Sql, day: string): Promise<ReconciliationDayView | undefined> {
  const runs = await sql<RunRow[]>`
    select id, day::text as day, trigger, status, requested_by, started_at, finished_at, summary from reconciliation_runs
    where day = ${day}::date order by seq desc`;
  if (runs.length === 0) return undefined;
  // The result: the latest-begun finished run.
  const current = runs.find((r) => r.status === 'done');
  let result: ReconciliationDayView['result'];
  if (current) {
    const ms = await sql<{ task_id: string; task_status: MismatchView['taskStatus']; channel: string; kind: MismatchView['kind']; order_id: string; type: MismatchType; ours: MismatchView['ours']; theirs: MismatchView['theirs'] }[]>`
      select m.task_id, t.status as task_status, m.channel, m.kind, m.order_id, m.type, m.ours, m.theirs
      from reconciliation_mismatches m join tasks t on t.id = m.task_id
      where m.run_id = ${current.id} order by m.channel, m.kind, m.order_id`;
    result = {
      ...runView(current),
      mismatches: ms.map((m) => ({ taskId: m.task_id, taskStatus: m.task_status, channel: m.channel, kind: m.kind, orderId: m.order_id, type: m.type, ours: m.ours, theirs: m.theirs })),
    };
  }
  const status = !result ? 'running' : result.mismatches.some((m) => m.taskStatus === 'open') ? 'open' : 'closed';
  return { date: day, status, ...(result ? { result } : {}), runs: runs.map(runView) };
}
