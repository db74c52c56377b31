// zod schemas of the care-program routes (/v1/program-templates, /v1/programs). Kept beside
// schemas.ts, whose shared pieces (ids, timestamps, durations, tasks) they reuse.
import { z } from '@hono/zod-openapi';
import { durationMs, isIsoDuration } from '../workflows/duration.js';
import type { ProgramPlan, ProgramTemplate, Reading } from '../workflows/definitions.js';
import { BoundedDuration, INT4_MAX, Id, Task, Text, Timestamp, TimelineEntry } from './schemas.js';
const Slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes');

/** A chronic condition's code, as program templates name it (`hypertension`, `diabetes-t2`). */
export const Condition = Slug.openapi({ description: 'The condition code of a program template, such as hypertension or diabetes-t2', example: 'hypertension' });
/** A wall-clock time in the patient's timezone. */
export const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day HH:MM (00:00 to 23:59)').openapi({ example: '08:00' });
const ClockTimes = (max: number) =>
  z
    .array(ClockTime)
    .min(1)
    .max(max)
    .refine((ts) => new Set(ts).size === ts.length, 'each time once');

const DAY_MS = 86_400_000;
/** A follow-up interval: at least a day (a shorter one would start a journey every few minutes). */
const FollowUpInterval = BoundedDuration('PT1S', 'P366D').refine((d) => !isIsoDuration(d) || durationMs(d) >= DAY_MS, 'at least one day (P1D)');

export const MeasurementType = z.enum(['bp', 'glucose', 'weight']);

// Numeric ranges a reading or a threshold can take at all; anything outside is a typing error.
const SYSTOLIC = { min: 40, max: 300 } as const;
const DIASTOLIC = { min: 20, max: 200 } as const;
const GLUCOSE = { min: 0.5, max: 50 } as const;
const WEIGHT = { min: 1, max: 500 } as const;
const mmHg = (r: { min: number; max: number }) => z.number().int().min(r.min).max(r.max).openapi({ description: 'mmHg' });
const mmol = () => z.number().min(GLUCOSE.min).max(GLUCOSE.max).openapi({ description: 'mmol/L' });

// ---- templates -----------------------------------------------------------------------------------

const BpThresholds = z
  .strictObject({ systolicHigh: mmHg(SYSTOLIC), diastolicHigh: mmHg(DIASTOLIC), systolicLow: mmHg(SYSTOLIC) })
  .refine((t) => t.systolicLow < t.systolicHigh, { path: ['systolicLow'], message: 'must be below systolicHigh' });
const GlucoseThresholds = z
  .strictObject({ fastingHigh: mmol(), fastingLow: mmol(), postprandialHigh: mmol() })
  .refine((t) => t.fastingLow < t.fastingHigh && t.fastingLow < t.postprandialHigh, { path: ['fastingLow'], message: 'must be below fastingHigh and postprandialHigh' });

export const ProgramTemplateSchema = z
  .strictObject({
    id: Slug,
    version: z.number().int().min(1).max(INT4_MAX),
    condition: Condition,
    name: Text(200).optional(),
    followUpEvery: FollowUpInterval.openapi({ description: 'A follow-up journey every this long from enrolment', example: 'P30D' }),
    followUpLead: BoundedDuration('PT1S', 'P90D').openapi({ description: 'Each follow-up journey is created this long before it is due', example: 'P3D' }),
    measurements: z
      .array(z.strictObject({ type: MeasurementType, times: ClockTimes(12), everyDays: z.number().int().min(1).max(365) }))
      .max(10),
    thresholds: z
      .strictObject({ bp: BpThresholds.optional(), glucose: GlucoseThresholds.optional() })
      .openapi({ description: 'Required for each measured type that has thresholds: bp needs thresholds.bp, glucose thresholds.glucose (weight has none)' }),
    trendReadings: z.number().int().min(1).max(100).openapi({ description: 'Readings beyond a threshold in a row that make a trend' }),
    missedDoseStreak: z.number().int().min(1).max(100).openapi({ description: 'Missed doses in a row that raise an adherence task' }),
    refillLead: BoundedDuration('PT1S', 'P90D').openapi({ description: 'A renewal journey starts this long before a medication runs out', example: 'P7D' }),
    lateGrace: BoundedDuration('PT1S', 'P7D').openapi({ description: 'An occurrence later than this (after downtime) is recorded as missed, never sent', example: 'PT2H' }),
    education: z
      .array(z.strictObject({ topic: Slug, after: BoundedDuration('PT1S', 'P366D') }))
      .max(50)
      .refine((es) => new Set(es.map((e) => e.topic)).size === es.length, 'each topic once'),
  })
  .superRefine((t, ctx) => {
    for (const type of ['bp', 'glucose'] as const) {
      if (t.measurements.some((m) => m.type === type) && !t.thresholds[type]) {
        ctx.addIssue({ code: 'custom', path: ['thresholds', type], message: `required: the template measures ${type}` });
      }
    }
    if (isIsoDuration(t.followUpLead) && isIsoDuration(t.followUpEvery) && durationMs(t.followUpLead) >= durationMs(t.followUpEvery)) {
      ctx.addIssue({ code: 'custom', path: ['followUpLead'], message: 'must be shorter than followUpEvery' });
    }
  })
  .openapi('ProgramTemplate') satisfies z.ZodType<ProgramTemplate>;

// ---- plans and enrolment -------------------------------------------------------------------------

export const ProgramMedicationInput = z
  .strictObject({
    drugCode: Id,
    dose: Text(100),
    times: ClockTimes(6).openapi({ description: "Dose times, HH:MM in the patient's timezone", example: ['08:00'] }),
    supplyDays: z.number().int().min(1).max(365).openapi({ description: 'Days of supply the patient has now' }),
  })
  .openapi('ProgramMedication');

export const ProgramPlanInput = z
  .strictObject({
    medications: z
      .array(ProgramMedicationInput)
      .max(10)
      .refine((ms) => new Set(ms.map((m) => m.drugCode)).size === ms.length, 'each drug once'),
    followUpEvery: FollowUpInterval.optional().openapi({ description: "Overrides the template's follow-up interval (at least P1D, longer than its followUpLead)" }),
  })
  .openapi('ProgramPlan') satisfies z.ZodType<ProgramPlan>;

export const EnrolInput = z
  .strictObject({
    patientId: Id,
    condition: Condition,
    templateId: Id.optional().openapi({ description: "Default: the condition's seeded template (its latest version)" }),
    doctorId: Id.optional().openapi({ description: 'The responsible doctor: required when a coordinator or admin enrols; a doctor enrols as the responsible doctor' }),
    plan: ProgramPlanInput,
  })
  .openapi('EnrolInput');

/** A care program in a visit outcome: the journey's patient, the recording doctor responsible. */
export const OutcomeProgram = EnrolInput.omit({ patientId: true, doctorId: true }).openapi('OutcomeProgram');

export const PlanChangeInput = z.strictObject({ plan: ProgramPlanInput }).openapi('PlanChangeInput');
export const ProgramStatusInput = z.strictObject({ reason: Text(500) }).openapi('ProgramStatusInput');

// ---- readings and doses --------------------------------------------------------------------------

const FUTURE_SKEW_MS = 10 * 60_000;
/** A reading's time: with an offset, and not ahead of now (a device's clock may run a few minutes fast). */
const ReadingTime = Timestamp.refine((t) => Date.parse(t) <= Date.now() + FUTURE_SKEW_MS, 'must not be in the future');

export const ReadingInput = z
  .discriminatedUnion('type', [
    z
      .strictObject({ type: z.literal('bp'), systolic: mmHg(SYSTOLIC), diastolic: mmHg(DIASTOLIC), at: ReadingTime })
      .refine((r) => r.diastolic < r.systolic, { path: ['diastolic'], message: 'must be below systolic' }),
    z.strictObject({ type: z.literal('glucose'), mmol: mmol(), context: z.enum(['fasting', 'postprandial']), at: ReadingTime }),
    z.strictObject({ type: z.literal('weight'), kg: z.number().min(WEIGHT.min).max(WEIGHT.max).openapi({ description: 'kg' }), at: ReadingTime }),
  ])
  .openapi('ReadingInput', { description: 'A blood pressure, glucose or weight reading, by type' }) satisfies z.ZodType<Reading>;

export const ReadingAnswer = z
  .object({ alert: z.object({ id: z.string(), reason: z.string() }).optional().openapi({ description: "The program's open vital alert, when this reading is beyond a threshold" }) })
  .openapi('ReadingAnswer');

export const ProgramDoseInput = z
  .strictObject({
    drugCode: Id,
    scheduledAt: Timestamp.openapi({ description: 'The dose time, as the reminder gave it (any offset naming the same instant)' }),
    taken: z.boolean(),
  })
  .openapi('ProgramDoseInput');
export const ProgramDoseAnswer = z.object({ status: z.enum(['confirmed', 'skipped']) }).openapi('ProgramDoseAnswer');

// ---- the program as read --------------------------------------------------------------------------

const ProgramStatus = z.enum(['active', 'paused', 'discharged']);
const ReadingView = z.union([
  z.object({ type: z.literal('bp'), systolic: z.number(), diastolic: z.number(), at: Timestamp }),
  z.object({ type: z.literal('glucose'), mmol: z.number(), context: z.enum(['fasting', 'postprandial']), at: Timestamp }),
  z.object({ type: z.literal('weight'), kg: z.number(), at: Timestamp }),
]);

export const ProgramSummary = z
  .object({
    id: Id,
    patientId: Id,
    condition: z.string(),
    doctorId: Id.openapi({ description: 'The responsible doctor' }),
    status: ProgramStatus,
    template: z.object({ id: z.string(), version: z.number().int() }),
    plan: z.object({
      medications: z.array(z.object({ drugCode: z.string(), dose: z.string(), times: z.array(z.string()), supplyDays: z.number().int() })),
      followUpEvery: z.string().optional(),
    }),
    timezone: z.string(),
    enrolledAt: Timestamp,
    next: z
      .array(z.object({ at: Timestamp, kind: z.enum(['medication', 'measurement', 'followup', 'refill']) }))
      .openapi({ description: 'The soonest occurrence of each schedule (empty unless active)' }),
    adherence: z.object({ taken: z.number().int(), skipped: z.number().int(), missed: z.number().int() }),
    readings: z.array(ReadingView).openapi({ description: 'The latest readings, newest first (at most 20)' }),
    openAlerts: z.array(z.object({ id: z.string(), reason: z.string(), at: Timestamp })),
    supply: z.array(z.object({ drugCode: z.string(), until: Timestamp, remainingDays: z.number().int() })),
    runs: z.number().int().openapi({ description: 'Runs of the workflow so far (it continues as new every 30 days)' }),
    journeyId: Id.optional().openapi({ description: 'The journey whose outcome enrolled the patient, if any' }),
    dischargedReason: z.string().optional(),
  })
  .openapi('ProgramSummary');

export const Program = ProgramSummary.extend({ timeline: z.array(TimelineEntry), openTasks: z.array(Task) }).openapi('Program');

export const ProgramQuery = z.strictObject({
  condition: Condition.optional(),
  status: ProgramStatus.optional(),
  patientId: Id.optional(),
});
