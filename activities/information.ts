// What a patient looks up before and after a visit (issue 13): the price list (registration fees by
// pathway, online consultation fees, exams, drugs), a drug's information (usage, contraindications,
// the patient-facing leaflet) and the hospital guide (departments, procedures), in zh-CN and en.
// Seeded (db/seed/drug-information.json, db/seed/guide.json; a row an admin has edited is never
// reset by the seed) and edited by admins; each edit, with what it set, is appended to
// information_changes in the edit's transaction.
import type { Sql } from './db.js';
import { iso } from './db.js';

/** Text in both languages of the dashboard and the notifications. */
export interface Localized {
  'zh-CN': string;
  en: string;
}

export const PRICE_KINDS = ['registration', 'consultation', 'exam', 'drug'] as const;

export interface PriceItem {
  kind: (typeof PRICE_KINDS)[number];
  code: string;
  name: Localized;
  /** fen, per `unit`. */
  amount: number;
  currency: 'CNY';
  /** What the amount is for: `visit`, `consultation`, `exam`, or one unit of a drug's form (`tablet`). */
  unit: string;
  /** Registration and consultation fees: the template version they belong to (the latest). */
  version?: number;
}

/** The price list: the items whose code or name (in either language) contains `query`, by kind then code. */
export async function listPrices(sql: Sql, f: { query?: string; kind?: PriceItem['kind']; limit: number }): Promise<PriceItem[]> {
  const like = `%${(f.query ?? '').replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = await sql<{ kind: PriceItem['kind']; code: string; zh: string; en: string; amount: number; unit: string; version: number | null }[]>`
    select * from (
      select * from (
        select distinct on (id) 'registration' as kind, id as code, body->>'name' as zh, body->>'name' as en,
               (body->'fees'->>'registration')::int as amount, 'visit' as unit, version
        from pathway_templates order by id, version desc) registration
      union all
      select * from (
        select distinct on (id) 'consultation', id, body->>'name', body->>'name', (body->>'fee')::int, 'consultation', version
        from consultation_templates where coalesce(body->>'kind', 'text') = 'text' order by id, version desc) consultation
      union all
      select 'exam', code, name, name, price, 'exam', null from exam_catalogue
      union all
      select 'drug', code, name, name_en, unit_price, form, null from drugs
    ) items
    where amount is not null
      ${f.kind ? sql`and kind = ${f.kind}` : sql``}
      and (code ilike ${like} or zh ilike ${like} or en ilike ${like})
    order by array_position(array['registration', 'consultation', 'exam', 'drug'], kind), code
    limit ${f.limit}`;
  return rows.map((r) => ({
    kind: r.kind,
    code: r.code,
    name: { 'zh-CN': r.zh, en: r.en },
    amount: r.amount,
    currency: 'CNY',
    unit: r.unit,
    ...(r.version !== null ? { version: r.version } : {}),
  }));
}

export interface DrugInformationInput {
  usage: Localized;
  contraindications: Localized;
  leaflet: Localized;
}

export interface DrugInformation extends DrugInformationInput {
  code: string;
  name: Localized;
  form: string;
  class: string;
  unitPrice: number;
  currency: 'CNY';
  /** The information's version (1: as seeded); absent for a drug with no information yet. */
  version?: number;
  updatedAt?: string;
}

export async function getDrugInformation(sql: Sql, code: string): Promise<(Partial<DrugInformationInput> & Omit<DrugInformation, keyof DrugInformationInput>) | undefined> {
  const [r] = await sql<{ code: string; name: string; name_en: string; form: string; class: string; unit_price: number; usage: Localized | null; contraindications: Localized | null; leaflet: Localized | null; version: number | null; updated_at: Date | null }[]>`
    select d.code, d.name, d.name_en, d.form, d.class, d.unit_price, i.usage, i.contraindications, i.leaflet, i.version, i.updated_at
    from drugs d left join drug_information i using (code) where d.code = ${code}`;
  if (!r) return undefined;
  return {
    code: r.code,
    name: { 'zh-CN': r.name, en: r.name_en },
    form: r.form,
    class: r.class,
    unitPrice: r.unit_price,
    currency: 'CNY',
    ...(r.usage ? { usage: r.usage, contraindications: r.contraindications!, leaflet: r.leaflet!, version: r.version!, updatedAt: iso(r.updated_at)! } : {}),
  };
}

/**
 * One admin edit: `write` stores it in a transaction and answers the row's new version (none: no such
 * row), and the edit, with what it set, who and that version, is appended to information_changes in
 * the same transaction.
 */
async function versionedEdit(
  sql: Sql,
  change: { kind: string; key: string; data: unknown; by: string },
  write: (tx: Sql) => Promise<{ version: number }[]>,
): Promise<number | undefined> {
  return sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    const [row] = await write(tx);
    if (!row) return undefined;
    await tx`insert into information_changes (kind, key, version, data, changed_by) values (${change.kind}, ${change.key}, ${row.version}, ${tx.json(change.data as never)}, ${change.by})`;
    return row.version;
  }) as Promise<number | undefined>;
}

/** An admin's edit of a drug's information: the next version, and its history row. Undefined for an unknown drug. */
export async function setDrugInformation(sql: Sql, code: string, info: DrugInformationInput, by: string): Promise<number | undefined> {
  return versionedEdit(sql, { kind: 'drug-information', key: code, data: info, by }, async (tx) => {
    const [drug] = await tx`select code from drugs where code = ${code} for update`;
    if (!drug) return [];
    return tx<{ version: number }[]>`
      insert into drug_information (code, usage, contraindications, leaflet, updated_by)
      values (${code}, ${tx.json(info.usage as never)}, ${tx.json(info.contraindications as never)}, ${tx.json(info.leaflet as never)}, ${by})
      on conflict (code) do update set usage = excluded.usage, contraindications = excluded.contraindications, leaflet = excluded.leaflet,
        version = drug_information.version + 1, updated_at = now(), updated_by = excluded.updated_by
      returning version`;
  });
}

/** An admin's new price for a drug (per unit) or an exam: kept across restarts (the seed no longer resets it). */
export async function setPrice(sql: Sql, kind: 'drug' | 'exam', code: string, amount: number, by: string): Promise<number | undefined> {
  return versionedEdit(sql, { kind: `${kind}-price`, key: code, data: { amount }, by }, (tx) =>
    kind === 'drug'
      ? tx<{ version: number }[]>`update drugs set unit_price = ${amount}, price_version = price_version + 1 where code = ${code} returning price_version as version`
      : tx<{ version: number }[]>`update exam_catalogue set price = ${amount}, price_version = price_version + 1 where code = ${code} returning price_version as version`,
  );
}

export interface GuideDepartment {
  code: string;
  name: Localized;
  building: Localized;
  floor: number;
  location: Localized;
  hours: Localized;
}
export interface GuideProcedure {
  code: string;
  title: Localized;
  steps: Localized[];
}

export async function getGuide(sql: Sql): Promise<{ departments: (GuideDepartment & { version: number; updatedAt: string })[]; procedures: (GuideProcedure & { version: number; updatedAt: string })[] }> {
  const departments = await sql<{ code: string; name: Localized; building: Localized; floor: number; location: Localized; hours: Localized; version: number; updated_at: Date }[]>`
    select code, name, building, floor, location, hours, version, updated_at from guide_departments order by position, code`;
  const procedures = await sql<{ code: string; title: Localized; steps: Localized[]; version: number; updated_at: Date }[]>`
    select code, title, steps, version, updated_at from guide_procedures order by position, code`;
  return {
    departments: departments.map(({ updated_at, ...d }) => ({ ...d, updatedAt: iso(updated_at)! })),
    procedures: procedures.map(({ updated_at, ...p }) => ({ ...p, updatedAt: iso(updated_at)! })),
  };
}

/** An admin's edit of a department's entry (a new one is added at the end): its version. */
export async function setGuideDepartment(sql: Sql, d: GuideDepartment, by: string): Promise<number> {
  return (await versionedEdit(sql, { kind: 'guide-department', key: d.code, data: d, by }, (tx) => {
    const j = (v: unknown) => tx.json(v as never);
    return tx<{ version: number }[]>`
      insert into guide_departments (code, position, name, building, floor, location, hours, updated_by)
      values (${d.code}, (select coalesce(max(position), 0) + 1 from guide_departments), ${j(d.name)}, ${j(d.building)}, ${d.floor}, ${j(d.location)}, ${j(d.hours)}, ${by})
      on conflict (code) do update set name = excluded.name, building = excluded.building, floor = excluded.floor, location = excluded.location,
        hours = excluded.hours, version = guide_departments.version + 1, updated_at = now(), updated_by = excluded.updated_by
      returning version`;
  }))!;
}

/** An admin's edit of a procedure (a new one is added at the end): its version. */
export async function setGuideProcedure(sql: Sql, p: GuideProcedure, by: string): Promise<number> {
  return (await versionedEdit(
    sql,
    { kind: 'guide-procedure', key: p.code, data: p, by },
    (tx) => tx<{ version: number }[]>`
      insert into guide_procedures (code, position, title, steps, updated_by)
      values (${p.code}, (select coalesce(max(position), 0) + 1 from guide_procedures), ${tx.json(p.title as never)}, ${tx.json(p.steps as never)}, ${by})
      on conflict (code) do update set title = excluded.title, steps = excluded.steps,
        version = guide_procedures.version + 1, updated_at = now(), updated_by = excluded.updated_by
      returning version`,
  ))!;
}

export interface InformationChange {
  id: string;
  kind: string;
  key: string;
  version: number;
  data: unknown;
  changedBy: string;
  changedAt: string;
}

/** The history of admin edits, newest first. */
export async function listInformationChanges(sql: Sql, f: { kind?: string; key?: string; limit: number }): Promise<InformationChange[]> {
  const rows = await sql<{ id: bigint; kind: string; key: string; version: number; data: unknown; changed_by: string; changed_at: Date }[]>`
    select * from information_changes where true
      ${f.kind ? sql`and kind = ${f.kind}` : sql``}
      ${f.key ? sql`and key = ${f.key}` : sql``}
    order by id desc limit ${f.limit}`;
  return rows.map((r) => ({ id: String(r.id), kind: r.kind, key: r.key, version: r.version, data: r.data, changedBy: r.changed_by, changedAt: iso(r.changed_at)! }));
}

/** Seeds what is missing: a row an admin has edited (or added) stays as it is. */
export async function seedInformation(
  sql: Sql,
  s: { drugs: ({ code: string } & DrugInformationInput)[]; guide: { departments: GuideDepartment[]; procedures: GuideProcedure[] } },
): Promise<void> {
  const j = (v: unknown) => sql.json(v as never);
  for (const d of s.drugs) {
    await sql`
      insert into drug_information (code, usage, contraindications, leaflet)
      select ${d.code}, ${j(d.usage)}, ${j(d.contraindications)}, ${j(d.leaflet)} where exists (select 1 from drugs where code = ${d.code})
      on conflict (code) do nothing`;
  }
  for (const [i, d] of s.guide.departments.entries()) {
    await sql`
      insert into guide_departments (code, position, name, building, floor, location, hours)
      values (${d.code}, ${i + 1}, ${j(d.name)}, ${j(d.building)}, ${d.floor}, ${j(d.location)}, ${j(d.hours)})
      on conflict (code) do nothing`;
  }
  for (const [i, p] of s.guide.procedures.entries()) {
    await sql`
      insert into guide_procedures (code, position, title, steps) values (${p.code}, ${i + 1}, ${j(p.title)}, ${j(p.steps)})
      on conflict (code) do nothing`;
  }
}
