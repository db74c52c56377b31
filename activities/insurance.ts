// Medical insurance (医保, issue 13): an order split between the patient's insurance and the patient.
// The gateway is asked what it covers (pre-settlement), then settles that part; the patient pays the
// rest through WeChat Pay or Alipay (the payment webhook then carries the self-paid amount). A refund
// reverses the insured part and refunds the self-paid part (activities/payments.ts `refundOrder`); an
// order that expires with its insured part settled has it reversed through the outbox. Production
// swaps in a provincial insurance gateway's client for `InsuranceGateway`; the sandbox here keeps its
// own books in PostgreSQL, so its statement is what it was told.
import { createHash } from 'node:crypto';
import type { Sql } from './db.js';
import { iso } from './db.js';
import { attemptOutboxRow } from './outbox.js';

/** A line of what an order pays for, as the gateway is asked to cover it (fen). */
export interface CoverageItem {
  kind: string;
  code: string;
  name: string;
  amount: number;
}

export interface PreSettlement {
  preSettlementId: string;
  insured: number;
  items: (CoverageItem & { insured: number })[];
}

/** The gateway's refusal: the patient is not insured, or the order was reversed before it settled. */
export class InsuranceRefused extends Error {
  constructor(
    readonly reason: 'not-insured' | 'reversed',
    message: string,
  ) {
    super(message);
  }
}

/** A medical-insurance gateway as CarePath sees it. Every call is keyed by the order: a retry changes nothing. */
export interface InsuranceGateway {
  /** What insurance covers of the order; throws InsuranceRefused('not-insured'). */
  preSettle(r: { orderId: string; patientId: string; items: CoverageItem[]; total: number }): Promise<PreSettlement>;
  /** Settles the insured part; throws InsuranceRefused('reversed') when the order was reversed first. */
  settle(r: { orderId: string; preSettlementId: string; insured: number }): Promise<{ settlementId: string; settledAt: string }>;
  /**
   * Reverses the order's settlement (none yet: nothing is settled for it afterwards), answering the
   * settlement it reversed, if any (one CarePath may not have recorded, cut short while settling).
   */
  reverse(r: { orderId: string; reason: string }): Promise<{ reversalId: string; reversedAt: string; settled?: { settlementId: string; settledAt: string } }>;
  /** The gateway's lines for the hospital's local day (reconciliation). */
  statement?(day: string, timezone: string): Promise<{ kind: 'payment' | 'refund'; orderId: string; amount: number; at: string }[]>;
}

/**
 * The sandbox gateway's coverage rules: each item covered at its kind's ratio (rounded down to the
 * fen), none for an excluded code; the order's insured part is their sum less the deductible, at most
 * the cap, never below 0. Patients listed as uninsured are refused.
 */
export interface CoverageRules {
  ratios: Record<string, number>;
  excludedCodes: string[];
  deductible: number;
  cap: number;
  uninsuredPatients: string[];
}

export const DEFAULT_COVERAGE_RULES: CoverageRules = {
  ratios: { registration: 0.5, consultation: 0.5, exam: 0.7, drug: 0.8 },
  excludedCodes: [],
  deductible: 0,
  cap: 1_000_000,
  uninsuredPatients: [],
};

/** What the rules cover of the items (whatever the items, never more than `total`). */
export function cover(rules: CoverageRules, items: CoverageItem[], total: number): { insured: number; items: PreSettlement['items'] } {
  const covered = items.map((i) => ({ ...i, insured: rules.excludedCodes.includes(i.code) ? 0 : Math.floor(i.amount * (rules.ratios[i.kind] ?? 0)) }));
  const sum = covered.reduce((n, i) => n + i.insured, 0);
  return { insured: Math.max(0, Math.min(sum - rules.deductible, rules.cap, total)), items: covered };
}

export async function coverageRules(sql: Sql): Promise<CoverageRules> {
  const [row] = await sql<{ rules: CoverageRules }[]>`select rules from sandbox_insurance_rules`;
  return row?.rules ?? DEFAULT_COVERAGE_RULES;
}

export async function setCoverageRules(sql: Sql, rules: CoverageRules): Promise<CoverageRules> {
  await sql`
    insert into sandbox_insurance_rules (id, rules) values (true, ${sql.json(rules as never)})
    on conflict (id) do update set rules = excluded.rules, updated_at = now()`;
  return rules;
}

const reference = (prefix: string, orderId: string) => `${prefix}-${createHash('sha256').update(orderId).digest('hex').slice(0, 16)}`;

/** The sandbox gateway (development and tests): coverage by the stored rules, its books in `sandbox_insurance_ledger`. */
export function sandboxInsuranceGateway(sql: Sql): InsuranceGateway {
  return {
    async preSettle(r) {
      const rules = await coverageRules(sql);
      if (rules.uninsuredPatients.includes(r.patientId)) throw new InsuranceRefused('not-insured', 'the patient has no medical insurance the gateway knows of');
      const { insured, items } = cover(rules, r.items, r.total);
      return { preSettlementId: reference('pre', `${r.orderId}:${insured}`), insured, items };
    },
    async settle(r) {
      return sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtext('sandbox-insurance:' || ${r.orderId}))`;
        const [reversed] = await tx`select 1 from sandbox_insurance_ledger where kind = 'reversal' and order_id = ${r.orderId}`;
        if (reversed) throw new InsuranceRefused('reversed', 'the order was reversed before it settled');
        await tx`
          insert into sandbox_insurance_ledger (kind, order_id, reference, amount)
          values ('settlement', ${r.orderId}, ${reference('set', r.orderId)}, ${r.insured})
          on conflict do nothing`;
        const [row] = await tx<{ reference: string; at: Date }[]>`select reference, at from sandbox_insurance_ledger where kind = 'settlement' and order_id = ${r.orderId}`;
        return { settlementId: row!.reference, settledAt: iso(row!.at)! };
      });
    },
    async reverse(r) {
      return sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtext('sandbox-insurance:' || ${r.orderId}))`;
        // What was settled is paid back; an order reversed before it settled is never settled afterwards.
        await tx`
          insert into sandbox_insurance_ledger (kind, order_id, reference, amount)
          values ('reversal', ${r.orderId}, ${reference('rev', r.orderId)},
                  coalesce((select amount from sandbox_insurance_ledger where kind = 'settlement' and order_id = ${r.orderId}), 0))
          on conflict do nothing`;
        const [row] = await tx<{ reference: string; at: Date }[]>`select reference, at from sandbox_insurance_ledger where kind = 'reversal' and order_id = ${r.orderId}`;
        const [set] = await tx<{ reference: string; at: Date }[]>`select reference, at from sandbox_insurance_ledger where kind = 'settlement' and order_id = ${r.orderId}`;
        return { reversalId: row!.reference, reversedAt: iso(row!.at)!, ...(set ? { settled: { settlementId: set.reference, settledAt: iso(set.at)! } } : {}) };
      });
    },
    async statement(day, timezone) {
      const rows = await sql<{ kind: 'settlement' | 'reversal'; order_id: string; amount: number; at: Date }[]>`
        select kind, order_id, amount, at from sandbox_insurance_ledger
        where amount > 0 and at >= (${day}::date)::timestamp at time zone ${timezone} and at < (${day}::date + 1)::timestamp at time zone ${timezone}
        order by at, order_id`;
      return rows.map((r) => ({ kind: r.kind === 'settlement' ? 'payment' : 'refund', orderId: r.order_id, amount: r.amount, at: iso(r.at)! }));
    },
  };
}

export type SettlementStatus = 'pre-settled' | 'settling' | 'settled' | 'reversed' | 'voided';

export interface InsuranceSettlement {
  orderId: string;
  status: SettlementStatus;
  total: number;
  insured: number;
  self: number;
  items: PreSettlement['items'];
  preSettledAt: string;
  settledAt?: string;
  reversedAt?: string;
  reversalReason?: string;
  /** Whether the insured part counts toward the order's payment (false: the provider took the whole amount, and it was reversed). */
  counted: boolean;
}

interface SettlementRow {
  order_id: string;
  status: SettlementStatus;
  total: number;
  insured: number;
  self: number;
  items: PreSettlement['items'];
  pre_settlement_id: string;
  settlement_id: string | null;
  pre_settled_at: Date;
  settled_at: Date | null;
  reversed_at: Date | null;
  reversal_reason: string | null;
  counted: boolean;
}

const view = (r: SettlementRow): InsuranceSettlement => ({
  orderId: r.order_id,
  status: r.status,
  total: r.total,
  insured: r.insured,
  self: r.self,
  items: r.items,
  preSettledAt: iso(r.pre_settled_at)!,
  ...(r.settled_at ? { settledAt: iso(r.settled_at)! } : {}),
  ...(r.reversed_at ? { reversedAt: iso(r.reversed_at)! } : {}),
  ...(r.reversal_reason ? { reversalReason: r.reversal_reason } : {}),
  counted: r.counted,
});

async function settlementRow(sql: Sql, orderId: string): Promise<SettlementRow | undefined> {
  return (await sql<SettlementRow[]>`select * from insurance_settlements where order_id = ${orderId}`)[0];
}

export async function findSettlement(sql: Sql, orderId: string): Promise<InsuranceSettlement | undefined> {
  const row = await settlementRow(sql, orderId);
  return row && view(row);
}

/** Why an insurance step was refused, for the API to answer with. */
export class SettlementRefused extends Error {
  constructor(
    readonly reason: 'order-not-pending' | 'insurance-settled' | 'not-pre-settled' | 'not-insured' | 'no-items',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Asks the gateway what it covers of a pending order and records the split (again, replacing an
 * earlier pre-settlement, while nothing is settled: the rules may have changed).
 */
export async function preSettle(sql: Sql, gateway: InsuranceGateway, orderId: string, patientId: string): Promise<InsuranceSettlement> {
  const [order] = await sql<{ status: string; amount: number; items: CoverageItem[] | null }[]>`
    select p.status, p.amount, invoice_items(p) as items from payments p where p.order_id = ${orderId}`;
  if (!order || order.status !== 'pending') throw new SettlementRefused('order-not-pending', `the order is ${order?.status ?? 'unknown'}, not pending`);
  const now = await settlementRow(sql, orderId);
  // Voided: the order was paid in full (or claimed for it by the provider's payment) meanwhile.
  if (now?.status === 'voided') throw new SettlementRefused('order-not-pending', 'the order is being paid in full');
  if (now && now.status !== 'pre-settled') throw new SettlementRefused('insurance-settled', `the insured part is ${now.status}`);
  const items = (order.items ?? []).map((i) => ({ kind: i.kind, code: i.code, name: i.name, amount: i.amount }));
  if (items.length === 0) throw new SettlementRefused('no-items', 'the order has nothing insurance could cover');
  let pre: PreSettlement;
  try {
    pre = await gateway.preSettle({ orderId, patientId, items, total: order.amount });
  } catch (err) {
    if (err instanceof InsuranceRefused) throw new SettlementRefused('not-insured', err.message);
    throw err;
  }
  const insured = Math.min(pre.insured, order.amount);
  const [row] = await sql<SettlementRow[]>`
    insert into insurance_settlements (order_id, status, total, insured, self, items, pre_settlement_id)
    values (${orderId}, 'pre-settled', ${order.amount}, ${insured}, ${order.amount - insured}, ${sql.json(pre.items as never)}, ${pre.preSettlementId})
    on conflict (order_id) do update set status = 'pre-settled', total = excluded.total, insured = excluded.insured, self = excluded.self,
      items = excluded.items, pre_settlement_id = excluded.pre_settlement_id, pre_settled_at = now()
    where insurance_settlements.status = 'pre-settled'
    returning *`;
  if (!row) throw new SettlementRefused('order-not-pending', 'the order was paid in full or settled meanwhile');
  return view(row);
}

/**
 * Settles the pre-settled insured part of a pending order through the gateway. Safe to call again: a
 * settlement cut short (`settling`) is asked of the gateway again (keyed by the order), a settled one
 * is answered as it is. Returns the settlement and whether it was settled by this call.
 */
export async function settle(sql: Sql, gateway: InsuranceGateway, orderId: string): Promise<{ settlement: InsuranceSettlement; settledNow: boolean }> {
  // pre-settled -> settling only while the order is pending: the payment webhook voids a pre-settlement
  // it takes the whole amount for (`selfPayDue`), so only one of them wins.
  const [moved] = await sql<SettlementRow[]>`
    update insurance_settlements s set status = 'settling'
    from payments p
    where s.order_id = ${orderId} and p.order_id = s.order_id and s.status = 'pre-settled' and p.status = 'pending'
    returning s.*`;
  const row = moved ?? (await settlementRow(sql, orderId));
  if (!row) throw new SettlementRefused('not-pre-settled', 'ask for the pre-settlement first');
  if (row.status === 'settled') return { settlement: view(row), settledNow: false };
  if (row.status === 'pre-settled') throw new SettlementRefused('order-not-pending', 'the order is no longer pending');
  if (row.status !== 'settling') throw new SettlementRefused(row.status === 'voided' ? 'order-not-pending' : 'insurance-settled', `the insured part is ${row.status}`);
  // A settlement cut short is asked again only while the order is pending: an expired one is reversed.
  if (!moved && (await sql`select 1 from payments where order_id = ${orderId} and status = 'pending'`).length === 0) {
    throw new SettlementRefused('order-not-pending', 'the order is no longer pending');
  }
  let settled: { settlementId: string; settledAt: string };
  try {
    settled = await gateway.settle({ orderId, preSettlementId: row.pre_settlement_id, insured: row.insured });
  } catch (err) {
    if (!(err instanceof InsuranceRefused)) throw err;
    // Reversed first (the order expired while this was settling): nothing is settled.
    await sql`update insurance_settlements set status = 'reversed', reversed_at = coalesce(reversed_at, now()) where order_id = ${orderId} and status = 'settling'`;
    throw new SettlementRefused('order-not-pending', 'the order expired before its insured part settled');
  }
  // Recorded even when the order was reversed meanwhile (it expired): the gateway settled it, and the
  // reversal paid it back; reconciliation sees both.
  // In the same transaction, the payment provider is queued to be told the self-paid part it is now to
  // take (its prepay order was for the whole amount; the dispatcher tells a provider that wants telling).
  const done = (await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    const [r] = await tx<SettlementRow[]>`
      update insurance_settlements set status = case when status = 'settling' then 'settled' else status end,
        settlement_id = ${settled.settlementId}, settled_at = ${settled.settledAt}
      where order_id = ${orderId} and settled_at is null returning *`;
    if (r?.status === 'settled' && r.self > 0) {
      await tx`
        insert into outbox (id, via, kind, order_id) values (${`payment:${orderId}:after-insurance`}, 'dispatcher', 'payment-request', ${orderId})
        on conflict (id) do nothing`;
    }
    return r;
  })) as SettlementRow | undefined;
  const after = done ?? (await settlementRow(sql, orderId))!;
  if (after.status !== 'settled') throw new SettlementRefused('order-not-pending', 'the order expired while its insured part settled: it was reversed');
  return { settlement: view(after), settledNow: done !== undefined };
}

/**
 * The amount the payment webhook must carry for a payment of the order, and what it does to the
 * order's insured part. `reported` is the amount of a payment of a pending or expired order (undefined
 * for a failed one or a repeat):
 * - nothing settled: the whole amount; a payment of it voids a pre-settlement (or claims the order
 *   with a voided row when none was asked for), so insurance can no longer settle an order paid in full;
 * - settled: the self-paid part; a payment of the whole amount after all is taken, and the insured
 *   part reversed as the excess (it no longer counts toward the order);
 * - reversed after it settled (the order expired): the self-paid part the patient was told of, or the
 *   whole amount (the insured part then counts no more: the late refund pays all of it back);
 * - `settling`: the insured part is being settled right now; the provider is to retry.
 */
export async function selfPayDue(sql: Sql, gateway: InsuranceGateway | undefined, orderId: string, total: number, reported?: number): Promise<{ due: number } | 'settling'> {
  for (;;) {
    const row = await settlementRow(sql, orderId);
    if (!row) {
      if (reported !== total || !gateway) return { due: total };
      const [claimed] = await sql`
        insert into insurance_settlements (order_id, status, total, insured, self, items, pre_settlement_id)
        values (${orderId}, 'voided', ${total}, 0, ${total}, '[]', '') on conflict (order_id) do nothing returning order_id`;
      if (claimed) return { due: total };
      continue; // pre-settled meanwhile
    }
    if (row.status === 'voided') return { due: total };
    if (row.status === 'settling') return 'settling';
    if (row.status === 'reversed') {
      if (!row.settled_at || !row.counted || row.self === total) return { due: total };
      if (reported !== total) return { due: row.self };
      // The whole amount paid late for an order whose insured part was reversed: it counts no more.
      await sql`update insurance_settlements set counted = false where order_id = ${orderId} and status = 'reversed'`;
      return { due: total };
    }
    if (row.status === 'settled') {
      // Covered whole (nothing was left for the provider to take), or not the whole amount: the self-paid part.
      if (reported !== total || row.self === 0 || row.self === total || !gateway) return { due: row.self };
      await reverseInsured(sql, gateway, orderId, 'paid-in-full', { uncount: true });
      continue; // reversed now (by this or, first, by an expiry's reversal): the reversed branch uncounts it
    }
    if (reported !== total) return { due: total };
    const [voided] = await sql`update insurance_settlements set status = 'voided' where order_id = ${orderId} and status = 'pre-settled' returning order_id`;
    if (voided) return { due: total };
  }
}

/**
 * Reverses the order's insured part through the gateway, once: a settled one (or one cut short while
 * settling, which the gateway then never settles). `uncount`: it no longer counts toward the order (the
 * provider took the whole amount).
 */
export async function reverseInsured(sql: Sql, gateway: InsuranceGateway, orderId: string, reason: string, o: { uncount?: boolean } = {}): Promise<void> {
  const row = await settlementRow(sql, orderId);
  if (row?.status !== 'settled' && row?.status !== 'settling') return;
  const { reversalId, reversedAt, settled } = await gateway.reverse({ orderId, reason });
  // A settlement cut short (never recorded here) that the gateway had made is recorded with its reversal.
  await sql`
    update insurance_settlements set status = 'reversed', reversal_id = ${reversalId}, reversal_reason = ${reason}, reversed_at = ${reversedAt},
      counted = counted and ${!o.uncount},
      settlement_id = coalesce(settlement_id, ${settled?.settlementId ?? null}), settled_at = coalesce(settled_at, ${settled?.settledAt ?? null}::timestamptz)
    where order_id = ${orderId} and status in ('settled', 'settling')`;
}

/** The part of the order medical insurance paid (db/migrations/021_insurance.sql `insured_part`): 0 when none. */
export async function settledInsured(sql: Sql, orderId: string): Promise<number> {
  const [row] = await sql<{ insured: number }[]>`select insured_part(${orderId}) as insured`;
  return row!.insured;
}

/**
 * In the transaction that moves an order out of pending: a pre-settlement nobody settled is voided, and
 * an insured part settled (or settling) for an order that expired is queued for reversal.
 */
export async function onOrderClosed(tx: Sql, orderId: string, status: 'paid' | 'expired'): Promise<void> {
  await tx`update insurance_settlements set status = 'voided' where order_id = ${orderId} and status = 'pre-settled'`;
  if (status === 'expired') {
    await tx`
      insert into outbox (id, via, kind, order_id)
      select ${`insurance-reversal:${orderId}`}, 'dispatcher', 'insurance-reversal', order_id from insurance_settlements
      where order_id = ${orderId} and status in ('settling', 'settled')
      on conflict (id) do nothing`;
  }
}

/** The dispatcher's side of a queued reversal (an expired order's insured part). */
export async function dispatchReversal(sql: Sql, gateway: InsuranceGateway | undefined, outboxId: string, orderId: string): Promise<'reversed' | 'already-reversed'> {
  const done = await attemptOutboxRow(sql, outboxId, async () => {
    if (!gateway) throw new Error('outbox: no insurance gateway configured to reverse with');
    await reverseInsured(sql, gateway, orderId, 'expired');
  });
  return done ? 'reversed' : 'already-reversed';
}
