// Remote consultations (issue 12): the institutions that may ask (primary-care centres and pharmacies,
// each with its own signing secret and callback URL), their patients as CarePath knows them, the
// remote consultation's projection, and the opinion sent back, signed, to the institution that asked.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Recorded, RemoteSnapshot, RemoteTransition } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { itemTimeline } from './items.js';
import type { TimelineRow } from './journeys.js';
import { signedPost } from './signature.js';
import { whileHeartbeating } from './heartbeat.js';
import { openTasksOfItem, type TaskView } from './tasks.js';
import { writeConversationTransition } from './consultations.js';

// ---- institutions ------------------------------------------------------------------------------

export type InstitutionKind = 'primary-care' | 'pharmacy';

export interface Institution {
  id: string;
  name: string;
  kind: InstitutionKind;
  callbackUrl: string;
  /** The remote consultation template its agreement uses (its timings). */
  templateId: string;
  createdAt: string;
}

/** Creates an institution with a new signing secret, answered once (it is never read back through the API). */
export async function createInstitution(sql: Sql, i: { name: string; kind: InstitutionKind; callbackUrl: string; templateId: string }): Promise<Institution & { signingSecret: string }> {
  const id = randomUUID();
  const signingSecret = randomBytes(32).toString('base64url');
  const [row] = await sql<{ created_at: Date }[]>`
    insert into institutions (id, name, kind, callback_url, template_id, signing_secret)
    values (${id}, ${i.name}, ${i.kind}, ${i.callbackUrl}, ${i.templateId}, ${signingSecret}) returning created_at`;
  return { id, ...i, createdAt: iso(row!.created_at)!, signingSecret };
}

export async function listInstitutions(sql: Sql): Promise<Institution[]> {
  const rows = await sql<{ id: string; name: string; kind: InstitutionKind; callback_url: string; template_id: string; created_at: Date }[]>`
    select id, name, kind, callback_url, template_id, created_at from institutions order by created_at, id`;
  return rows.map((r) => ({ id: r.id, name: r.name, kind: r.kind, callbackUrl: r.callback_url, templateId: r.template_id, createdAt: iso(r.created_at)! }));
}

/** What the intake needs to check a request's signature: the institution's secret (undefined: no such institution). */
export async function institutionSecret(sql: Sql, id: string): Promise<{ secret: string; templateId: string } | undefined> {
  const [row] = await sql<{ signing_secret: string; template_id: string }[]>`select signing_secret, template_id from institutions where id = ${id}`;
  return row ? { secret: row.signing_secret, templateId: row.template_id } : undefined;
}

/**
 * The CarePath patient an institution's patient is (by the institution's own id for them): created on
 * the first request, the same one after. The institution vouches for the identity it sends.
 */
export async function institutionPatient(
  sql: Sql,
  institutionId: string,
  p: { externalId: string; name: string; phone: string; birthDate: string; sex: 'F' | 'M' | 'O' },
): Promise<string> {
  return (await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    await tx`select pg_advisory_xact_lock(hashtext(${`institution-patient:${institutionId}:${p.externalId}`}))`;
    const [known] = await tx<{ patient_id: string }[]>`select patient_id from institution_patients where institution_id = ${institutionId} and external_id = ${p.externalId}`;
    if (known) return known.patient_id;
    const id = randomUUID();
    await tx`insert into patients (id, name, phone, birth_date, sex) values (${id}, ${p.name}, ${p.phone}, ${p.birthDate}, ${p.sex})`;
    await tx`insert into institution_patients (institution_id, external_id, patient_id) values (${institutionId}, ${p.externalId}, ${id})`;
    return id;
  })) as string;
}

// ---- the projection ----------------------------------------------------------------------------

/** One transition of a remote consultation in one transaction: its row (a newer version only), the text it accepts, its timeline, tasks and notifications. */
export async function recordRemoteTransition(sql: Sql, t: RemoteTransition, o: { queue: boolean }): Promise<Recorded> {
  const s = t.snapshot;
  return (await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    await tx`
      insert into remote_consultations (id, institution_id, external_ref, patient_id, doctor_id, status, snapshot, version)
      values (${s.id}, ${s.institutionId}, ${s.externalRef}, ${s.patientId}, ${s.doctorId ?? null}, ${s.status}, ${tx.json(s as never)}, ${t.version})
      on conflict (id) do update set doctor_id = excluded.doctor_id, status = excluded.status, snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
      where remote_consultations.version < excluded.version`;
    return writeConversationTransition(tx, s.id, t, o.queue);
  })) as Recorded;
}

/** What an institution receives: the opinion on its request, signed with its secret. */
export interface RemoteOpinionPayload {
  remoteConsultationId: string;
  externalRef: string;
  opinion: { text: string; attachments: string[]; doctor: { id: string; name: string; department: string | null }; answeredAt: string };
}

/**
 * Sends the opinion to the institution that asked: the one on the request's own row, never another; its
 * callback URL and secret read here, not passed in. At least once, keyed by the remote consultation's
 * id (`Idempotency-Key`); throws (to be retried) until the institution answers 2xx.
 */
export async function sendRemoteOpinion(sql: Sql, remoteId: string): Promise<{ attempts: number }> {
  const [r] = await sql<
    { external_ref: string; callback_url: string; signing_secret: string; body: string; attachments: string[]; author_id: string; doctor_name: string; department: string | null; at: Date }[]
  >`
    select rc.external_ref, i.callback_url, i.signing_secret, m.body, m.attachments, m.author_id, c.name as doctor_name, c.department, m.at
    from remote_consultations rc
      join institutions i on i.id = rc.institution_id
      join consultation_messages m on m.consultation_id = rc.id and m.kind = 'opinion' and m.accepted_at is not null
      join clinicians c on c.id = m.author_id
    where rc.id = ${remoteId}
    order by m.at desc limit 1`;
  if (!r) throw new Error(`remote consultation ${remoteId}: no accepted opinion recorded yet`);
  await sql`insert into remote_opinion_sends (remote_id) values (${remoteId}) on conflict do nothing`;
  const [send] = await sql<{ attempts: number; sent: boolean }[]>`
    update remote_opinion_sends set attempts = attempts + (case when sent_at is null then 1 else 0 end) where remote_id = ${remoteId}
    returning attempts, sent_at is not null as sent`;
  if (send!.sent) return { attempts: send!.attempts };
  const payload: RemoteOpinionPayload = {
    remoteConsultationId: remoteId,
    externalRef: r.external_ref,
    opinion: { text: r.body, attachments: r.attachments, doctor: { id: r.author_id, name: r.doctor_name, department: r.department }, answeredAt: iso(r.at)! },
  };
  let error: string | undefined;
  try {
    const status = await signedPost(r.callback_url, r.signing_secret, remoteId, JSON.stringify(payload));
    if (status < 200 || status > 299) error = `institution answered ${status}`;
  } catch (e) {
    error = `institution unreachable: ${(e as Error).message}`;
  }
  if (error) {
    await sql`update remote_opinion_sends set last_error = ${error} where remote_id = ${remoteId}`;
    throw new Error(`remote opinion ${remoteId}: ${error}`);
  }
  await sql`update remote_opinion_sends set sent_at = now(), last_error = null where remote_id = ${remoteId}`;
  return { attempts: send!.attempts };
}

export function remoteActivities(deps: ActivityDeps) {
  return {
    async recordRemoteTransition(t: RemoteTransition): Promise<Recorded> {
      const recorded = await recordRemoteTransition(deps.sql, t, { queue: deps.notifyWebhook !== undefined });
      activityLog(deps).debug({ remoteId: t.snapshot.id, events: t.events.map((e) => e.type) }, 'remote consultation transition projected');
      return recorded;
    },
    async sendRemoteOpinion(r: { remoteId: string }): Promise<{ attempts: number }> {
      const sent = await whileHeartbeating(() => sendRemoteOpinion(deps.sql, r.remoteId));
      activityLog(deps).info({ remoteId: r.remoteId, attempts: sent.attempts }, 'remote opinion returned to its institution');
      return sent;
    },
  };
}

// ---- reads ------------------------------------------------------------------------------------

export type RemoteView = RemoteSnapshot & { timeline: TimelineRow[]; openTasks: TaskView[] };

export async function remoteOwner(sql: Sql, id: string): Promise<{ patientId: string; doctorId: string | null; institutionId: string } | undefined> {
  const [row] = await sql<{ patient_id: string; doctor_id: string | null; institution_id: string }[]>`select patient_id, doctor_id, institution_id from remote_consultations where id = ${id}`;
  return row ? { patientId: row.patient_id, doctorId: row.doctor_id, institutionId: row.institution_id } : undefined;
}

export async function getRemote(sql: Sql, id: string): Promise<RemoteView | undefined> {
  return sql.begin('isolation level repeatable read read only', async (raw): Promise<RemoteView | undefined> => {
    const tx = raw as unknown as Sql;
    const [row] = await tx<{ snapshot: RemoteSnapshot }[]>`select snapshot from remote_consultations where id = ${id}`;
    if (!row) return undefined;
    return { ...row.snapshot, timeline: await itemTimeline(tx, id), openTasks: await openTasksOfItem(tx, id) };
  }) as Promise<RemoteView | undefined>;
}

/** Remote consultations, the opinion due soonest first: every one (coordinators), or one doctor's. */
export async function listRemotes(sql: Sql, f: { doctorId?: string; status?: RemoteSnapshot['status']; limit: number }): Promise<RemoteSnapshot[]> {
  const rows = await sql<{ snapshot: RemoteSnapshot }[]>`
    select snapshot from remote_consultations
    where true
      ${f.doctorId ? sql`and doctor_id = ${f.doctorId}` : sql``}
      ${f.status ? sql`and status = ${f.status}` : sql``}
    order by snapshot->>'opinionDueBy', id
    limit ${f.limit}`;
  return rows.map((r) => r.snapshot);
}
