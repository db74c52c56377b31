// Notifications: the patient's inbox (PostgreSQL) plus an outbox delivered as signed POSTs to
// NOTIFY_WEBHOOK_URL. The notification id is the idempotency key: stored once, delivered once.
import type { NotificationKind, NotificationRequest } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { SIGNATURE_HEADER, sign } from './signature.js';

export interface NotifyWebhook {
  url: string;
  secret: string;
}

export interface Notification {
  id: string;
  patientId: string;
  kind: NotificationKind;
  title: string;
  body: string;
  at: string;
  refs: Record<string, string>;
}

function formatTime(isoTime: string, timezone: string): string {
  return new Intl.DateTimeFormat('zh-CN', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(new Date(isoTime));
}

const DELIVERY_TEXT: Record<string, string> = {
  ordered: 'Your medicine has been dispensed and handed to the courier.',
  'picked-up': 'The courier has picked up your medicine.',
  'in-transit': 'Your medicine is on its way.',
  delivered: 'Your medicine has been delivered.',
  failed: 'The delivery of your medicine failed. We are sending it again.',
  'delivery-failed': 'The delivery of your medicine failed again. A care coordinator will contact you.',
};

const yuan = (fen: number | string): string => (Number(fen) / 100).toFixed(2);

/** Title and body, in the patient's timezone. Never includes complaints or diagnoses. */
export function render(kind: NotificationKind, p: NotificationRequest['params'], timezone: string): { title: string; body: string } {
  const t = (k: string): string => formatTime(String(p[k]), timezone);
  switch (kind) {
    case 'payment.due':
      return { title: 'Payment due', body: `Please pay CNY ${yuan(p.amount ?? 0)} by ${t('dueBy')} to keep your appointment.` };
    case 'appointment.reminder':
      return { title: 'Appointment reminder', body: `Your appointment starts at ${t('start')}.` };
    case 'queue.near-turn':
      return { title: 'Almost your turn', body: `Queue number ${p.queueNumber}: ${p.ahead} patient(s) ahead of you.` };
    case 'journey.cancelled':
      return { title: 'Appointment cancelled', body: `Your journey was cancelled (${p.reason}).` };
    case 'journey.no-show':
      return { title: 'Missed appointment', body: `You did not check in for your appointment at ${t('start')}.` };
    case 'payment.refunded':
      return { title: 'Refund issued', body: `CNY ${yuan(p.amount ?? 0)} has been refunded.` };
    case 'prescription.approved':
      return { title: 'Prescription approved', body: `A pharmacist approved your prescription. Please pay CNY ${yuan(p.amount ?? 0)} by ${t('dueBy')}.` };
    case 'prescription.rejected':
      return { title: 'Prescription under revision', body: 'The pharmacist asked your doctor to revise your prescription. You will be told when it is ready.' };
    case 'prescription.expired':
      return { title: 'Prescription expired', body: 'Your prescription was not paid in time and can no longer be dispensed.' };
    case 'prescription.cancelled':
      return { title: 'Prescription cancelled', body: 'Your prescription was cancelled. Any amount paid is refunded.' };
    case 'delivery.update':
      return { title: 'Delivery update', body: DELIVERY_TEXT[String(p.status)] ?? `Your medicine delivery is ${p.status}.` };
    case 'medication.reminder':
      return { title: 'Medication reminder', body: `Time to take your medicine (${p.count} item(s) due at ${t('at')}). Please confirm each dose in the app.` };
    case 'report.ready':
      return { title: 'Report ready', body: 'Your exam report is ready. Open the app to read it.' };
    case 'exam.scheduled':
      return { title: 'Exam scheduled', body: `Your exam is scheduled at ${t('scheduledAt')}.` };
    case 'exam.cancelled':
      return { title: 'Exam cancelled', body: 'Your exam was cancelled. Any amount paid is refunded.' };
    case 'referral.accepted':
      return { title: 'Referral accepted', body: `Your referral was accepted. Your appointment is at ${t('appointmentAt')}.` };
    case 'referral.declined':
      return { title: 'Referral declined', body: 'The facility could not take your referral. A care coordinator will find another one.' };
  }
}

/**
 * Stores the notification in the inbox, once per id, and when a webhook is configured queues it in
 * the outbox in the same transaction. Fast and local: a journey never waits on the gateway for this.
 */
export async function storeNotification(sql: Sql, req: NotificationRequest, queue: boolean): Promise<void> {
  const [patient] = await sql<{ timezone: string }[]>`select timezone from patients where id = ${req.patientId}`;
  const { title, body } = render(req.kind, req.params, patient?.timezone ?? 'Asia/Shanghai');
  await sql.begin(async (tx) => {
    await tx`
      insert into notifications (id, patient_id, kind, title, body, refs)
      values (${req.id}, ${req.patientId}, ${req.kind}, ${title}, ${body}, ${tx.json(req.refs)})
      on conflict (id) do nothing`;
    if (queue) await tx`insert into outbox (id) values (${req.id}) on conflict (id) do nothing`;
  });
}

/**
 * POSTs a queued notification, signed, unless it was delivered already. A failed delivery throws, so
 * the activity's retry policy tries again; a delivered one is marked and never sent again. (A crash
 * between the gateway's 2xx and the mark would send it once more, with the same Idempotency-Key.)
 */
export async function deliverNotification(sql: Sql, webhook: NotifyWebhook, id: string): Promise<'delivered' | 'already-delivered'> {
  const [pending] = await sql<{ id: string }[]>`
    update outbox set attempts = attempts + 1 where id = ${id} and delivered_at is null returning id`;
  if (!pending) return 'already-delivered';
  const [n] = await sql<NotificationRow[]>`select * from notifications where id = ${id}`;
  const payload = JSON.stringify(notificationView(n!));
  let error: string | undefined;
  try {
    const res = await fetch(webhook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(webhook.secret, payload), 'Idempotency-Key': id },
      body: payload,
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) error = `webhook answered ${res.status}`;
  } catch (e) {
    error = `webhook unreachable: ${(e as Error).message}`;
  }
  if (error) {
    await sql`update outbox set last_error = ${error} where id = ${id}`;
    throw new Error(`notification ${id}: ${error}`);
  }
  await sql`update outbox set delivered_at = now(), last_error = null where id = ${id}`;
  return 'delivered';
}

/** Store, then deliver at once (for callers outside a workflow). */
export async function notify(sql: Sql, webhook: NotifyWebhook | undefined, req: NotificationRequest): Promise<void> {
  await storeNotification(sql, req, webhook !== undefined);
  if (webhook) await deliverNotification(sql, webhook, req.id);
}

interface NotificationRow {
  id: string;
  patient_id: string;
  kind: NotificationKind;
  title: string;
  body: string;
  at: Date;
  refs: Record<string, string>;
}

const notificationView = (r: NotificationRow): Notification => ({
  id: r.id,
  patientId: r.patient_id,
  kind: r.kind,
  title: r.title,
  body: r.body,
  at: iso(r.at)!,
  refs: r.refs,
});

export async function listNotifications(sql: Sql, patientId: string): Promise<Notification[]> {
  const rows = await sql<NotificationRow[]>`select * from notifications where patient_id = ${patientId} order by at desc, id limit 200`;
  return rows.map(notificationView);
}

/** Notification activities: store at once (the workflow waits), deliver in the background (it does not). */
export function notificationActivities(deps: ActivityDeps) {
  const { sql } = deps;
  return {
    async notify(req: NotificationRequest): Promise<void> {
      await storeNotification(sql, req, deps.notifyWebhook !== undefined);
      activityLog(deps).info({ notificationId: req.id, kind: req.kind }, 'notification stored');
    },
    /** Delivers a stored notification to the webhook, if one is configured; retried until it lands. */
    async deliverNotification(r: { id: string }): Promise<void> {
      if (!deps.notifyWebhook) return;
      const outcome = await deliverNotification(sql, deps.notifyWebhook, r.id);
      activityLog(deps).info({ notificationId: r.id, outcome }, 'notification delivery');
    },
  };
}
