// Prescriptions: the drug catalogue, dispensing (once per version), the courier adapter, and the
// course's dose times in the patient's timezone. Reads for the API come from the same module.
import { DateTime } from 'luxon';
import { FREQUENCY_TIMES, type Frequency, type PrescriptionItem, type PrescriptionSnapshot } from '../workflows/definitions.js';
import { iso, type Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';
import { appendItemEvent } from './items.js';

export type DrugClass = 'ordinary' | 'narcotic' | 'psychotropic' | 'toxic' | 'radioactive';
/**
 * Classes CarePath never prescribes: its prescriptions are internet prescriptions delivered by
 * courier, and special-management drugs (narcotic, psychotropic, and medical toxic and radioactive
 * drugs) may not be issued that way.
 */
export const CONTROLLED_CLASSES: DrugClass[] = ['narcotic', 'psychotropic', 'toxic', 'radioactive'];

export interface Drug {
  code: string;
  name: string;
  nameEn: string;
  form: string;
  class: DrugClass;
  unitPrice: number;
  maxDays: number;
  chronic: boolean;
  condition?: string;
}

interface DrugRow {
  code: string;
  name: string;
  name_en: string;
  form: string;
  class: DrugClass;
  unit_price: number;
  max_days: number;
  chronic: boolean;
  condition: string | null;
}

const drugView = (r: DrugRow): Drug => ({
  code: r.code,
  name: r.name,
  nameEn: r.name_en,
  form: r.form,
  class: r.class,
  unitPrice: r.unit_price,
  maxDays: r.max_days,
  chronic: r.chronic,
  ...(r.condition ? { condition: r.condition } : {}),
});

export async function upsertDrug(sql: Sql, d: Drug): Promise<void> {
  await sql`
    insert into drugs (code, name, name_en, form, class, unit_price, max_days, chronic, condition)
    values (${d.code}, ${d.name}, ${d.nameEn}, ${d.form}, ${d.class}, ${d.unitPrice}, ${d.maxDays}, ${d.chronic}, ${d.condition ?? null})
    on conflict (code) do update set name = excluded.name, name_en = excluded.name_en, form = excluded.form, class = excluded.class,
      -- a price an admin set stays (api/routes/catalogue.ts)
      unit_price = case when drugs.price_version = 0 then excluded.unit_price else drugs.unit_price end, max_days = excluded.max_days, chronic = excluded.chronic, condition = excluded.condition`;
}

/** Searches by Chinese or English name (or code), case-insensitively. */
export async function searchDrugs(sql: Sql, f: { query?: string; class?: DrugClass }): Promise<Drug[]> {
  const like = f.query ? `%${f.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
  const rows = await sql<DrugRow[]>`
    select * from drugs where true
      ${like ? sql`and (name ilike ${like} or name_en ilike ${like} or code ilike ${like})` : sql``}
      ${f.class ? sql`and class = ${f.class}` : sql``}
    order by name_en limit 200`;
  return rows.map(drugView);
}

export async function drugsByCode(sql: Sql, codes: string[]): Promise<Map<string, Drug>> {
  const rows = await sql<DrugRow[]>`select * from drugs where code = any(${codes})`;
  return new Map(rows.map((r) => [r.code, drugView(r)]));
}

/** The chronic conditions the patient is enrolled in a care program for. */
export async function enrolledConditions(sql: Sql, patientId: string): Promise<Set<string>> {
  const rows = await sql<{ condition: string }[]>`select condition from programs where patient_id = ${patientId} and status <> 'discharged'`;
  return new Set(rows.map((r) => r.condition));
}

// ---- prescribing rules ---------------------------------------------------------------------

export const MAX_DRUGS = 5;
/** A long prescription (chronic drugs, enrolled patients only) may run up to 12 weeks. */
export const LONG_MAX_DAYS = 84;

export type PrescribingRefusal = { type: 'unknown-drug' | 'controlled-drug' | 'too-many-drugs' | 'course-too-long'; detail: string };

/**
 * Checks one prescription against the catalogue and the rules of internet prescribing, and prices
 * it. Pure: the caller loads the drugs and the patient's enrolments. The first rule broken wins,
 * in this order: unknown drug, controlled drug, too many drugs, course too long.
 */
export function checkPrescribing(
  p: { items: { drugCode: string; dose: string; frequency: Frequency; days: number; quantity: number }[]; long?: boolean },
  drugs: Map<string, Drug>,
  enrolled: Set<string>,
): { ok: true; items: PrescriptionItem[] } | { ok: false; refusal: PrescribingRefusal } {
  for (const i of p.items) {
    if (!drugs.has(i.drugCode)) return { ok: false, refusal: { type: 'unknown-drug', detail: `no drug ${i.drugCode} in the catalogue` } };
  }
  for (const i of p.items) {
    const d = drugs.get(i.drugCode)!;
    if (CONTROLLED_CLASSES.includes(d.class)) {
      return { ok: false, refusal: { type: 'controlled-drug', detail: `${d.code} is a ${d.class} drug: CarePath never issues controlled drugs` } };
    }
  }
  if (p.items.length > MAX_DRUGS) return { ok: false, refusal: { type: 'too-many-drugs', detail: `at most ${MAX_DRUGS} drugs per prescription, not ${p.items.length}` } };
  for (const i of p.items) {
    const d = drugs.get(i.drugCode)!;
    const long = p.long === true && d.chronic && d.condition !== undefined && enrolled.has(d.condition);
    const limit = long ? LONG_MAX_DAYS : d.maxDays;
    if (i.days > limit) {
      const why = p.long && d.chronic && !long ? ` (a long prescription needs the patient enrolled in a care program for ${d.condition})` : '';
      return { ok: false, refusal: { type: 'course-too-long', detail: `${d.code} may be prescribed for at most ${limit} days, not ${i.days}${why}` } };
    }
  }
  return { ok: true, items: p.items.map((i) => ({ ...i, name: drugs.get(i.drugCode)!.name, unitPrice: drugs.get(i.drugCode)!.unitPrice })) };
}

// ---- the course: dose times in the patient's timezone --------------------------------------

export interface DosePlan {
  /** Distinct reminder times of the course (`08:00`, …). */
  times: string[];
  /** Each distinct time of the course, with the drugs due then, in order; ISO times with the zone's offset. */
  doses: { at: string; drugCodes: string[] }[];
}

/**
 * From the first reminder time after `from`, each item's frequency times for `days` days, in the
 * patient's timezone (wall-clock times stay put across DST changes); one entry per distinct time.
 */
export function planCourse(items: { drugCode: string; frequency: Frequency; days: number }[], timezone: string, from: string): DosePlan {
  const start = DateTime.fromISO(from, { zone: timezone });
  const byTime = new Map<number, { at: string; drugCodes: string[] }>();
  for (const item of items) {
    const times = FREQUENCY_TIMES[item.frequency];
    // Occurrences of this item: every time of day, from the first one after `from`, `days × times` in all.
    let day = start.startOf('day');
    let taken = 0;
    const total = item.days * times.length;
    while (taken < total) {
      for (const hhmm of times) {
        if (taken >= total) break;
        const [h, m] = hhmm.split(':').map(Number) as [number, number];
        const at = day.set({ hour: h, minute: m, second: 0, millisecond: 0 });
        if (at <= start) continue;
        taken += 1;
        const key = at.toMillis();
        const entry = byTime.get(key) ?? { at: at.toISO({ suppressMilliseconds: true })!, drugCodes: [] };
        entry.drugCodes.push(item.drugCode);
        byTime.set(key, entry);
      }
      day = day.plus({ days: 1 });
    }
  }
  const times = [...new Set(items.flatMap((i) => FREQUENCY_TIMES[i.frequency]))].sort();
  return { times, doses: [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v) };
}

/** Idempotent: the same plan is stored once per prescription. */
export async function storeDosePlan(sql: Sql, prescriptionId: string, plan: DosePlan): Promise<void> {
  for (const d of plan.doses) {
    await sql`
      insert into doses (prescription_id, scheduled_at, drug_codes) values (${prescriptionId}, ${d.at}, ${d.drugCodes})
      on conflict (prescription_id, scheduled_at) do nothing`;
  }
}

export type DoseAnswer = { ok: true } | { ok: false; reason: 'unknown-dose' | 'answered' };

/**
 * The patient answers for one planned dose; the first answer stands. Appends `dose.confirmed` or
 * `dose.skipped` to the prescription's own timeline in the same transaction.
 */
export async function answerDose(sql: Sql, r: { prescriptionId: string; scheduledAt: string; taken: boolean; by: string }): Promise<DoseAnswer> {
  return sql.begin(async (raw) => {
    const tx = raw as unknown as Sql;
    await tx`select id from prescriptions where id = ${r.prescriptionId} for update`;
    const [dose] = await tx<{ taken: boolean | null; scheduled_at: Date }[]>`
      select taken, scheduled_at from doses where prescription_id = ${r.prescriptionId} and scheduled_at = ${r.scheduledAt}::timestamptz`;
    if (!dose) return { ok: false as const, reason: 'unknown-dose' as const };
    if (dose.taken !== null) return { ok: false as const, reason: 'answered' as const };
    await tx`update doses set taken = ${r.taken}, answered_at = now() where prescription_id = ${r.prescriptionId} and scheduled_at = ${dose.scheduled_at}`;
    const at = iso(dose.scheduled_at)!;
    await appendItemEvent(tx, r.prescriptionId, {
      key: `dose:${at}`,
      at: new Date(),
      type: r.taken ? 'dose.confirmed' : 'dose.skipped',
      actor: r.by,
      data: { scheduledAt: at },
    });
    return { ok: true as const };
  });
}

// ---- courier ---------------------------------------------------------------------------------

/** The courier as CarePath sees it. Production swaps in the real partner's client (SF Express, …). */
export interface Courier {
  /** Places one courier order; calling it again for the same delivery id changes nothing. */
  order(o: { deliveryId: string; prescriptionId: string }): Promise<void>;
}

/** A courier that is told nothing here: the order is recorded, and the real courier's webhooks move it. */
export const awaitingCourier: Courier = { async order() {} };

/** Looks up which prescription a courier's delivery id belongs to. */
export async function findDelivery(sql: Sql, deliveryId: string): Promise<{ prescriptionId: string } | undefined> {
  const [row] = await sql<{ prescription_id: string }[]>`select prescription_id from deliveries where delivery_id = ${deliveryId}`;
  return row ? { prescriptionId: row.prescription_id } : undefined;
}

export async function prescriptionOwner(sql: Sql, id: string): Promise<Pick<PrescriptionSnapshot, 'patientId' | 'prescriberId' | 'journeyId'> | undefined> {
  const [row] = await sql<{ patient_id: string; prescriber_id: string; journey_id: string }[]>`
    select patient_id, prescriber_id, journey_id from prescriptions where id = ${id}`;
  return row ? { patientId: row.patient_id, prescriberId: row.prescriber_id, journeyId: row.journey_id } : undefined;
}

export async function listPrescriptions(
  sql: Sql,
  f: { status?: string; patientId?: string; prescriberId?: string; limit: number },
): Promise<PrescriptionSnapshot[]> {
  const rows = await sql<{ snapshot: PrescriptionSnapshot }[]>`
    select snapshot from prescriptions where true
      ${f.status ? sql`and status = ${f.status}` : sql``}
      ${f.patientId ? sql`and patient_id = ${f.patientId}` : sql``}
      ${f.prescriberId ? sql`and prescriber_id = ${f.prescriberId}` : sql``}
    order by created_at desc, id desc limit ${f.limit}`;
  return rows.map((r) => r.snapshot);
}

/** Prescription activities: dispensing, courier orders and the course's plan. */
export function prescriptionActivities(deps: ActivityDeps) {
  const { sql } = deps;
  return {
    /** Dispenses one version once: a second call for the same version is a no-op. */
    async dispense(r: { prescriptionId: string; version: number }): Promise<{ first: boolean }> {
      const rows = await sql`
        insert into dispenses (prescription_id, version) values (${r.prescriptionId}, ${r.version})
        on conflict do nothing returning prescription_id`;
      activityLog(deps).info({ prescriptionId: r.prescriptionId, version: r.version, first: rows.length === 1 }, 'dispense');
      return { first: rows.length === 1 };
    },
    /** Records the courier order, then places it with the courier (keyed by delivery id). */
    /** Heartbeated from the start: the heartbeat timeout runs from the attempt's start, database work included. */
    placeCourierOrder: (r: { deliveryId: string; prescriptionId: string; patientId: string; attempt: number }): Promise<void> =>
      whileHeartbeating(async () => {
        await sql`
          insert into deliveries (delivery_id, prescription_id, attempt) values (${r.deliveryId}, ${r.prescriptionId}, ${r.attempt})
          on conflict (delivery_id) do nothing`;
        await deps.courier.order({ deliveryId: r.deliveryId, prescriptionId: r.prescriptionId });
        activityLog(deps).info({ prescriptionId: r.prescriptionId, deliveryId: r.deliveryId }, 'courier order placed');
      }),
    async planDoses(r: { prescriptionId: string; items: { drugCode: string; frequency: Frequency; days: number }[]; timezone: string; from: string }): Promise<DosePlan> {
      const plan = planCourse(r.items, r.timezone, r.from);
      await storeDosePlan(sql, r.prescriptionId, plan);
      return plan;
    },
  };
}
