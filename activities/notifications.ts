// Notifications: the patient's inbox (PostgreSQL) plus an outbox delivered as signed POSTs to
// NOTIFY_WEBHOOK_URL. The notification id is the idempotency key: stored once, delivered once.
import type { NotificationKind, NotificationRequest } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
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
  }
}

/**
 * Stores the notification in the inbox (once per id) and, when a webhook is configured, delivers it
 * signed. A delivery that failed throws, so the activity's retry policy tries again; one that
 * succeeded is marked and never sent again.
 */
export async function notify(sql: Sql, webhook: NotifyWebhook | undefined, req: NotificationRequest): Promise<void> {
  const [patient] = await sql<{ timezone: string }[]>`select timezone from patients where id = ${req.patientId}`;
  const { title, body } = render(req.kind, req.params, patient?.timezone ?? 'Asia/Shanghai');
  await sql`
    insert into notifications (id, patient_id, kind, title, body, refs)
    values (${req.id}, ${req.patientId}, ${req.kind}, ${title}, ${body}, ${sql.json(req.refs)})
    on conflict (id) do nothing`;
  if (!webhook) return;
  await sql`insert into outbox (id) values (${req.id}) on conflict (id) do nothing`;
  const [pending] = await sql<{ id: string }[]>`
    update outbox set attempts = attempts + 1 where id = ${req.id} and delivered_at is null returning id`;
  if (!pending) return; // already delivered
  const [n] = await sql<NotificationRow[]>`select * from notifications where id = ${req.id}`;
  const payload = JSON.stringify(notificationView(n!));
  let error: string | undefined;
  try {
    const res = await fetch(webhook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(webhook.secret, payload), 'Idempotency-Key': req.id },
      body: payload,
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) error = `webhook answered ${res.status}`;
  } catch (e) {
    error = `webhook unreachable: ${(e as Error).message}`;
  }
  if (error) {
    await sql`update outbox set last_error = ${error} where id = ${req.id}`;
    throw new Error(`notification ${req.id}: ${error}`);
  }
  await sql`update outbox set delivered_at = now(), last_error = null where id = ${req.id}`;
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
