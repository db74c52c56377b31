// The coordinators' board in one read: journeys counted by phase and step (with how many are overdue,
// and why: the open tasks past due), the escalation queue ordered by how overdue each task is, and the
// programs that need attention. One repeatable-read transaction, so counts and lists agree.
import type { JourneyStatus } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';

export interface BoardFilter {
  department?: string;
  status?: JourneyStatus;
  /** Only journeys with an open task past due (of the journey or its children). */
  overdue?: boolean;
  /** Journeys created on or after / before these instants. */
  from?: string;
  to?: string;
}

export interface BoardGroup {
  phase: string;
  step: string;
  count: number;
  overdue: number;
}

export interface OverdueTask {
  id: string;
  kind: string;
  journeyId: string | null;
  subject: { type: string; id: string };
  action: string;
  dueAt: string;
  tier: number;
  /** Seconds past due when read. */
  overdueBy: number;
}

export interface ProgramAttention {
  id: string;
  patientId: string;
  condition: string;
  doctorId: string;
  adherence: { taken: number; skipped: number; missed: number };
  openAlerts: number;
}

export interface Board {
  total: number;
  groups: BoardGroup[];
  escalations: OverdueTask[];
  programs: ProgramAttention[];
}

export async function readBoard(sql: Sql, f: BoardFilter, limit = 50): Promise<Board> {
  return sql.begin('isolation level repeatable read read only', async (raw) => {
    const tx = raw as unknown as Sql;
    const where = tx`
      where true
        ${f.department ? tx`and j.department = ${f.department}` : tx``}
        ${f.status ? tx`and j.status = ${f.status}` : tx``}
        ${f.from ? tx`and j.created_at >= ${f.from}::timestamptz` : tx``}
        ${f.to ? tx`and j.created_at < ${f.to}::timestamptz` : tx``}
        ${f.overdue ? tx`and exists (select 1 from tasks t where t.journey_id = j.id and t.status = 'open' and t.due_at <= now())` : tx``}`;
    const groups = await tx<{ phase: string; step: string; count: number; overdue: number }[]>`
      select j.phase, j.step, count(*)::int as count,
             count(*) filter (where exists (select 1 from tasks t where t.journey_id = j.id and t.status = 'open' and t.due_at <= now()))::int as overdue
      from journeys j ${where}
      group by j.phase, j.step
      order by j.phase, j.step`;
    const escalations = await tx<{ id: string; kind: string; journey_id: string | null; subject_type: string; subject_id: string; action: string; due_at: Date; tier: number; overdue_by: number }[]>`
      select t.id, t.kind, t.journey_id, t.subject_type, t.subject_id, t.action, t.due_at, t.tier,
             extract(epoch from now() - t.due_at)::int as overdue_by
      from tasks t
      left join journeys j on j.id = t.journey_id
      where t.status = 'open' and t.role = 'coordinator' and t.due_at <= now()
        ${f.department ? tx`and j.department = ${f.department}` : tx``}
      order by t.due_at, t.id
      limit ${limit}`;
    const programs = await tx<{ id: string; patient_id: string; condition: string; doctor_id: string; snapshot: { adherence: ProgramAttention['adherence']; openAlerts: unknown[] } }[]>`
      select id, patient_id, condition, doctor_id, snapshot from programs
      where status = 'active'
        and (jsonb_array_length(coalesce(snapshot -> 'openAlerts', '[]'::jsonb)) > 0 or (snapshot -> 'adherence' ->> 'missed')::int > 0)
      order by jsonb_array_length(coalesce(snapshot -> 'openAlerts', '[]'::jsonb)) desc, (snapshot -> 'adherence' ->> 'missed')::int desc, id
      limit ${limit}`;
    return {
      total: groups.reduce((n, g) => n + g.count, 0),
      groups,
      escalations: escalations.map((t) => ({
        id: t.id,
        kind: t.kind,
        journeyId: t.journey_id,
        subject: { type: t.subject_type, id: t.subject_id },
        action: t.action,
        dueAt: iso(t.due_at)!,
        tier: t.tier,
        overdueBy: t.overdue_by,
      })),
      programs: programs.map((p) => ({
        id: p.id,
        patientId: p.patient_id,
        condition: p.condition,
        doctorId: p.doctor_id,
        adherence: p.snapshot.adherence,
        openAlerts: p.snapshot.openAlerts.length,
      })),
    };
  }) as Promise<Board>;
}
