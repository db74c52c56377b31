// Reference data repositories: clinicians, patients and pathway templates.
import { randomUUID } from 'node:crypto';
import type { PathwayTemplate } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import { DEFAULT_LANGUAGE, type Language } from './messages.js';

export interface Clinician {
  id: string;
  name: string;
  role: 'doctor' | 'pharmacist' | 'coordinator';
  department?: string;
  licenceNumber: string | null;
  yearsOfPractice: number | null;
  /** When an admin verified the licence (null: unverified). */
  verifiedAt: string | null;
  createdAt: string;
}

type ClinicianRow = {
  id: string;
  name: string;
  role: Clinician['role'];
  department: string | null;
  licence_number: string | null;
  years_of_practice: number | null;
  verified_at: Date | null;
  created_at: Date;
};
const clinicianOf = (r: ClinicianRow): Clinician => ({
  id: r.id,
  name: r.name,
  role: r.role,
  ...(r.department ? { department: r.department } : {}),
  licenceNumber: r.licence_number,
  yearsOfPractice: r.years_of_practice,
  verifiedAt: iso(r.verified_at) ?? null,
  createdAt: iso(r.created_at)!,
});

/** A new clinician, unverified until an admin verifies the licence (activities/verification.ts). */
export async function createClinician(
  sql: Sql,
  c: Pick<Clinician, 'name' | 'role' | 'department'> & { licenceNumber?: string; yearsOfPractice?: number },
  id: string = randomUUID(),
): Promise<Clinician> {
  const [row] = await sql<ClinicianRow[]>`
    insert into clinicians (id, name, role, department, licence_number, years_of_practice)
    values (${id}, ${c.name}, ${c.role}, ${c.department ?? null}, ${c.licenceNumber ?? null}, ${c.yearsOfPractice ?? null})
    on conflict (id) do update set name = excluded.name
    returning *`;
  return clinicianOf(row!);
}

export async function clinicianView(sql: Sql, id: string): Promise<Clinician | undefined> {
  const [row] = await sql<ClinicianRow[]>`select * from clinicians where id = ${id}`;
  return row && clinicianOf(row);
}

export async function getClinician(sql: Sql, id: string): Promise<{ role: Clinician['role'] } | undefined> {
  const [row] = await sql<{ role: Clinician['role'] }[]>`select role from clinicians where id = ${id}`;
  return row;
}

export interface Patient {
  id: string;
  name: string;
  phone: string;
  birthDate: string;
  sex: 'F' | 'M' | 'O';
  timezone: string;
  /** The language of the patient's notifications (zh-CN unless set). */
  language: Language;
  createdAt: string;
}

/** Creates a patient (`language` defaults to zh-CN). An existing id (the demo data) gets the name and language given. */
export async function createPatient(
  sql: Sql,
  p: Omit<Patient, 'id' | 'createdAt' | 'language'> & { language?: Language },
  id: string = randomUUID(),
): Promise<Patient> {
  const [row] = await sql<{ id: string; name: string; phone: string; birth_date: string; sex: Patient['sex']; timezone: string; language: Language; created_at: Date }[]>`
    insert into patients (id, name, phone, birth_date, sex, timezone, language)
    values (${id}, ${p.name}, ${p.phone}, ${p.birthDate}, ${p.sex}, ${p.timezone}, ${p.language ?? DEFAULT_LANGUAGE})
    on conflict (id) do update set name = excluded.name, language = excluded.language
    returning id, name, phone, to_char(birth_date, 'YYYY-MM-DD') as birth_date, sex, timezone, language, created_at`;
  const r = row!;
  return { id: r.id, name: r.name, phone: r.phone, birthDate: r.birth_date, sex: r.sex, timezone: r.timezone, language: r.language, createdAt: iso(r.created_at)! };
}

export async function getPatient(sql: Sql, id: string): Promise<Patient | undefined> {
  const [r] = await sql<{ id: string; name: string; phone: string; birth_date: string; sex: Patient['sex']; timezone: string; language: Language; created_at: Date }[]>`
    select id, name, phone, to_char(birth_date, 'YYYY-MM-DD') as birth_date, sex, timezone, language, created_at from patients where id = ${id}`;
  return r && { id: r.id, name: r.name, phone: r.phone, birthDate: r.birth_date, sex: r.sex, timezone: r.timezone, language: r.language, createdAt: iso(r.created_at)! };
}

export async function patientExists(sql: Sql, id: string): Promise<boolean> {
  const [row] = await sql`select 1 from patients where id = ${id}`;
  return row !== undefined;
}

/** Inserts a new template version; returns false when that id + version already exists. */
export async function insertPathway(sql: Sql, t: PathwayTemplate): Promise<boolean> {
  const rows = await sql`
    insert into pathway_templates (id, version, body) values (${t.id}, ${t.version}, ${sql.json(t as never)})
    on conflict (id, version) do nothing returning id`;
  return rows.length === 1;
}

/** The latest version of a template, or a given one. */
export async function getPathway(sql: Sql, id: string, version?: number): Promise<PathwayTemplate | undefined> {
  const [row] = await sql<{ body: PathwayTemplate }[]>`
    select body from pathway_templates where id = ${id} ${version === undefined ? sql`` : sql`and version = ${version}`}
    order by version desc limit 1`;
  return row?.body;
}

export async function listPathways(sql: Sql): Promise<PathwayTemplate[]> {
  const rows = await sql<{ body: PathwayTemplate }[]>`
    select distinct on (id) body from pathway_templates order by id, version desc`;
  return rows.map((r) => r.body);
}

export async function patientTimezone(sql: Sql, id: string): Promise<string | undefined> {
  const [row] = await sql<{ timezone: string }[]>`select timezone from patients where id = ${id}`;
  return row?.timezone;
}

/** The exam catalogue entries for the codes given (name and price). */
/** The whole exam catalogue, by code. */
export async function listExamTypes(sql: Sql): Promise<{ code: string; name: string; price: number }[]> {
  return sql<{ code: string; name: string; price: number }[]>`select code, name, price from exam_catalogue order by code`;
}

export async function examTypes(sql: Sql, codes: string[]): Promise<Map<string, { code: string; name: string; price: number }>> {
  const rows = await sql<{ code: string; name: string; price: number }[]>`select code, name, price from exam_catalogue where code = any(${codes})`;
  return new Map(rows.map((r) => [r.code, r]));
}

export async function facilityExists(sql: Sql, id: string): Promise<boolean> {
  const [row] = await sql`select 1 from facilities where id = ${id}`;
  return row !== undefined;
}
