// Payment orders and the payment provider adapter. The provider's refund is keyed by order id, so a
// retried refund never pays back twice.
import { journeyWorkflowId, type JourneySnapshot, type NotificationRequest, type PaymentStatus } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import type { ActivityDeps } from './deps.js';
import { writeTransition } from './journeys.js';

/** The payment provider as CarePath sees it. Production swaps in the real channel's client. */
export interface PaymentProvider {
  /** Refunds `amount` of the order; calling it again for the same order changes nothing. */
  refund(r: { orderId: string; amount: number; reason: string }): Promise<void>;
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

export interface PaymentOrder {
  orderId: string;
  journeyId: string;
  amount: number;
  currency: 'CNY';
  status: PaymentStatus;
  dueBy: string;
  paidAt?: string;
}

/** What an order pays for: a journey's registration (the default), a prescription or an exam. */
export interface OrderSubject {
  type: 'journey' | 'prescription' | 'exam';
  id: string;
}

export async function requestPayment(
  sql: Sql,
  r: { orderId: string; journeyId: string; amount: number; dueBy: string; subject?: OrderSubject },
): Promise<void> {
  const subject = r.subject ?? { type: 'journey', id: r.journeyId };
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
  await sql`
    update payments set status = ${r.status},
      paid_at = coalesce(${r.paidAt ?? null}::timestamptz, paid_at), channel = coalesce(${r.channel ?? null}, channel)
    where order_id = ${r.orderId} and status = 'pending'`;
}

export async function findOrder(sql: Sql, orderId: string): Promise<PaymentOrder | undefined> {
  const [row] = await sql<{ order_id: string; journey_id: string; amount: number; status: PaymentStatus; due_by: Date; paid_at: Date | null }[]>`
    select order_id, journey_id, amount, status, due_by, paid_at from payments where order_id = ${orderId}`;
  if (!row) return undefined;
  return {
    orderId: row.order_id,
    journeyId: row.journey_id,
    amount: row.amount,
    currency: 'CNY',
    status: row.status,
    dueBy: iso(row.due_by)!,
    ...(row.paid_at ? { paidAt: iso(row.paid_at)! } : {}),
  };
}

export async function refundPayment(sql: Sql, provider: PaymentProvider, r: { orderId: string; amount: number; reason: string }): Promise<void> {
  await provider.refund(r);
  await sql`update payments set status = 'refunded' where order_id = ${r.orderId}`;
}

/**
 * A payment for a journey whose workflow has already closed (lapsed or cancelled): refund it, then
 * record that on the journey (order status, snapshot and timeline in one transaction), leaving its
 * status, phase and step as they are. Idempotent: the provider refunds an order once, the timeline
 * event has a fixed key. Returns the notification to send, or nothing when there is nothing to refund.
 */
export async function refundClosedJourneyPayment(sql: Sql, provider: PaymentProvider, orderId: string): Promise<NotificationRequest | undefined> {
  const order = await findOrder(sql, orderId);
  if (!order || order.status === 'paid') return undefined;
  await provider.refund({ orderId, amount: order.amount, reason: 'late-payment' });
  const patientId = await sql.begin(async (tx) => {
    const [row] = await tx<{ snapshot: JourneySnapshot; version: number }[]>`
      select snapshot, version from journeys where id = ${order.journeyId} for update`;
    if (!row) return undefined;
    await tx`update payments set status = 'refunded' where order_id = ${orderId}`;
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
    id: `${journeyWorkflowId(order.journeyId)}:payment.refunded:${orderId}`,
    patientId,
    kind: 'payment.refunded',
    refs: { journeyId: order.journeyId },
    params: { amount: order.amount },
  };
}

/** Payment activities: orders, their status, and refunds through the provider. */
export function paymentActivities(deps: ActivityDeps) {
  const { sql } = deps;
  return {
    requestPayment: (r: Parameters<typeof requestPayment>[1]) => requestPayment(sql, r),
    markPayment: (r: Parameters<typeof markPayment>[1]) => markPayment(sql, r),
    refundPayment: (r: { orderId: string; amount: number; reason: string }) => refundPayment(sql, deps.payments, r),
    refundClosedJourneyPayment: (r: { orderId: string }) => refundClosedJourneyPayment(sql, deps.payments, r.orderId),
  };
}
