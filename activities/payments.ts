// Payment orders and the payment provider adapter. The provider's refund is keyed by order id, so a
// retried refund never pays back twice.
import {
  consultationWorkflowId,
  examWorkflowId,
  journeyWorkflowId,
  prescriptionWorkflowId,
  type JourneySnapshot,
  type LatePaymentInput,
  type NotificationRequest,
  type Payment,
  type PaymentReceived,
  type PaymentStatus,
} from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import type { ActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';
import { appendItemEvent } from './items.js';
import { findSettlement, onOrderClosed, reverseInsured, settledInsured, type InsuranceGateway, type InsuranceSettlement } from './insurance.js';
import { writeTransition } from './journeys.js';
import { attemptOutboxRow } from './outbox.js';

/** The payment provider as CarePath sees it. Production swaps in the real channel's client. */
export interface PaymentProvider {
  /** Refunds `amount` of the order; calling it again for the same order changes nothing. */
  refund(r: { orderId: string; amount: number; reason: string }): Promise<void>;
  /** Told of each order the patient is asked to pay (a real channel creates its prepay order here). */
  requested?(o: { orderId: string; amount: number; dueBy: string }): Promise<void>;
}

/** Records refunds in the `refunds` ledger: the reference adapter for development and tests. */
export function ledgerPaymentProvider(sql: Sql): PaymentProvider {
  return {
    async refund(r) {
      await sql`
        insert into refunds (order_id, amount, reason) values (${r.orderId}, ${r.amount}, ${r.reason})
        on conflict (order_id) do nothing`;
    },
  };
}

/** What an order pays for: a journey's registration (the default), a prescription or an exam. */
export interface OrderSubject {
  type: 'journey' | 'prescription' | 'exam' | 'consultation';
  id: string;
}

export interface PaymentOrder {
  orderId: string;
  /** None for an online consultation's fee. */
  journeyId: string | null;
  /** The workflow that waits for this payment is the subject's (journey, prescription, exam or consultation). */
  subject: OrderSubject;
  amount: number;
  currency: 'CNY';
  status: PaymentStatus;
  dueBy: string;
  paidAt?: string;
  channel?: PaymentReceived['channel'];
}

export async function requestPayment(
  sql: Sql,
  r: { orderId: string; journeyId: string; amount: number; dueBy: string; subject?: OrderSubject } | { orderId: string; journeyId: null; amount: number; dueBy: string; subject: OrderSubject },
): Promise<void> {
  const subject = r.subject ?? { type: 'journey', id: r.journeyId! };
  await sql`
    insert into payments (order_id, journey_id, amount, status, due_by, subject_type, subject_id)
    values (${r.orderId}, ${r.journeyId}, ${r.amount}, 'pending', ${r.dueBy}, ${subject.type}, ${subject.id})
    on conflict (order_id) do nothing`;
}

export async function markPayment(
  sql: Sql,
  r: { orderId: string; status: PaymentStatus; paidAt?: string; channel?: string },
): Promise<void> {
  // An order moves on only from pending: a refunded one is never marked expired or paid again.
  const [moved] = await sql`
    update payments set status = ${r.status},
      paid_at = coalesce(${r.paidAt ?? null}::timestamptz, paid_at), channel = coalesce(${r.channel ?? null}, channel)
    where order_id = ${r.orderId} and status = 'pending' returning order_id`;
  // In the same transaction: its medical-insurance part voided or queued for reversal (activities/insurance.ts).
  // Also when the order had moved already: a retried activity whose first attempt was cut short between
  // the two (outside a transaction) still does it; it is idempotent.
  if (r.status !== 'paid' && r.status !== 'expired') return;
  if (moved || (await sql`select 1 from payments where order_id = ${r.orderId} and status = ${r.status}`).length > 0) await onOrderClosed(sql, r.orderId, r.status);
}

/**
 * Stores the order inside the caller's transaction (a journey's seat, `journey-order-with-seat`) and,
 * when the provider wants telling (`tell`), queues it for the outbox dispatcher, which tells it once
 * the transaction has committed (`tellPaymentProvider`). Idempotent by order id.
 */
export async function storeOrder(tx: Sql, r: Parameters<typeof requestPayment>[1], tell: boolean): Promise<void> {
  await requestPayment(tx, r);
  if (tell) {
    await tx`
      insert into outbox (id, via, kind, order_id) values (${`payment:${r.orderId}`}, 'dispatcher', 'payment-request', ${r.orderId})
      on conflict (id) do nothing`;
  }
}

/** Tells the provider of a queued order, unless it was told already; throws (to be tried again) when the provider fails. */
export async function tellPaymentProvider(sql: Sql, provider: PaymentProvider | undefined, outboxId: string, orderId: string): Promise<'told' | 'already-told'> {
  const told = await attemptOutboxRow(sql, outboxId, async () => {
    const order = await findOrder(sql, orderId);
    if (!order) throw new Error(`outbox: no order ${orderId}`);
    // What the provider is to take: the self-paid part once medical insurance has settled its part.
    const amount = order.amount - (await settledInsured(sql, orderId));
    const afterInsurance = outboxId.endsWith(':after-insurance');
    // After insurance settled, there is nothing to tell a provider that is not told of orders, nor of an
    // order no longer pending or left with nothing to pay.
    if (afterInsurance && (!provider?.requested || order.status !== 'pending' || amount === 0)) return;
    if (!provider?.requested) throw new Error('outbox: no payment provider configured to tell');
    await provider.requested({ orderId, amount, dueBy: order.dueBy });
  });
  return told ? 'told' : 'already-told';
}

export async function findOrder(sql: Sql, orderId: string): Promise<PaymentOrder | undefined> {
  const [row] = await sql<
    {
      order_id: string;
      journey_id: string | null;
      subject_type: OrderSubject['type'];
      subject_id: string;
      amount: number;
      status: PaymentStatus;
      due_by: Date;
      paid_at: Date | null;
      channel: PaymentReceived['channel'] | null;
    }[]
  >`
    select order_id, journey_id, subject_type, subject_id, amount, status, due_by, paid_at, channel from payments where order_id = ${orderId}`;
  if (!row) return undefined;
  return {
    orderId: row.order_id,
    journeyId: row.journey_id,
    subject: { type: row.subject_type, id: row.subject_id },
    amount: row.amount,
    currency: 'CNY',
    status: row.status,
    dueBy: iso(row.due_by)!,
    ...(row.paid_at ? { paidAt: iso(row.paid_at)! } : {}),
    ...(row.channel ? { channel: row.channel } : {}),
  };
}

/** What the provider reported of a late payment (absent in workflows started before it was passed on). */
export type LatePaid = Partial<Pick<PaymentReceived, 'paidAt' | 'channel'>>;

/** The order refunded, keeping when and how it was paid: the values recorded when it was taken, else the late payment's. */
async function markRefunded(tx: Sql, orderId: string, paid: LatePaid): Promise<void> {
  await tx`
    update payments set status = 'refunded',
      paid_at = coalesce(paid_at, ${paid.paidAt ?? null}::timestamptz), channel = coalesce(channel, ${paid.channel ?? null})
    where order_id = ${orderId}`;
}

/**
 * Pays an order of `amount` back: its medical-insurance part (when one was settled) reversed through
 * the insurance gateway, the rest refunded through the provider. Each is keyed by the order: a retry
 * pays back nothing twice.
 */
async function payBack(sql: Sql, provider: PaymentProvider, insurance: InsuranceGateway | undefined, r: { orderId: string; amount: number; reason: string }): Promise<void> {
  const insured = await settledInsured(sql, r.orderId);
  if (insured > 0) {
    if (!insurance) throw new Error(`order ${r.orderId} has an insured part and no insurance gateway is configured to reverse it`);
    await reverseInsured(sql, insurance, r.orderId, r.reason);
  }
  if (r.amount - insured > 0) await provider.refund({ orderId: r.orderId, amount: r.amount - insured, reason: r.reason });
}

/** Refunds an order (both parts of a split one); a late payment's `paidAt` and `channel`, when given, are kept on it. */
export async function refundPayment(
  sql: Sql,
  provider: PaymentProvider,
  r: { orderId: string; amount: number; reason: string } & LatePaid,
  insurance?: InsuranceGateway,
): Promise<void> {
  await payBack(sql, provider, insurance, { orderId: r.orderId, amount: r.amount, reason: r.reason });
  await markRefunded(sql, r.orderId, r);
}

/**
 * A payment whose subject's workflow has already closed (a lapsed or cancelled journey, an expired or
 * cancelled prescription or exam): refund it, then record that on the subject (order status, snapshot
 * and timeline in one transaction), leaving its status (and a journey's phase and step) as they are.
 * Idempotent: the provider refunds an order once, the timeline event has a fixed key, and the snapshot
 * is rewritten only while it does not show the refund yet. Returns the notification to send (the id
 * the subject's workflow would have used), or nothing when there is nothing to refund.
 *
 * The activity keeps its name (`refundClosedJourneyPayment`): histories of `latePaymentRefund` name it.
 */
export async function refundClosedJourneyPayment(
  sql: Sql,
  provider: PaymentProvider,
  orderId: string,
  paid: LatePaid = {},
  insurance?: InsuranceGateway,
): Promise<NotificationRequest | undefined> {
  const order = await findOrder(sql, orderId);
  if (!order || order.status === 'paid') return undefined;
  await payBack(sql, provider, insurance, { orderId, amount: order.amount, reason: 'late-payment' });
  if (order.subject.type !== 'journey') return refundClosedItemPayment(sql, order, order.subject.type, paid);
  const journeyId = order.subject.id;
  const patientId = await sql.begin(async (tx) => {
    const [row] = await tx<{ snapshot: JourneySnapshot; version: number }[]>`
      select snapshot, version from journeys where id = ${journeyId} for update`;
    if (!row) return undefined;
    await markRefunded(tx as unknown as Sql, orderId, paid);
    if (row.snapshot.payment?.status !== 'refunded') {
      const snapshot: JourneySnapshot = { ...row.snapshot, payment: { ...row.snapshot.payment!, status: 'refunded' } };
      await writeTransition(tx as unknown as Sql, {
        version: row.version + 1, // the workflow has closed: nothing else projects after this
        snapshot,
        events: [{ key: 'payment.refunded', at: new Date().toISOString(), type: 'payment.refunded', actor: 'system', data: { orderId, amount: order.amount, reason: 'late-payment' } }],
      });
    }
    return row.snapshot.patientId;
  });
  if (!patientId) return undefined;
  return {
    id: `${journeyWorkflowId(journeyId)}:payment.refunded:${orderId}`,
    patientId,
    kind: 'payment.refunded',
    refs: { journeyId },
    params: { amount: order.amount },
  };
}

const ITEM_PAYMENT = {
  prescription: { table: 'prescriptions', workflowId: prescriptionWorkflowId, ref: 'prescriptionId' },
  exam: { table: 'exams', workflowId: examWorkflowId, ref: 'examId' },
  consultation: { table: 'consultations', workflowId: consultationWorkflowId, ref: 'consultationId' },
} as const;

/**
 * The item's side of a late refund (the provider has refunded already): in one transaction that locks
 * the item's row, the order `refunded`, the snapshot's `payment.status: refunded` (version + 1, status
 * unchanged) and `payment.refunded` on the item's own timeline (the key its workflow uses).
 */
async function refundClosedItemPayment(sql: Sql, order: PaymentOrder, type: keyof typeof ITEM_PAYMENT, paid: LatePaid): Promise<NotificationRequest | undefined> {
  const { table, workflowId, ref } = ITEM_PAYMENT[type];
  const itemId = order.subject.id;
  const patientId = await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    const [row] = await tx<{ patient_id: string; snapshot: { payment?: Payment } }[]>`
      select patient_id, snapshot from ${tx(table)} where id = ${itemId} for update`;
    if (!row) return undefined;
    await markRefunded(tx, order.orderId, paid);
    if (row.snapshot.payment?.status !== 'refunded') {
      const payment: Payment = { orderId: order.orderId, amount: order.amount, currency: 'CNY', dueBy: order.dueBy, ...row.snapshot.payment, status: 'refunded' };
      // The workflow has closed: nothing else projects after this, so version + 1 stays the newest.
      await tx`
        update ${tx(table)} set snapshot = ${tx.json({ ...row.snapshot, payment } as never)}, version = version + 1, updated_at = now()
        where id = ${itemId}`;
      await appendItemEvent(tx, itemId, {
        key: 'payment.refunded',
        at: new Date(),
        type: 'payment.refunded',
        actor: 'system',
        data: { orderId: order.orderId, amount: order.amount, reason: 'late-payment' },
      });
    }
    return row.patient_id;
  });
  if (!patientId) return undefined;
  return {
    id: `${workflowId(itemId)}:payment.refunded:${order.orderId}`,
    patientId,
    kind: 'payment.refunded',
    refs: { ...(order.journeyId ? { journeyId: order.journeyId } : {}), [ref]: itemId },
    params: { amount: order.amount },
  };
}

/** Payment activities: orders, their status, and refunds through the provider. */
export function paymentActivities(deps: ActivityDeps) {
  const { sql } = deps;
  return {
    // Heartbeated from the start: the heartbeat timeout runs from the attempt's start, database work included.
    requestPayment: (r: Parameters<typeof requestPayment>[1]): Promise<void> =>
      whileHeartbeating(async () => {
        await requestPayment(sql, r);
        await deps.payments.requested?.({ orderId: r.orderId, amount: r.amount, dueBy: r.dueBy });
      }),
    markPayment: (r: Parameters<typeof markPayment>[1]) => markPayment(sql, r),
    refundPayment: (r: Parameters<typeof refundPayment>[2]) => whileHeartbeating(() => refundPayment(sql, deps.payments, r, deps.insurance)),
    refundClosedJourneyPayment: (r: LatePaymentInput) => whileHeartbeating(() => refundClosedJourneyPayment(sql, deps.payments, r.orderId, r, deps.insurance)),
  };
}

/** One payer's part of an order: medical insurance's, or the patient's own (paid through WeChat Pay or Alipay). */
export type PaymentPart =
  | { payer: 'insurance'; amount: number; status: 'pre-settled' | 'settling' | 'settled' | 'reversed' }
  | { payer: 'self'; amount: number; status: PaymentStatus; channel?: PaymentReceived['channel'] };

/** An order as its patient and staff see it: both parts of a split one, and what is still to pay. */
export interface PaymentDetail extends PaymentOrder {
  patientId: string | null;
  parts: PaymentPart[];
  /** What the payment provider is to take while the order is pending (its self-paid part once insurance has settled); else 0. */
  due: number;
  insurance?: InsuranceSettlement;
}

export async function paymentDetail(sql: Sql, orderId: string): Promise<PaymentDetail | undefined> {
  const order = await findOrder(sql, orderId);
  if (!order) return undefined;
  const [{ patient_id: patientId } = { patient_id: null }] = await sql<{ patient_id: string | null }[]>`
    select invoice_patient(p) as patient_id from payments p where p.order_id = ${orderId}`;
  const insurance = await findSettlement(sql, orderId);
  const split = insurance && insurance.counted && insurance.status !== 'voided' && !(insurance.status === 'reversed' && !insurance.settledAt);
  const self: PaymentPart = { payer: 'self', amount: split ? insurance.self : order.amount, status: order.status, ...(order.channel ? { channel: order.channel } : {}) };
  const parts: PaymentPart[] = split ? [{ payer: 'insurance', amount: insurance.insured, status: insurance.status as 'settled' }, self] : [self];
  const due = order.status !== 'pending' ? 0 : insurance?.status === 'settled' || insurance?.status === 'settling' ? insurance.self : order.amount;
  return { ...order, patientId, parts, due, ...(insurance ? { insurance } : {}) };
}
