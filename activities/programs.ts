// Care programs: templates (data, versioned like pathways), the occurrence planner (doses and
// measurements in the patient's timezone, DST included), the program's projection (its row, its
// timeline, its tasks and the notifications it sends, in one transaction) and the reads the API needs.
import { DateTime } from 'luxon';
import { DEFAULT_PATHWAY, guardianRefusal, programWorkflowId } from '../workflows/definitions.js';
import type {
  JourneyInput,
  MeasurementType,
  Occurrence,
  ProgramSnapshot,
  ProgramRecorded,
  ProgramTemplate,
  ProgramTransition,
  TimelineEvent,
} from '../workflows/definitions.js';
import type { Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { appendItemEvent, itemTimeline } from './items.js';
import { getPathway, getPatient } from './reference.js';
import type { TimelineRow } from './journeys.js';
import { announcedEvents, storeTransitionNotifications } from './notifications.js';
import { openTasksOfItem, upsertTask, type TaskView } from './tasks.js';

// ---- templates ---------------------------------------------------------------------------------

/** Inserts a template version; an existing (id, version) is left as it is (versions are immutable). */
export async function insertProgramTemplate(sql: Sql, t: ProgramTemplate): Promise<boolean> {
  const rows = await sql`
    insert into program_templates (id, version, condition, body) values (${t.id}, ${t.version}, ${t.condition}, ${sql.json(t as never)})
    on conflict (id, version) do nothing returning id`;
  return rows.length > 0;
}

/** The newest version of a template, or of the template seeded for a condition. */
export async function getProgramTemplate(sql: Sql, by: { id: string } | { condition: string }): Promise<ProgramTemplate | undefined> {
  const [row] =
    'id' in by
      ? await sql<{ body: ProgramTemplate }[]>`select body from program_templates where id = ${by.id} order by version desc limit 1`
      : await sql<{ body: ProgramTemplate }[]>`select body from program_templates where condition = ${by.condition} order by (id = ${by.condition}) desc, version desc limit 1`;
  return row?.body;
}

export async function listProgramTemplates(sql: Sql): Promise<ProgramTemplate[]> {
  const rows = await sql<{ body: ProgramTemplate }[]>`
    select distinct on (id) body from program_templates order by id, version desc`;
  return rows.map((r) => r.body);
}

// ---- the planner -------------------------------------------------------------------------------

export interface PlanRequest {
  timezone: string;
  enrolledAt: string;
  medications: { drugCode: string; times: string[] }[];
  measurements: { type: MeasurementType; times: string[]; everyDays: number }[];
  /** Occurrences at or after `from` and before `to`. */
  from: string;
  to: string;
}

/**
 * Every dose and measurement between `from` and `to`, at its `HH:MM` in the patient's timezone. A
 * time that does not exist on a spring-forward day moves to the first time that does (luxon's rule);
 * on a fall-back day a time that happens twice is taken once. Measurements every `everyDays` days
 * count from the day of enrolment in the patient's timezone.
 */
export function planOccurrences(r: PlanRequest): Occurrence[] {
  const from = DateTime.fromISO(r.from, { zone: r.timezone });
  const to = DateTime.fromISO(r.to, { zone: r.timezone });
  const enrolledDay = DateTime.fromISO(r.enrolledAt, { zone: r.timezone }).startOf('day');
  const out: Occurrence[] = [];
  const at = (day: DateTime, hhmm: string): DateTime => {
    const [h, m] = hhmm.split(':').map(Number) as [number, number];
    return day.set({ hour: h, minute: m, second: 0, millisecond: 0 });
  };
  const iso = (d: DateTime): string => d.toISO({ suppressMilliseconds: true })!;
  for (let day = from.startOf('day'); day <= to; day = day.plus({ days: 1 })) {
    const inWindow = (d: DateTime) => d >= from && d < to;
    for (const m of r.medications) {
      for (const t of new Set(m.times)) {
        const d = at(day, t);
        if (inWindow(d)) out.push({ at: iso(d), kind: 'medication', drugCode: m.drugCode });
      }
    }
    const dayIndex = Math.round(day.diff(enrolledDay, 'days').days);
    for (const s of r.measurements) {
      if (dayIndex < 0 || dayIndex % s.everyDays !== 0) continue;
      for (const t of new Set(s.times)) {
        const d = at(day, t);
        if (inWindow(d)) out.push({ at: iso(d), kind: 'measurement', type: s.type });
      }
    }
  }
  return out.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || (a.drugCode ?? a.type ?? '').localeCompare(b.drugCode ?? b.type ?? ''));
}

// ---- the projection ----------------------------------------------------------------------------

/**
 * One transition of a program in one transaction: its row (a newer version only), its timeline
 * (each event once, by key), its tasks and the notifications it sends (stored once by id; queued for
 * the outbox dispatcher when a webhook is configured: activities/notifications.ts, the journeys' too).
 * An outreach notification whose patient has withdrawn consent is withheld (insertNotification), and
 * so is the event that `announces` it; the answer names what was withheld.
 */
export async function recordProgramTransition(sql: Sql, t: ProgramTransition, queue: boolean): Promise<ProgramRecorded> {
  const s = t.snapshot;
  return (await sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    await tx`
      insert into programs (id, patient_id, condition, doctor_id, status, snapshot, version)
      values (${s.id}, ${s.patientId}, ${s.condition}, ${s.doctorId}, ${s.status}, ${tx.json(s as never)}, ${t.version})
      on conflict (id) do update set status = excluded.status, doctor_id = excluded.doctor_id, snapshot = excluded.snapshot, version = excluded.version, updated_at = now()
      where programs.version < excluded.version`;
    const recorded = await storeTransitionNotifications(tx, t.notifications, queue);
    for (const e of announcedEvents(t.events, t.announces, recorded)) await appendItemEvent(tx, s.id, e);
    for (const task of t.tasks ?? []) await upsertTask(tx, null, task);
    return recorded;
  })) as ProgramRecorded;
}

// ---- reads ------------------------------------------------------------------------------------

export interface ProgramView extends Omit<ProgramSnapshot, 'supply'> {
  supply: { drugCode: string; until: string; remainingDays: number }[];
  timeline: TimelineEvent[];
}

/** Days left, whole, from now (never below 0). */
export function remainingDays(until: string, now = Date.now()): number {
  return Math.max(0, Math.floor((Date.parse(until) - now) / 86_400_000));
}

export async function getProgram(sql: Sql, id: string): Promise<ProgramView | undefined> {
  const [row] = await sql<{ snapshot: ProgramSnapshot }[]>`select snapshot from programs where id = ${id}`;
  if (!row) return undefined;
  const timeline = await sql<{ key: string; at: Date; type: TimelineEvent['type']; actor: string; data: Record<string, unknown> }[]>`
    select key, at, type, actor, data from item_timeline where item_id = ${id} order by seq`;
  const s = row.snapshot;
  return {
    ...s,
    supply: s.supply.map((x) => ({ ...x, remainingDays: remainingDays(x.until) })),
    timeline: timeline.map((e) => ({ key: e.key, at: e.at.toISOString(), type: e.type, actor: e.actor, data: e.data })),
  };
}

/** A program as the API answers it: its snapshot, days of supply left, its timeline (numbered) and open tasks. */
export interface ProgramRead extends Omit<ProgramSnapshot, 'supply'> {
  supply: { drugCode: string; until: string; remainingDays: number }[];
  timeline: TimelineRow[];
  openTasks: TaskView[];
}

/** Days of supply left for each medication of a snapshot, from now. */
export function withRemainingDays<S extends Pick<ProgramSnapshot, 'supply'>>(s: S, now = Date.now()): Omit<S, 'supply'> & { supply: ProgramRead['supply'] } {
  return { ...s, supply: s.supply.map((x) => ({ ...x, remainingDays: remainingDays(x.until, now) })) };
}

/** One program with its timeline and open tasks, read in one snapshot-consistent transaction (for the API). */
export async function readProgram(sql: Sql, id: string): Promise<ProgramRead | undefined> {
  return sql.begin('isolation level repeatable read read only', async (raw): Promise<ProgramRead | undefined> => {
    const tx = raw as unknown as Sql;
    const [row] = await tx<{ snapshot: ProgramSnapshot }[]>`select snapshot from programs where id = ${id}`;
    if (!row) return undefined;
    return { ...withRemainingDays(row.snapshot), timeline: await itemTimeline(tx, id), openTasks: await openTasksOfItem(tx, id) };
  }) as Promise<ProgramRead | undefined>;
}

export interface ProgramOwner {
  patientId: string;
  doctorId: string;
  condition: string;
  status: ProgramSnapshot['status'];
  timezone: string;
  template: { id: string; version: number };
}

/** Who a program belongs to, its status, timezone and template, for access checks (no timeline). */
export async function programOwner(sql: Sql, id: string): Promise<ProgramOwner | undefined> {
  const [row] = await sql<{ patient_id: string; doctor_id: string; condition: string; status: ProgramSnapshot['status']; snapshot: Pick<ProgramSnapshot, 'timezone' | 'template'> }[]>`
    select patient_id, doctor_id, condition, status, jsonb_build_object('timezone', snapshot->'timezone', 'template', snapshot->'template') as snapshot
    from programs where id = ${id}`;
  if (!row) return undefined;
  return { patientId: row.patient_id, doctorId: row.doctor_id, condition: row.condition, status: row.status, timezone: row.snapshot.timezone, template: row.snapshot.template };
}

/** One version of a template (the one a program runs on). */
export async function programTemplateVersion(sql: Sql, id: string, version: number): Promise<ProgramTemplate | undefined> {
  const [row] = await sql<{ body: ProgramTemplate }[]>`select body from program_templates where id = ${id} and version = ${version}`;
  return row?.body;
}

export interface ProgramFilter {
  condition?: string;
  status?: ProgramSnapshot['status'];
  patientId?: string;
  doctorId?: string;
}

export async function listPrograms(sql: Sql, f: ProgramFilter): Promise<ProgramSnapshot[]> {
  const rows = await sql<{ snapshot: ProgramSnapshot }[]>`
    select snapshot from programs where true
      ${f.condition ? sql`and condition = ${f.condition}` : sql``}
      ${f.status ? sql`and status = ${f.status}` : sql``}
      ${f.patientId ? sql`and patient_id = ${f.patientId}` : sql``}
      ${f.doctorId ? sql`and doctor_id = ${f.doctorId}` : sql``}
    order by created_at desc limit 500`;
  return rows.map((r) => r.snapshot);
}

/** The active (or paused) program of a patient for a condition, if any. */
export async function activeProgram(sql: Sql, patientId: string, condition: string): Promise<ProgramSnapshot | undefined> {
  const [row] = await sql<{ snapshot: ProgramSnapshot }[]>`
    select snapshot from programs where patient_id = ${patientId} and condition = ${condition} and status <> 'discharged' limit 1`;
  return row?.snapshot;
}

/** Whether a follow-up journey got as far as the visit (checked in, consulted, completed). */
export async function journeyReachedVisit(sql: Sql, journeyId: string): Promise<boolean> {
  const [row] = await sql<{ phase: string; status: string }[]>`select phase, status from journeys where id = ${journeyId}`;
  if (!row) return false;
  return row.phase === 'visit' || row.phase === 'post-visit' || row.status === 'completed';
}

/**
 * The patient's care program (not discharged) whose plan holds any of these drugs, with the ones it
 * holds: its reminders and supply take over those drugs of a delivered prescription.
 */
export async function programForDrugs(sql: Sql, patientId: string, drugCodes: string[]): Promise<{ programId: string; workflowId: string; drugCodes: string[] }[]> {
  const rows = await sql<{ snapshot: ProgramSnapshot }[]>`
    select snapshot from programs where patient_id = ${patientId} and status <> 'discharged' order by created_at`;
  return rows
    .map(({ snapshot: s }) => ({
      programId: s.id,
      workflowId: programWorkflowId(s.patientId, s.condition),
      drugCodes: s.plan.medications.map((m) => m.drugCode).filter((d) => drugCodes.includes(d)),
    }))
    .filter((p) => p.drugCodes.length > 0);
}

/**
 * The journey a program starts for its patient, as the rules of online care allow it: with the
 * patient's birth date, and for a child under GUARDIAN_AGE (whose online care needs a verified
 * guardian the program has none of on file) an in-person visit on the offline default pathway instead.
 */
export async function programJourneyInput(sql: Sql, input: JourneyInput): Promise<JourneyInput> {
  const patient = await getPatient(sql, input.patientId);
  if (!patient) return input;
  const withAge = { ...input, patientBirthDate: patient.birthDate };
  if (!guardianRefusal(withAge, Date.now())) return withAge;
  const pathway = await getPathway(sql, DEFAULT_PATHWAY.offline);
  if (!pathway) throw new Error(`pathway ${DEFAULT_PATHWAY.offline} is not seeded`);
  const { followUpOf: _followUpOf, ...inPerson } = withAge;
  return { ...inPerson, mode: 'offline', pathway };
}

export function programActivities(deps: ActivityDeps) {
  return {
    async planProgramOccurrences(r: PlanRequest): Promise<Occurrence[]> {
      return planOccurrences(r);
    },
    async recordProgramTransition(t: ProgramTransition): Promise<ProgramRecorded> {
      const recorded = await recordProgramTransition(deps.sql, t, deps.notifyWebhook !== undefined);
      activityLog(deps).debug(
        { programId: t.snapshot.id, events: t.events.map((e) => e.type), notifications: t.notifications?.map((n) => n.id), withheld: recorded.withheld },
        'program transition projected',
      );
      return recorded;
    },
    async journeyReachedVisit(r: { journeyId: string }): Promise<boolean> {
      return journeyReachedVisit(deps.sql, r.journeyId);
    },
    /** A follow-up or renewal journey for the program's patient (not a child: it is nobody's to close). */
    async startProgramJourney(input: JourneyInput): Promise<void> {
      const journey = await programJourneyInput(deps.sql, input);
      await deps.startJourney(journey);
      activityLog(deps).info({ journeyId: input.journeyId, patientId: input.patientId, mode: journey.mode }, 'program journey started');
    },
    async programForDrugs(r: { patientId: string; drugCodes: string[] }) {
      return programForDrugs(deps.sql, r.patientId, r.drugCodes);
    },
    async taskIsOpen(r: { taskId: string }): Promise<boolean> {
      const [row] = await deps.sql<{ status: string }[]>`select status from tasks where id = ${r.taskId}`;
      return row?.status === 'open';
    },
  };
}
