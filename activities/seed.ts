// Seeds the reference data every installation needs (pathway, program and consultation templates, triage rules) and, for
// `npm start -- --demo`, a few clinicians, patients and slots to click through.
import type { AnyConsultationTemplate, PathwayTemplate, ProgramTemplate } from '../workflows/definitions.js';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import drugs from '../db/seed/drugs.json' with { type: 'json' };
import exams from '../db/seed/exams.json' with { type: 'json' };
import drugInformation from '../db/seed/drug-information.json' with { type: 'json' };
import guide from '../db/seed/guide.json' with { type: 'json' };
import { seedInformation, type GuideDepartment, type GuideProcedure, type DrugInformationInput } from './information.js';
import programTemplates from '../db/seed/program-templates.json' with { type: 'json' };
import consultationTemplates from '../db/seed/consultation-templates.json' with { type: 'json' };
import triageRules from '../db/seed/triage-rules.json' with { type: 'json' };
import type { Sql } from './db.js';
import { createClinician, createPatient, insertPathway } from './reference.js';
import { upsertDrug, type Drug } from './prescriptions.js';
import { createSlot } from './slots.js';
import { recordIdentityVerification, verifyClinician } from './verification.js';
import { insertProgramTemplate } from './programs.js';
import { insertConsultationTemplate } from './consultations.js';
import { storeRules, type TriageRuleSet } from './triage.js';

export async function seedReferenceData(sql: Sql): Promise<void> {
  for (const t of pathways as PathwayTemplate[]) await insertPathway(sql, t);
  await storeRules(sql, triageRules as unknown as TriageRuleSet);
  for (const d of drugs as Drug[]) await upsertDrug(sql, d);
  for (const t of programTemplates as ProgramTemplate[]) await insertProgramTemplate(sql, t);
  for (const t of consultationTemplates as AnyConsultationTemplate[]) await insertConsultationTemplate(sql, t);
  for (const e of exams) {
    await sql`
      insert into exam_catalogue (code, name, price, daily_capacity) values (${e.code}, ${e.name}, ${e.price}, ${e.dailyCapacity})
      on conflict (code) do update set name = excluded.name, daily_capacity = excluded.daily_capacity,
        -- a price an admin set stays (api/routes/catalogue.ts)
        price = case when exam_catalogue.price_version = 0 then excluded.price else exam_catalogue.price end`;
  }
  await seedInformation(sql, {
    drugs: drugInformation as ({ code: string } & DrugInformationInput)[],
    guide: guide as { departments: GuideDepartment[]; procedures: GuideProcedure[] },
  });
}

export const DEMO = {
  doctors: [
    { id: 'doc-cardio', name: 'Dr. Li Wei', department: 'cardiology' },
    { id: 'doc-endo', name: 'Dr. Wang Fang', department: 'endocrinology' },
    { id: 'doc-resp', name: 'Dr. Zhang Min', department: 'respiratory' },
  ],
  coordinator: { id: 'coord-1', name: 'Chen Jing' },
  pharmacist: { id: 'pharm-1', name: 'Liu Yang' },
  // pat-1 reads notifications in Chinese (the default), pat-2 in English.
  patients: [
    { id: 'pat-1', name: 'Zhao Lei', phone: '+8613800000001', birthDate: '1968-04-02', sex: 'M' as const, language: 'zh-CN' as const },
    { id: 'pat-2', name: 'Sun Li', phone: '+8613800000002', birthDate: '1975-09-18', sex: 'F' as const, language: 'en' as const },
  ],
};

/** The demo's staff, for the dashboard's development sign-in page. */
export function demoUsers(): { role: 'doctor' | 'coordinator' | 'pharmacist'; id: string; name: string }[] {
  return [
    { role: 'coordinator', id: DEMO.coordinator.id, name: DEMO.coordinator.name },
    ...DEMO.doctors.map((d) => ({ role: 'doctor' as const, id: d.id, name: d.name })),
    { role: 'pharmacist', id: DEMO.pharmacist.id, name: DEMO.pharmacist.name },
  ];
}

/** Demo data: idempotent for clinicians and patients; adds tomorrow's slots once per day. */
export async function seedDemoData(sql: Sql): Promise<void> {
  // The demo's clinicians are licensed and verified, its patients real-name verified: they can do everything.
  for (const d of DEMO.doctors) {
    await createClinician(sql, { name: d.name, role: 'doctor', department: d.department }, d.id);
    await verifyClinician(sql, d.id, { licenceNumber: `DEMO-${d.id}`, yearsOfPractice: 12, verifiedBy: 'demo' });
  }
  await createClinician(sql, { name: DEMO.coordinator.name, role: 'coordinator' }, DEMO.coordinator.id);
  await createClinician(sql, { name: DEMO.pharmacist.name, role: 'pharmacist' }, DEMO.pharmacist.id);
  await verifyClinician(sql, DEMO.pharmacist.id, { licenceNumber: `DEMO-${DEMO.pharmacist.id}`, yearsOfPractice: 8, verifiedBy: 'demo' });
  for (const p of DEMO.patients) {
    await createPatient(sql, { ...p, timezone: 'Asia/Shanghai' }, p.id);
    await recordIdentityVerification(sql, { patientId: p.id, method: 'id-card', source: 'coordinator', verifiedBy: 'demo', verifiedAt: new Date().toISOString(), reference: `demo:${p.id}` });
  }
  const tomorrow = new Date(Date.now() + 86_400_000);
  tomorrow.setUTCHours(1, 0, 0, 0); // 09:00 in Shanghai
  const [existing] = await sql`select 1 from slots where start_at >= ${tomorrow} limit 1`;
  if (existing) return;
  for (const d of DEMO.doctors) {
    for (const [hour, mode] of [[0, 'offline'], [1, 'offline'], [2, 'online']] as const) {
      const start = new Date(tomorrow.getTime() + hour * 3_600_000);
      await createSlot(sql, { doctorId: d.id, department: d.department, start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString(), capacity: 5, mode });
    }
  }
}
