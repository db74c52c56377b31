// A patient's records in one list (issue 13): journeys, visit outcomes, prescriptions, exam results and
// referrals, newest first, each with where its detail is read. Read from the read model only.
import type { Sql } from './db.js';
import { iso } from './db.js';

export interface RecordItem {
  type: 'journey' | 'outcome' | 'prescription' | 'exam' | 'referral';
  /** The item's id (an outcome's is its journey's). */
  id: string;
  journeyId: string;
  at: string;
  status: string;
  /** What it is, in ids and codes, and for an outcome its diagnosis, for an exam its result. */
  detail: Record<string, unknown>;
  /** Where its detail is read (GET). */
  href: string;
}

/**
 * The patient's journeys, visit outcomes, prescriptions, exam results and referrals in one list, newest
 * first (ties by type and id), at most `limit`.
 */
export async function patientRecords(sql: Sql, patientId: string, limit: number): Promise<RecordItem[]> {
  const rows = await sql<{ type: RecordItem['type']; id: string; journey_id: string; at: Date | string; status: string; detail: Record<string, unknown> }[]>`
    select * from (
      select 'journey' as type, j.id, j.id as journey_id, j.created_at as at, j.status,
             jsonb_build_object('mode', j.mode, 'department', j.department, 'pathway', j.snapshot->'pathway', 'phase', j.phase) as detail
      from journeys j where j.patient_id = ${patientId}
      union all
      select 'outcome', j.id, j.id, (j.snapshot->'outcome'->>'recordedAt')::timestamptz, j.status,
             jsonb_strip_nulls(jsonb_build_object('diagnosis', j.snapshot->'outcome'->'diagnosis', 'kind', j.snapshot->'outcome'->'kind',
               'doctorId', j.doctor_id, 'children', j.snapshot->'children'))
      from journeys j where j.patient_id = ${patientId} and j.snapshot ? 'outcome'
      union all
      select 'prescription', p.id, p.journey_id, p.created_at, p.status,
             jsonb_build_object('prescriberId', p.prescriber_id, 'items', (select coalesce(jsonb_agg(jsonb_build_object('drugCode', i->>'drugCode', 'quantity', i->'quantity')), '[]') from jsonb_array_elements(p.snapshot->'items') i))
      from prescriptions p where p.patient_id = ${patientId}
      union all
      select 'exam', e.id, e.journey_id, e.created_at, e.status,
             jsonb_strip_nulls(jsonb_build_object('code', e.snapshot->'code', 'name', e.snapshot->'name', 'result', e.snapshot->'result'))
      from exams e where e.patient_id = ${patientId}
      union all
      select 'referral', r.id, r.journey_id, r.created_at, r.status,
             jsonb_build_object('facilityId', r.facility_id, 'department', r.snapshot->'department')
      from referrals r where r.patient_id = ${patientId}
    ) records
    order by at desc, type, id
    limit ${limit}`;
  const href: Record<RecordItem['type'], (id: string) => string> = {
    journey: (id) => `/v1/journeys/${id}`,
    outcome: (id) => `/v1/journeys/${id}`,
    prescription: (id) => `/v1/prescriptions/${id}`,
    exam: (id) => `/v1/exams/${id}`,
    referral: (id) => `/v1/referrals/${id}`,
  };
  return rows.map((r) => ({ type: r.type, id: r.id, journeyId: r.journey_id, at: iso(r.at)!, status: r.status, detail: r.detail, href: href[r.type](r.id) }));
}
