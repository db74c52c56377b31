// Who may take part in online care: verified clinicians (licence, verification time, years of practice)
// and real-name patients (identity verification records). The workflows ask through the activities
// built on these; the API shows and records them.
import { randomUUID } from 'node:crypto';
import { ONLINE_MIN_YEARS, RuleFailureType, type VisitStandingInput } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';

export interface ClinicianStanding {
  role: 'doctor' | 'pharmacist' | 'coordinator';
  licenceNumber: string | null;
  yearsOfPractice: number | null;
  verifiedAt: string | null;
}

export async function clinicianStanding(sql: Sql, id: string): Promise<ClinicianStanding | undefined> {
  const [row] = await sql<{ role: ClinicianStanding['role']; licence_number: string | null; years_of_practice: number | null; verified_at: Date | null }[]>`
    select role, licence_number, years_of_practice, verified_at from clinicians where id = ${id}`;
  return row && { role: row.role, licenceNumber: row.licence_number, yearsOfPractice: row.years_of_practice, verifiedAt: iso(row.verified_at) ?? null };
}

export type Refusal = { type: RuleFailureType; detail: string };

/**
 * Whether a clinician may act now: verified, of the role, and for online work a doctor with at least
 * ONLINE_MIN_YEARS years of practice. Undefined: they may.
 */
export function standingRefusal(s: ClinicianStanding | undefined, role: 'doctor' | 'pharmacist', mode?: 'online' | 'offline'): Refusal | undefined {
  const who = role === 'doctor' ? 'the doctor' : 'the pharmacist';
  if (!s || s.role !== role || !s.verifiedAt || !s.licenceNumber) {
    return { type: RuleFailureType.ClinicianUnverified, detail: `${who}'s licence has not been verified` };
  }
  if (role === 'doctor' && mode === 'online' && (s.yearsOfPractice ?? 0) < ONLINE_MIN_YEARS) {
    return { type: RuleFailureType.InsufficientPractice, detail: `an online consultation needs a doctor with at least ${ONLINE_MIN_YEARS} years of practice` };
  }
  return undefined;
}

/** Records a clinician's verified licence (admin): the licence number, years of practice and now. */
export async function verifyClinician(
  sql: Sql,
  id: string,
  v: { licenceNumber: string; yearsOfPractice: number; verifiedBy: string },
): Promise<boolean> {
  const rows = await sql`
    update clinicians set licence_number = ${v.licenceNumber}, years_of_practice = ${v.yearsOfPractice}, verified_at = now(), verified_by = ${v.verifiedBy}
    where id = ${id} returning id`;
  return rows.length === 1;
}

/** How a real-name identity was checked. */
export const IDENTITY_METHODS = ['id-card', 'passport', 'travel-permit', 'residence-permit', 'face-recognition'] as const;

export interface IdentityVerification {
  id: string;
  patientId: string;
  method: (typeof IDENTITY_METHODS)[number];
  source: 'coordinator' | 'identity-provider';
  verifiedBy: string;
  verifiedAt: string;
  reference?: string;
}

/**
 * Adds an identity verification record; a provider's redelivered record (same reference) adds
 * nothing and the first one is returned.
 */
export async function recordIdentityVerification(sql: Sql, v: Omit<IdentityVerification, 'id'>): Promise<IdentityVerification> {
  const [row] = await sql<{ id: string }[]>`
    insert into identity_verifications (id, patient_id, method, source, verified_by, verified_at, reference)
    values (${randomUUID()}, ${v.patientId}, ${v.method}, ${v.source}, ${v.verifiedBy}, ${v.verifiedAt}, ${v.reference ?? null})
    on conflict (patient_id, source, reference) where reference is not null do nothing
    returning id`;
  if (row) return { id: row.id, ...v };
  return (await identityVerification(sql, v.patientId, v.reference))!;
}

/** The patient's newest identity verification (or the one with a provider reference), if any. */
export async function identityVerification(sql: Sql, patientId: string, reference?: string): Promise<IdentityVerification | undefined> {
  const [row] = await sql<{ id: string; patient_id: string; method: IdentityVerification['method']; source: IdentityVerification['source']; verified_by: string; verified_at: Date; reference: string | null }[]>`
    select * from identity_verifications where patient_id = ${patientId}
    ${reference === undefined ? sql`` : sql`and reference = ${reference}`}
    order by verified_at desc, created_at desc limit 1`;
  if (!row) return undefined;
  return {
    id: row.id,
    patientId: row.patient_id,
    method: row.method,
    source: row.source,
    verifiedBy: row.verified_by,
    verifiedAt: iso(row.verified_at)!,
    ...(row.reference ? { reference: row.reference } : {}),
  };
}

export const patientRefusal = (verified: boolean): Refusal | undefined =>
  verified ? undefined : { type: RuleFailureType.PatientUnverified, detail: "the patient's real-name identity has not been verified" };

export type Standing = { ok: true } | ({ ok: false } & Refusal);
const standing = (r: Refusal | undefined): Standing => (r ? { ok: false, ...r } : { ok: true });

/**
 * Before a visit's step: the doctor (named, or the slot's) in good standing for the mode, and for an
 * online visit a real-name verified patient. An unknown slot passes: booking reports it. Also asked
 * inside a journey's projection (activities/journeys.ts), with its transaction.
 */
export async function visitStanding(sql: Sql, a: VisitStandingInput): Promise<Standing> {
  let doctorId = a.doctorId;
  if (!doctorId && a.slotId) {
    const [slot] = await sql<{ doctor_id: string }[]>`select doctor_id from slots where id = ${a.slotId}`;
    if (!slot) return { ok: true };
    doctorId = slot.doctor_id;
  }
  const doctor = doctorId ? standingRefusal(await clinicianStanding(sql, doctorId), 'doctor', a.mode) : undefined;
  if (doctor) return standing(doctor);
  if (a.mode !== 'online') return { ok: true };
  return standing(patientRefusal((await identityVerification(sql, a.patientId)) !== undefined));
}

/** The checks the workflows make before a clinician acts or a patient is served online. */
export function verificationActivities(deps: { sql: Sql }) {
  return {
    /** May this clinician act now, in this role (and, for a doctor, in this mode)? */
    async clinicianStanding(a: { clinicianId: string; role: 'doctor' | 'pharmacist'; mode?: 'online' | 'offline' }): Promise<Standing> {
      return standing(standingRefusal(await clinicianStanding(deps.sql, a.clinicianId), a.role, a.mode));
    },
    /**
     * Before a visit's step: the doctor (named, or the slot's) in good standing for the mode, and for an
     * online visit a real-name verified patient. An unknown slot passes: booking reports it.
     */
    visitStanding: (a: VisitStandingInput): Promise<Standing> => visitStanding(deps.sql, a),
    /** Is the patient real-name verified? */
    async patientStanding(a: { patientId: string }): Promise<Standing> {
      return standing(patientRefusal((await identityVerification(deps.sql, a.patientId)) !== undefined));
    },
  };
}
