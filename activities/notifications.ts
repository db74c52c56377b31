// Notifications: the patient's inbox (PostgreSQL) plus an outbox delivered as signed POSTs to
// NOTIFY_WEBHOOK_URL. The notification id is the idempotency key: stored once, delivered once.
// Texts come from the message templates in activities/messages/ (see messages.ts), in the patient's
// language and timezone, with the facts read here from the database.
import type { Mode, NotificationKind, NotificationRequest, NotifyResult, Recorded } from '../workflows/definitions.js';
import { consentOf, isOutreach } from './consent.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';
import { asLanguage, render, type NotificationFacts } from './messages.js';
import { signedPost } from './signature.js';

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

/** Journey notifications that are about its appointment: they name its time and place. */
const APPOINTMENT_KINDS: ReadonlySet<NotificationKind> = new Set([
  'payment.due',
  'appointment.reminder',
  'queue.near-turn',
  'journey.cancelled',
  'journey.no-show',
  'journey.referred-offline',
  'payment.refunded',
]);

/**
 * What a notification's text needs from the database, by its refs: the journey's appointment (slot
 * start, department, doctor's name, mode), the exam's catalogue name, the referred facility's name and
 * department. Names and times only: never a complaint, a diagnosis, a reason or any other clinical text.
 */
export async function notificationFacts(sql: Sql, kind: NotificationKind, refs: Record<string, string>): Promise<NotificationFacts> {
  if (refs.examId) {
    const [row] = await sql<{ name: string | null }[]>`
      select coalesce(c.name, e.snapshot->>'name') as name
      from exams e left join exam_catalogue c on c.code = e.snapshot->>'code'
      where e.id = ${refs.examId}`;
    return row?.name ? { exam: { name: row.name } } : {};
  }
  if (refs.referralId) {
    const [row] = await sql<{ facility: string; department: string | null }[]>`
      select f.name as facility, r.snapshot->>'department' as department
      from referrals r join facilities f on f.id = r.facility_id
      where r.id = ${refs.referralId}`;
    return row ? { referral: { facility: row.facility, ...(row.department ? { department: row.department } : {}) } } : {};
  }
  if (refs.prescriptionId || !refs.journeyId || !APPOINTMENT_KINDS.has(kind)) return {};
  const [row] = await sql<{ start_at: Date; department: string; mode: Mode; doctor: string }[]>`
    select s.start_at, s.department, s.mode, c.name as doctor
    from journeys j join slots s on s.id = j.slot_id join clinicians c on c.id = s.doctor_id
    where j.id = ${refs.journeyId}`;
  return row ? { appointment: { start: iso(row.start_at)!, department: row.department, mode: row.mode, doctor: row.doctor } } : {};
}

/** The title and body in the patient's language and timezone, with the facts the database holds. */
export async function renderNotification(sql: Sql, req: NotificationRequest): Promise<{ title: string; body: string }> {
  const [patient] = await sql<{ timezone: string; language: string }[]>`select timezone, language from patients where id = ${req.patientId}`;
  const facts = await notificationFacts(sql, req.kind, req.refs);
  return render(req.kind, req.params, {
    language: asLanguage(patient?.language),
    timezone: patient?.timezone ?? 'Asia/Shanghai',
    refs: req.refs,
    facts,
  });
}

/**
 * Inserts a rendered notification into the inbox once per id and, when `queue` is given, into the
 * outbox: `activity` rows are delivered by the workflow's delivery activity, `dispatcher` rows by the
 * outbox dispatcher of the worker (workers/outbox.ts). Call inside the caller's transaction.
 *
 * Every notification is stored here, so this is where outreach consent is kept (activities/consent.ts):
 * an outreach kind whose patient has withdrawn it is withheld, stored nowhere (`stored: false`). One
 * stored already (an earlier attempt, while consent stood) stays stored: a retry answers as the first
 * attempt did.
 */
export async function insertNotification(tx: Sql, req: NotificationRequest, text: { title: string; body: string }, queue?: 'activity' | 'dispatcher'): Promise<NotifyResult> {
  let outreach: NotifyResult['outreach'];
  if (isOutreach(req.kind)) {
    outreach = await consentOf(tx, req.patientId, 'outreach');
    const [stored] = await tx`select 1 from notifications where id = ${req.id}`;
    if (!outreach.granted && !stored) return { stored: false, outreach };
  }
  await tx`
    insert into notifications (id, patient_id, kind, title, body, refs)
    values (${req.id}, ${req.patientId}, ${req.kind}, ${text.title}, ${text.body}, ${tx.json(req.refs)})
    on conflict (id) do nothing`;
  if (queue) await tx`insert into outbox (id, via) values (${req.id}, ${queue}) on conflict (id) do nothing`;
  return { stored: true, ...(outreach ? { outreach } : {}) };
}

/**
 * Stores a transition's notifications inside its transaction (rendered there, so they read what the
 * transition wrote), queued for the outbox dispatcher when `queue`: the programs' projections, and the
 * journeys' since `journey-one-transaction`. Answers which were withheld (outreach, consent withdrawn)
 * and the consent found.
 */
export async function storeTransitionNotifications(tx: Sql, notifications: NotificationRequest[] | undefined, queue: boolean): Promise<Recorded> {
  const recorded: Recorded = { withheld: [] };
  for (const n of notifications ?? []) {
    const r = await insertNotification(tx, n, await renderNotification(tx, n), queue ? 'dispatcher' : undefined);
    if (!r.stored) recorded.withheld.push(n.id);
    if (r.outreach) recorded.outreach = r.outreach;
  }
  return recorded;
}

/** A transition's events but those that announce a notification it withheld (`announces`: event key → notification id). */
export function announcedEvents<E extends { key: string }>(events: E[], announces: Record<string, string> | undefined, recorded: Recorded): E[] {
  return events.filter((e) => {
    const announced = announces?.[e.key];
    return announced === undefined || !recorded.withheld.includes(announced);
  });
}

/**
 * Stores the notification in the inbox, once per id, and when a webhook is configured queues it in
 * the outbox in the same transaction; an outreach kind whose consent is withdrawn is withheld
 * instead. Fast and local: a journey never waits on the gateway for this.
 */
export async function storeNotification(sql: Sql, req: NotificationRequest, queue: boolean): Promise<NotifyResult> {
  const text = await renderNotification(sql, req);
  return (await sql.begin(async (tx) => insertNotification(tx as unknown as Sql, req, text, queue ? 'activity' : undefined))) as NotifyResult;
}

/**
 * POSTs a queued notification, signed, unless it was delivered already. A failed delivery throws, so
 * the activity's retry policy tries again; a delivered one is marked and never sent again. (A crash
 * between the gateway's 2xx and the mark would send it once more, with the same Idempotency-Key.)
 */
export async function deliverNotification(sql: Sql, webhook: NotifyWebhook, id: string): Promise<'delivered' | 'already-delivered' | 'withheld'> {
  const [pending] = await sql<{ id: string }[]>`
    update outbox set attempts = attempts + 1 where id = ${id} and delivered_at is null returning id`;
  if (!pending) return 'already-delivered';
  const [n] = await sql<NotificationRow[]>`select * from notifications where id = ${id}`;
  // Outreach stored while consent stood, still undelivered when it was withdrawn (a slow gateway): it
  // stays in the inbox but is not pushed; the outbox row is done with.
  if (isOutreach(n!.kind) && !(await consentOf(sql, n!.patient_id, 'outreach')).granted) {
    await sql`update outbox set delivered_at = now(), last_error = 'withheld: outreach consent withdrawn' where id = ${id}`;
    return 'withheld';
  }
  const payload = JSON.stringify(notificationView(n!));
  let error: string | undefined;
  try {
    const status = await signedPost(webhook.url, webhook.secret, id, payload);
    if (status < 200 || status > 299) error = `webhook answered ${status}`;
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

/** Store, then deliver at once (for callers outside a workflow); a withheld one is not delivered. */
export async function notify(sql: Sql, webhook: NotifyWebhook | undefined, req: NotificationRequest): Promise<NotifyResult> {
  const result = await storeNotification(sql, req, webhook !== undefined);
  if (webhook && result.stored) await deliverNotification(sql, webhook, req.id);
  return result;
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
    async notify(req: NotificationRequest): Promise<NotifyResult> {
      const result = await storeNotification(sql, req, deps.notifyWebhook !== undefined);
      if (result.stored) activityLog(deps).info({ notificationId: req.id, kind: req.kind }, 'notification stored');
      else activityLog(deps).info({ notificationId: req.id, kind: req.kind, consentSeq: result.outreach?.seq }, 'notification withheld: outreach consent withdrawn');
      return result;
    },
    /** Delivers a stored notification to the webhook, if one is configured; retried until it lands. */
    async deliverNotification(r: { id: string }): Promise<void> {
      if (!deps.notifyWebhook) return;
      const webhook = deps.notifyWebhook;
      const outcome = await whileHeartbeating(() => deliverNotification(sql, webhook, r.id));
      activityLog(deps).info({ notificationId: r.id, outcome }, 'notification delivery');
    },
  };
}
