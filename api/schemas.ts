// zod schemas at the API's edge. The same schemas validate requests and generate /openapi.json.
import { z } from '@hono/zod-openapi';
import { DEFAULT_LANGUAGE, LANGUAGES } from '../activities/messages.js';
import { IDENTITY_METHODS } from '../activities/verification.js';
import { durationMs, isIsoDuration } from '../workflows/duration.js';
import { CONSENT_SCOPES, IN_PERSON_REASONS, type PathwayTemplate } from '../workflows/definitions.js';

export const DEPARTMENTS = [
  'general-medicine',
  'cardiology',
  'endocrinology',
  'respiratory',
  'gastroenterology',
  'neurology',
  'dermatology',
  'pediatrics',
  'gynecology',
  'orthopedics',
  'ophthalmology',
  'ent',
  'psychiatry',
] as const;

// PostgreSQL text cannot hold NUL, nor jsonb a lone UTF-16 surrogate (half an emoji, as a front end
// that cuts strings by code unit may send): refusing them here keeps such input a 400, never a stuck retry.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const storable = (v: string): boolean => !v.includes('\u0000') && !LONE_SURROGATE.test(v);
const NO_NUL = [storable, 'must be well-formed text without NUL characters'] as const;
// The same rules as patterns for the OpenAPI document, so that a client (or a fuzzer) that follows it sends what is taken:
// no NUL; text with something besides white space (it is trimmed). (Not the years 1900 to 2999 of dates and times: a
// pattern beside `format` makes a fuzzer filter out most of the dates it draws.)
export const NO_NUL_PATTERN = '^[^\\u0000]*$';
export const TEXT_PATTERN = '^[^\\u0000]*[^\\s\\u0000\\ufeff][^\\u0000]*$';
/** What `isIsoDuration` takes (workflows/duration.ts), without look-ahead: weeks, days, and a time part that is not empty. */
const TIME_PART = 'T([0-9]+H([0-9]+M)?([0-9]+(\\.[0-9]+)?S)?|[0-9]+M([0-9]+(\\.[0-9]+)?S)?|[0-9]+(\\.[0-9]+)?S)';
const DURATION_PATTERN = `^P([0-9]+W([0-9]+D)?(${TIME_PART})?|[0-9]+D(${TIME_PART})?|${TIME_PART})$`;
/** Ids are opaque: any non-empty string up to 200 characters; one that names nothing is a 404. */
export const Id = z.string().min(1).max(200).refine(...NO_NUL).openapi({ pattern: NO_NUL_PATTERN });
export const Text = (max: number) => z.string().trim().min(1).max(max).refine(...NO_NUL).openapi({ pattern: TEXT_PATTERN });
export const Department = z.enum(DEPARTMENTS);
export const Mode = z.enum(['online', 'offline']);
/** PostgreSQL int4: larger numbers are refused at the edge, not by the database. */
export const INT4_MAX = 2_147_483_647;
const inCareEra = (iso: string): boolean => iso >= '1900' && iso < '3000';
/** "Not in the future" for a calendar date: compared with today where the day is furthest ahead (UTC+14). */
const notAfterToday = (d: string): boolean => d <= new Date(Date.now() + 14 * 3_600_000).toISOString().slice(0, 10);
/** A calendar day, YYYY-MM-DD, that exists (a hospital's local day: reconciliation). */
export const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date, YYYY-MM-DD')
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'a real date')
  .openapi({ example: '2026-11-29' });
export const Timestamp = z.iso
  .datetime({ offset: true })
  .refine(inCareEra, 'a time between the years 1900 and 2999')
  .openapi({ example: '2026-12-01T09:00:00+08:00', description: 'ISO 8601 with offset, in the years 1900 to 2999' });
export const Duration = z
  .string()
  .refine(isIsoDuration, 'an ISO 8601 duration of weeks, days, hours, minutes or seconds, such as PT15M or P1D')
  .openapi({ example: 'PT15M', pattern: DURATION_PATTERN });
/**
 * A template's duration between `min` and `max` (ISO 8601 both): a template's journeys and programs run
 * on its durations, so one of a hundred years (a date past 9999) or of none is refused when it is stored.
 */
export const BoundedDuration = (min: string, max: string) =>
  Duration.refine((d) => !isIsoDuration(d) || (durationMs(d) >= durationMs(min) && durationMs(d) <= durationMs(max)), `from ${min} to ${max}`).openapi({
    description: `An ISO 8601 duration from ${min} to ${max}`,
  });
const IsoDate = z.iso.date().refine(inCareEra, 'a date between the years 1900 and 2999').openapi({ description: 'YYYY-MM-DD, in the years 1900 to 2999' });

function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// ---- reference data ----------------------------------------------------------------------

const LicenceNumber = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9-]{3,39}$/, '4 to 40 letters, digits and hyphens')
  .openapi({ description: "The clinician's practising licence number (执业证书编号)" });
const YearsOfPractice = z.number().int().min(0).max(80).openapi({ description: 'Whole years of practice; an online consultation needs at least 3' });

export const ClinicianInput = z
  .strictObject({
    name: Text(200),
    role: z.enum(['doctor', 'pharmacist', 'coordinator']),
    department: Department.optional(),
    licenceNumber: LicenceNumber.optional(),
    yearsOfPractice: YearsOfPractice.optional(),
  })
  .openapi('ClinicianInput');
// Responses are one open object each (not an `allOf` of the closed input and more fields, which no body satisfies).
export const Clinician = z
  .object({
    id: Id,
    name: z.string(),
    role: ClinicianInput.shape.role,
    department: z.string().optional(),
    licenceNumber: z.string().nullable(),
    yearsOfPractice: z.number().int().nullable(),
    verifiedAt: Timestamp.nullable().openapi({ description: "When an admin verified the licence; null: unverified (cannot be booked, consult, prescribe or review)" }),
    createdAt: Timestamp,
  })
  .openapi('Clinician');
export const ClinicianVerificationInput = z
  .strictObject({ licenceNumber: LicenceNumber, yearsOfPractice: YearsOfPractice })
  .openapi('ClinicianVerificationInput');

export const PatientInput = z
  .strictObject({
    name: Text(200),
    phone: z.string().regex(/^\+?[0-9][0-9 -]{4,19}$/, 'a phone number of digits, optionally starting with +'),
    birthDate: IsoDate.refine(notAfterToday, 'must not be in the future'),
    sex: z.enum(['F', 'M', 'O']),
    timezone: z.string().refine(isValidTimezone, 'an IANA timezone such as Asia/Shanghai').default('Asia/Shanghai'),
    language: z
      .enum(LANGUAGES)
      .default(DEFAULT_LANGUAGE)
      .openapi({ description: "The language of the patient's notifications: zh-CN (the default) or en" }),
  })
  .openapi('PatientInput');
export const Patient = z
  .object({
    id: Id,
    name: z.string(),
    phone: z.string(),
    birthDate: z.iso.date(),
    sex: PatientInput.shape.sex,
    timezone: z.string(),
    language: z.enum(LANGUAGES),
    createdAt: Timestamp,
  })
  .openapi('Patient');

export const IdentityMethod = z
  .enum(IDENTITY_METHODS)
  .openapi({ description: 'How the real-name identity was checked' });
export const IdentityVerificationInput = z
  .strictObject({
    method: IdentityMethod,
    reference: Text(100).optional().openapi({ description: "The check's own reference (a document or provider record number)" }),
  })
  .openapi('IdentityVerificationInput');
export const IdentityVerification = z
  .object({
    id: Id,
    patientId: Id,
    method: IdentityMethod,
    source: z.enum(['coordinator', 'identity-provider']),
    verifiedBy: z.string(),
    verifiedAt: Timestamp,
    reference: z.string().optional(),
  })
  .openapi('IdentityVerification');
export const PatientRecord = Patient.extend({
  identity: IdentityVerification.nullable().openapi({ description: 'The newest real-name verification; null: unverified (no online consultation, no prescription paid)' }),
}).openapi('PatientRecord');
// ---- consent (issue 10, rule 6) -----------------------------------------------------------------
export const ConsentScope = z.enum(CONSENT_SCOPES).openapi({
  description: '`record-sharing`: the record may be sent to another facility (referrals); `outreach`: reminders (appointments, medication, measurements, follow-ups, refills) and education',
});
export const Consent = z
  .object({
    scope: ConsentScope,
    granted: z.boolean(),
    changedAt: Timestamp.openapi({ description: 'When it was last changed; never changed: when the patient registered (consent is given at registration)' }),
    changedBy: z.string().openapi({ description: '`<role>:<id>` of who changed it (the patient, or staff on their behalf), or `registration`' }),
    reason: z.string().optional(),
  })
  .openapi('Consent');
export const ConsentInput = z
  .strictObject({
    granted: z.boolean(),
    reason: Text(500).optional().openapi({ description: 'Why, in the words of whoever changes it (kept with the change)' }),
  })
  .openapi('ConsentInput');

export const IdentityWebhook = z
  .strictObject({ patientId: Id, method: IdentityMethod, verifiedAt: Timestamp, reference: Text(100) })
  .openapi('IdentityWebhook');

export const SlotInput = z
  .strictObject({
    doctorId: Id,
    department: Department,
    start: Timestamp,
    end: Timestamp,
    capacity: z.number().int().min(1).max(500),
    mode: Mode,
  })
  .refine((s) => Date.parse(s.end) > Date.parse(s.start), { path: ['end'], message: 'must be after start' })
  .openapi('SlotInput');
export const Slot = z
  .object({
    id: Id,
    doctorId: Id,
    department: z.string(),
    start: Timestamp,
    end: Timestamp,
    capacity: z.number().int(),
    remaining: z.number().int(),
    mode: Mode,
  })
  .openapi('Slot');
export const SlotQuery = z.strictObject({
  department: Department.optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
  mode: Mode.optional(),
});

export const PathwayTemplateSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes'),
    version: z.number().int().min(1).max(INT4_MAX),
    name: Text(200),
    modes: z.array(Mode).min(1),
    fees: z.strictObject({ registration: z.number().int().min(0).max(INT4_MAX) }),
    // The bounds (docs/architecture.md, "Template bounds"): windows of up to a year, SLAs of days.
    paymentWindow: BoundedDuration('PT1S', 'P7D'),
    appointmentReminders: z.array(BoundedDuration('PT1S', 'P30D')).max(10),
    nearTurnAhead: z.number().int().min(0).max(1000),
    noShowGrace: BoundedDuration('PT1S', 'P1D'),
    consultStartSla: BoundedDuration('PT1S', 'P1D'),
    pharmacistReviewSla: BoundedDuration('PT1S', 'P7D'),
    prescriptionValidity: BoundedDuration('PT1M', 'P90D'),
    bookingWindow: BoundedDuration('PT1S', 'P366D').optional(),
    outcomeSla: BoundedDuration('PT1S', 'P7D').optional(),
    referralResponseSla: BoundedDuration('PT1S', 'P30D').optional(),
    deliverySla: BoundedDuration('PT1S', 'P30D').optional(),
    examResultSla: BoundedDuration('PT1S', 'P30D').optional(),
  })
  .openapi('PathwayTemplate') satisfies z.ZodType<PathwayTemplate>;

// ---- journeys ----------------------------------------------------------------------------

export const JourneyStatus = z.enum(['active', 'completed', 'cancelled', 'no-show', 'redirected', 'referred-offline']);
export const Guardian = z
  .strictObject({
    name: Text(200),
    relation: z.enum(['parent', 'grandparent', 'legal-guardian', 'other-relative']),
    verified: z.boolean().openapi({ description: "The guardian's identity and relation to the child were checked; an online journey needs true" }),
  })
  .openapi('Guardian');

export const JourneyInput = z
  .strictObject({
    patientId: Id,
    mode: Mode,
    complaint: Text(2000),
    pathwayId: Id.optional(),
    followUpOf: z
      .strictObject({
        diagnosis: Text(500),
        visitDate: IsoDate.refine(notAfterToday, 'must not be in the future'),
        facility: Text(200),
      })
      .optional(),
    guardian: Guardian.optional().openapi({ description: 'Required (and verified) for an online journey of a child under 6: 422 `guardian-required` otherwise' }),
  })
  .openapi('JourneyInput');

export const BookInput = z.strictObject({ slotId: Id }).openapi('BookInput');
// ---- post-visit items in an outcome ------------------------------------------------------

export const Frequency = z.enum(['qd', 'bid', 'tid', 'qid', 'qn']).openapi({ description: 'qd 08:00; bid 08:00, 20:00; tid 08:00, 12:00, 18:00; qid 08:00, 12:00, 16:00, 20:00; qn 21:00' });
export const PrescriptionItemInput = z
  .strictObject({
    drugCode: Id,
    dose: Text(100),
    frequency: Frequency,
    days: z.number().int().min(1).max(365),
    quantity: z.number().int().min(1).max(10_000),
  })
  .openapi('PrescriptionItemInput');
/** Up to 5 drugs is a prescribing rule (422 too-many-drugs), so the shape allows more. */
export const PrescriptionItems = z.array(PrescriptionItemInput).min(1).max(50);
export const PrescriptionInput = z
  .strictObject({ items: PrescriptionItems, long: z.boolean().optional() })
  .openapi('PrescriptionInput');
export const ExamOrderInput = z.strictObject({ code: Id, name: Text(200).optional() }).openapi('ExamOrderInput');
export const ReferralOrderInput = z
  .strictObject({
    facilityId: Id,
    department: Department,
    reason: Text(1000),
    urgency: z.enum(['routine', 'urgent']),
    consent: z.boolean().openapi({ description: 'The patient agreed to share the record with the facility (required: true)' }),
  })
  .openapi('ReferralOrderInput');

// ---- prescriptions ------------------------------------------------------------------------

const PrescriptionStatus = z.enum([
  'pending-review', 'revision-requested', 'awaiting-payment', 'paid', 'dispensed', 'shipped', 'delivered', 'delivery-failed', 'on-hold', 'expired', 'cancelled',
]).openapi({ description: '`on-hold`: paid, but its stored content no longer matched its signature when it was to be dispensed; never dispensed, a coordinator cancels it (refund)' });
/** The prescriber's electronic signature of the current version (issue 10, rule 5). */
export const PrescriptionSignatureView = z
  .object({
    signer: Id.openapi({ description: "The prescribing doctor's id" }),
    algorithm: z.string().openapi({ description: '`Ed25519` for CarePath-kept keys; a CA-issued certificate service names its own' }),
    keyId: z.string(),
    digest: z.string().regex(/^[0-9a-f]{64}$/).openapi({ description: "Lowercase hex SHA-256 of the version's RFC 8785 canonical content (id, version, journey, patient, prescriber, long, items)" }),
    signedAt: Timestamp,
  })
  .openapi('PrescriptionSignature');
const PaymentView = z.object({
  orderId: z.string(),
  amount: z.number().int(),
  currency: z.literal('CNY'),
  status: z.enum(['pending', 'paid', 'expired', 'refunded']),
  dueBy: Timestamp,
});
export const PrescriptionSummary = z
  .object({
    id: Id,
    journeyId: Id,
    patientId: Id,
    prescriberId: Id,
    version: z.number().int(),
    status: PrescriptionStatus,
    items: z.array(
      z.object({ drugCode: z.string(), name: z.string(), dose: z.string(), frequency: Frequency, days: z.number().int(), quantity: z.number().int(), unitPrice: z.number().int() }),
    ),
    long: z.boolean(),
    review: z.object({ pharmacistId: Id, decision: z.enum(['approve', 'reject']), reason: z.string().optional(), at: Timestamp }).optional(),
    payment: PaymentView.optional(),
    delivery: z.object({ deliveryId: z.string(), status: z.enum(['ordered', 'picked-up', 'in-transit', 'delivered', 'failed']) }).optional(),
    reminders: z
      .object({ timezone: z.string(), times: z.array(z.string()), next: z.string().nullable().openapi({ description: 'ISO time with offset, null when the course is over' }) })
      .optional(),
    signature: PrescriptionSignatureView.optional().openapi({ description: 'Every version issued is signed by its prescriber; absent only on prescriptions issued before signing' }),
  })
  .openapi('PrescriptionSummary');
export const PrescriptionQuery = z.strictObject({
  status: PrescriptionStatus.optional(),
  patientId: Id.optional().openapi({ description: "One patient's prescriptions (a patient sees only their own whatever this says)" }),
  limit: z.coerce.number().int().min(1).max(200).default(100),
});
export const ReviewInput = z
  .strictObject({ decision: z.enum(['approve', 'reject']), reason: Text(1000).optional() })
  .refine((r) => r.decision === 'approve' || r.reason !== undefined, { message: 'a rejection needs a reason', path: ['reason'] })
  .openapi('ReviewInput');
export const RevisionInput = z.strictObject({ items: PrescriptionItems }).openapi('RevisionInput');
export const DoseInput = z.strictObject({ scheduledAt: Timestamp, taken: z.boolean() }).openapi('DoseInput');
export const DoseAnswer = z.object({ prescriptionId: Id, scheduledAt: Timestamp, taken: z.boolean() }).openapi('DoseAnswer');

export const CancelInput = z.strictObject({ reason: Text(500) }).openapi('CancelInput');
/** The outcome's fields but `program`, which api/routes/journeys.ts adds from api/program-schemas.ts (that file builds on this one). */
export const OutcomeFields = z.strictObject({
  diagnosis: z.strictObject({ code: Text(32).optional(), text: Text(1000) }),
  notes: z.string().max(10_000).refine(...NO_NUL).openapi({ pattern: NO_NUL_PATTERN }),
  // Post-visit items: each becomes a child workflow; the prescribing rules are checked before anything is recorded.
  prescriptions: z.array(PrescriptionInput).max(10).optional(),
  exams: z.array(ExamOrderInput).max(20).optional(),
  referral: ReferralOrderInput.optional(),
  // A follow-up booking from the outcome is not built yet: a non-empty one is a 422.
  followUp: z.unknown().optional(),
  kind: z
    .enum(['treated', 'needs-in-person'])
    .optional()
    .openapi({ description: '`needs-in-person` ends an online visit so the patient is seen in person: nothing may be prescribed or ordered (422 `in-person-only`), the journey closes `referred-offline` and an offline journey starts' }),
  reason: z.enum(IN_PERSON_REASONS).optional().openapi({ description: 'Why in person (required with `needs-in-person`); the patient is told in their language' }),
});

export const TaskKinds = ['escalation', 'pharmacist-review', 'prescription-revision', 'abnormal-result', 'referral-declined', 'vital-alert', 'adherence', 'followup-missed', 'consultation-reply', 'mdt-opinion', 'mdt-conclusion', 'remote-assign', 'remote-opinion', 'finance-exception'] as const;
export const Task = z
  .object({
    id: z.string(),
    kind: z.enum(TaskKinds),
    role: z.string(),
    status: z.enum(['open', 'done', 'cancelled']),
    subject: z
      .object({ type: z.enum(['journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt', 'remote', 'reconciliation']), id: z.string() })
      .openapi({ description: 'The item the task is about' }),
    action: z.string().openapi({ description: 'What the person who takes the task is asked to do' }),
    journeyId: z.string().optional(),
    assigneeId: z.string().optional().openapi({ description: 'The one doctor a task is for; role-wide tasks have none' }),
    dueAt: Timestamp,
    createdAt: Timestamp,
    overdue: z.boolean().openapi({ description: 'dueAt < now' }),
    tier: z.number().int().openapi({ description: 'Escalation tier (1, 2, …); other tasks 0' }),
    closedAt: Timestamp.optional(),
    closedBy: z.string().optional(),
    note: z.string().optional(),
  })
  .openapi('Task');

const ChildStatus = z.object({ id: Id, status: z.string() });
export const TimelineEntry = z.object({ seq: z.number().int(), at: Timestamp, type: z.string(), actor: z.string(), data: z.record(z.string(), z.unknown()) });

const TriageEvidence = z.object({
  concept: z.string(),
  words: z.string(),
  status: z.enum(['present', 'negated', 'history']),
});

export const Journey = z
  .object({
    id: Id,
    patientId: Id,
    mode: Mode,
    pathway: z.object({ id: z.string(), version: z.number().int() }),
    phase: z.enum(['pre-visit', 'visit', 'post-visit', 'closed']),
    status: JourneyStatus,
    step: z.string(),
    triage: z
      .object({
        department: z.string(),
        urgency: z.enum(['routine', 'urgent', 'emergency']),
        advice: z.string(),
        rule: z.string().optional().openapi({ description: 'What decided: a red-flag or urgent rule id, `department:<code>`, `child` or `fallback`' }),
        matched: z.array(TriageEvidence).optional().openapi({ description: 'The words of the complaint the decision rests on' }),
        excluded: z.array(TriageEvidence).optional().openapi({ description: 'Words set aside: negated or in the past' }),
      })
      .optional(),
    appointment: z
      .object({ slotId: Id, doctorId: Id, start: Timestamp, end: Timestamp, queueNumber: z.number().int().optional() })
      .optional(),
    payment: z
      .object({
        orderId: z.string(),
        amount: z.number().int(),
        currency: z.literal('CNY'),
        status: z.enum(['pending', 'paid', 'expired', 'refunded']),
        dueBy: Timestamp,
      })
      .optional(),
    outcome: z
      .object({
        diagnosis: z.object({ code: z.string().optional(), text: z.string() }),
        notes: z.string(),
        recordedBy: z.string(),
        recordedAt: Timestamp,
        kind: z.literal('needs-in-person').optional(),
        reason: z.enum(IN_PERSON_REASONS).optional(),
      })
      .optional(),
    guardian: Guardian.optional(),
    referredFrom: Id.optional().openapi({ description: 'The online journey that referred this one to in-person care' }),
    referredTo: Id.optional().openapi({ description: 'The offline journey this one was referred to (status `referred-offline`)' }),
    children: z
      .object({ prescriptions: z.array(ChildStatus), exams: z.array(ChildStatus), referrals: z.array(ChildStatus) })
      .optional()
      .openapi({ description: 'The post-visit items the outcome started, each with its status; the journey completes when all have settled' }),
    timeline: z.array(TimelineEntry),
    openTasks: z.array(Task),
  })
  .openapi('Journey');

export const OutcomeResult = Journey.extend({
  created: z
    .object({ prescriptions: z.array(Id), exams: z.array(Id), referrals: z.array(Id), programs: z.array(Id) })
    .openapi({ description: 'The ids of the post-visit items and the care program this outcome created' }),
}).openapi('OutcomeResult');

/** One prescription as GET /v1/prescriptions/{id} answers: with its own timeline and open tasks. */
export const Prescription = PrescriptionSummary.extend({ timeline: z.array(TimelineEntry), openTasks: z.array(Task) }).openapi('Prescription');

export const JourneySummary = Journey.omit({ timeline: true, openTasks: true })
  .extend({ createdAt: Timestamp, updatedAt: Timestamp, overdue: z.boolean() })
  .openapi('JourneySummary');

export const booleanParam = z.enum(['true', 'false']).transform((v) => v === 'true');
export const JourneyQuery = z.strictObject({
  status: JourneyStatus.optional(),
  phase: z.enum(['pre-visit', 'visit', 'post-visit', 'closed']).optional(),
  step: z.enum(['triage', 'booking', 'awaiting-payment', 'booked', 'checked-in', 'in-consultation', 'follow-through', 'done']).optional(),
  department: Department.optional(),
  patientId: Id.optional(),
  overdue: booleanParam.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

export const TaskQuery = z.strictObject({
  kind: z.enum(TaskKinds).optional(),
  status: z.enum(['open', 'done', 'cancelled']).default('open'),
  overdue: booleanParam.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(100),
});
export const TaskCompleteInput = z.strictObject({ note: Text(1000) }).openapi('TaskCompleteInput');

export const CheckInResult = z.object({ queueNumber: z.number().int(), ahead: z.number().int() }).openapi('CheckInResult');

// ---- partners ----------------------------------------------------------------------------

export const PaymentWebhook = z
  .strictObject({
    orderId: Id,
    status: z.enum(['paid', 'failed']),
    amount: z.number().int().min(0).max(INT4_MAX),
    paidAt: Timestamp,
    channel: z.enum(['wechat', 'alipay', 'insurance']),
  })
  .openapi('PaymentWebhook');

export const CourierWebhook = z
  .strictObject({
    deliveryId: Id,
    status: z.enum(['picked-up', 'in-transit', 'delivered', 'failed']),
    at: Timestamp,
  })
  .openapi('CourierWebhook');

export const Notification = z
  .object({
    id: z.string(),
    patientId: z.string(),
    kind: z.string(),
    title: z.string(),
    body: z.string(),
    at: Timestamp,
    refs: z.record(z.string(), z.string()),
  })
  .openapi('Notification');

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

/** Path ids: any shape is accepted here; one that cannot name anything is a 404 (see `opaqueIds`). */
export const IdParam = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' } }) });
/** A patient's id and one of their consent scopes. */
export const ConsentParams = IdParam.extend({ scope: ConsentScope.openapi({ param: { name: 'scope', in: 'path' } }) });
export const canNameSomething = (id: string): boolean => id.length > 0 && id.length <= 200 && storable(id);

// ==== partners' webhooks for exams and referrals, catalogue, exams and referrals ================
// (kept together at the end of the file; other sections belong to other routes)

const ResultSummary = Text(4000);
const AppointmentNote = Text(1000);

export const LabWebhook = z
  .strictObject({
    examId: Id,
    summary: ResultSummary,
    abnormal: z.boolean().openapi({ description: 'An abnormal result opens a task for the ordering doctor' }),
  })
  .openapi('LabWebhook');

/** A facility's (or a coordinator's) answer to a referral: an accepted one needs the appointment time. */
const referralResponseFields = {
  decision: z.enum(['accepted', 'declined']),
  appointmentAt: Timestamp.optional().openapi({ description: 'Required when accepted (and only then)' }),
  note: AppointmentNote.optional(),
};
type ResponseFields = { decision: 'accepted' | 'declined'; appointmentAt?: string | undefined };
const appointmentWhenAccepted = (r: ResponseFields): boolean => (r.decision === 'accepted') === (r.appointmentAt !== undefined);
const APPOINTMENT_RULE = { path: ['appointmentAt'], message: 'required when the decision is accepted, and only then' };
/** The same rule for the OpenAPI document: `appointmentAt` with `accepted`, never with `declined`. */
const APPOINTMENT_ONE_OF = [
  { properties: { decision: { const: 'accepted' } }, required: ['appointmentAt'] },
  { properties: { decision: { const: 'declined' } }, not: { required: ['appointmentAt'] } },
];

export const FacilityResponseWebhook = z
  .strictObject({ referralId: Id, ...referralResponseFields })
  .refine(appointmentWhenAccepted, APPOINTMENT_RULE)
  .openapi('FacilityResponseWebhook', { oneOf: APPOINTMENT_ONE_OF });
export const FacilityAttendanceWebhook = z
  .strictObject({ referralId: Id, summary: ResultSummary })
  .openapi('FacilityAttendanceWebhook');
export const FacilityWebhook = z
  .union([FacilityResponseWebhook, FacilityAttendanceWebhook], {
    error: 'either a response {referralId, decision, appointmentAt?, note?} or an attendance {referralId, summary}',
  })
  .openapi('FacilityWebhook', { description: 'Either a response to a referral (decision) or the attendance that closes it (summary)' });

// ---- catalogue: drugs and facilities --------------------------------------------------------

export const DrugClass = z.enum(['ordinary', 'narcotic', 'psychotropic', 'toxic', 'radioactive']);
export const DrugQuery = z.strictObject({
  query: z
    .string()
    .trim()
    .max(100)
    .refine(...NO_NUL)
    .optional()
    .openapi({ description: 'Part of the Chinese name, the English name or the code, any case; empty: every drug', pattern: NO_NUL_PATTERN }),
  class: DrugClass.optional(),
});
export const Drug = z
  .object({
    code: z.string(),
    name: z.string().openapi({ description: 'Chinese name' }),
    nameEn: z.string(),
    form: z.string(),
    class: DrugClass.openapi({ description: 'narcotic, psychotropic, toxic and radioactive drugs are never prescribed through CarePath' }),
    unitPrice: z.number().int().openapi({ description: 'fen per unit' }),
    maxDays: z.number().int().openapi({ description: 'Longest course (7 for acute drugs, 30 for chronic ones)' }),
    chronic: z.boolean(),
    condition: z.string().optional().openapi({ description: 'The chronic condition it treats (long prescriptions need an enrolment for it)' }),
  })
  .openapi('Drug');

export const FacilityKind = z.enum(['hospital', 'community', 'lab']);
export const FacilityInput = z
  .strictObject({
    name: Text(200),
    kind: FacilityKind,
    webhookUrl: z
      .url({ protocol: /^https?$/, error: 'an http or https URL' })
      .max(2000)
      .refine(...NO_NUL)
      .optional()
      .openapi({ description: 'Where referrals are POSTed, signed like notifications; without one they are handed over by hand', pattern: '^https?://[^\\u0000]*$' }),
  })
  .openapi('FacilityInput');
export const Facility = z
  .object({
    id: Id,
    name: z.string(),
    kind: FacilityKind,
    webhookUrl: z.string().optional().openapi({ description: 'Shown to admins only' }),
    createdAt: Timestamp,
  })
  .openapi('Facility');
export const FacilityQuery = z.strictObject({ kind: FacilityKind.optional() });

// ---- exams and referrals ------------------------------------------------------------------

export const ItemPayment = z.object({
  orderId: z.string().openapi({ description: 'The orderId the payment webhook reports' }),
  amount: z.number().int().openapi({ description: 'fen' }),
  currency: z.literal('CNY'),
  status: z.enum(['pending', 'paid', 'expired', 'refunded']),
  dueBy: Timestamp,
});
const ItemTimeline = z.array(z.object({ seq: z.number().int(), at: Timestamp, type: z.string(), actor: z.string(), data: z.record(z.string(), z.unknown()) }));

export const Exam = z
  .object({
    id: Id,
    journeyId: Id,
    patientId: Id,
    doctorId: Id.openapi({ description: 'The ordering doctor' }),
    code: z.string(),
    name: z.string(),
    status: z.enum(['awaiting-payment', 'scheduled', 'completed', 'expired', 'cancelled']),
    payment: ItemPayment.optional(),
    scheduledAt: Timestamp.optional(),
    result: z.object({ summary: z.string(), abnormal: z.boolean(), at: Timestamp }).optional(),
    timeline: ItemTimeline,
    openTasks: z.array(Task),
  })
  .openapi('Exam');
export const ExamResultInput = z.strictObject({ summary: ResultSummary, abnormal: z.boolean() }).openapi('ExamResultInput');

export const Referral = z
  .object({
    id: Id,
    journeyId: Id,
    patientId: Id,
    facilityId: Id,
    department: z.string(),
    reason: z.string(),
    urgency: z.enum(['routine', 'urgent']),
    status: z.enum(['sending', 'sent', 'accepted', 'declined', 'attended', 'expired', 'cancelled']).openapi({
      description: 'sending: recorded, not yet taken by the facility; sent: waiting for its answer; cancelled: never sent, the patient withdrew consent to share their record',
    }),
    appointmentAt: Timestamp.optional(),
    note: z.string().optional(),
    summary: z.string().optional(),
    timeline: ItemTimeline,
    openTasks: z.array(Task),
  })
  .openapi('Referral');
export const ReferralResponseInput = z
  .strictObject(referralResponseFields)
  .refine(appointmentWhenAccepted, APPOINTMENT_RULE)
  .openapi('ReferralResponseInput', { oneOf: APPOINTMENT_ONE_OF });
export const ReferralAttendedInput = z.strictObject({ summary: ResultSummary }).openapi('ReferralAttendedInput');

/** `Idempotency-Key` on the POSTs that create something (api/idempotency.ts): 1 to 200 visible ASCII characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(IDEMPOTENCY_KEY)
    .optional()
    .openapi({
      description:
        'Retry safely: the first answer under this key (per caller, kept a day, unless a 5xx) is answered again to a retry with the same method, path and body, with `Idempotent-Replayed: true`. The same key with another request is 422 `idempotency-key-reused`; while the first is still running, 409 `idempotency-key-in-flight`.',
    }),
});

// ---- operations and outbound notifications ---------------------------------------------------

export const Health = z.object({ status: z.literal('ok') }).openapi('Health');
export const Readiness = z
  .object({
    status: z.enum(['ready', 'not-ready']),
    checks: z.object({ temporal: z.boolean(), postgres: z.boolean() }).openapi({ description: 'Each dependency reachable within its deadline' }),
  })
  .openapi('Readiness');

// ---- what patients look up (issue 13) ------------------------------------------------------

const LocalizedText = (max: number) => z.strictObject({ 'zh-CN': Text(max), en: Text(max) }).openapi({ description: 'In zh-CN and en' });
/** Text in both languages, as answered. */
const LocalizedOut = z.object({ 'zh-CN': z.string(), en: z.string() });
export const CodeParam = z.object({ code: z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9-]*$/, 'a code: lower-case letters, digits and hyphens').openapi({ param: { name: 'code', in: 'path' } }) });
export const PriceQuery = z.object({
  query: Text(100).optional(),
  kind: z.enum(['registration', 'consultation', 'exam', 'drug']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
});
export const PriceItem = z
  .object({
    kind: z.enum(['registration', 'consultation', 'exam', 'drug']),
    code: z.string(),
    name: LocalizedOut,
    amount: z.number().int().openapi({ description: 'fen, per unit' }),
    currency: z.literal('CNY'),
    unit: z.string().openapi({ description: '`visit`, `consultation`, `exam`, or a unit of the drug\'s form (`tablet`)' }),
    version: z.number().int().optional().openapi({ description: "Registration and consultation fees: the template's (latest) version" }),
  })
  .openapi('PriceItem');
export const DrugInformationInput = z.strictObject({ usage: LocalizedText(4000), contraindications: LocalizedText(4000), leaflet: LocalizedText(4000) }).openapi('DrugInformationInput');
export const DrugInformation = z
  .object({
    code: z.string(),
    name: LocalizedOut,
    form: z.string(),
    class: z.string(),
    unitPrice: z.number().int(),
    currency: z.literal('CNY'),
    usage: LocalizedOut.optional(),
    contraindications: LocalizedOut.optional(),
    leaflet: LocalizedOut.optional(),
    version: z.number().int().optional().openapi({ description: "The information's version (1: as seeded); absent when there is none yet" }),
    updatedAt: Timestamp.optional(),
  })
  .openapi('DrugInformation');
export const PriceInput = z.strictObject({ amount: z.number().int().min(0).max(10_000_000).openapi({ description: 'fen' }) }).openapi('PriceInput');
export const GuideDepartmentInput = z
  .strictObject({ name: LocalizedText(200), building: LocalizedText(200), floor: z.number().int().min(-5).max(100), location: LocalizedText(500), hours: LocalizedText(500) })
  .openapi('GuideDepartmentInput');
export const GuideProcedureInput = z.strictObject({ title: LocalizedText(200), steps: z.array(LocalizedText(1000)).min(1).max(30) }).openapi('GuideProcedureInput');
export const Guide = z
  .object({
    departments: z.array(
      z.object({ code: z.string(), name: LocalizedOut, building: LocalizedOut, floor: z.number().int(), location: LocalizedOut, hours: LocalizedOut, version: z.number().int(), updatedAt: Timestamp }),
    ),
    procedures: z.array(z.object({ code: z.string(), title: LocalizedOut, steps: z.array(LocalizedOut), version: z.number().int(), updatedAt: Timestamp })),
  })
  .openapi('Guide');
export const InformationChangeQuery = z.object({
  kind: z.enum(['drug-information', 'drug-price', 'exam-price', 'guide-department', 'guide-procedure']).optional(),
  key: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export const InformationChange = z
  .object({ id: z.string(), kind: z.string(), key: z.string(), version: z.number().int(), data: z.unknown(), changedBy: z.string(), changedAt: Timestamp })
  .openapi('InformationChange');
export const RecordsQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(200) });
export const RecordItem = z
  .object({
    type: z.enum(['journey', 'outcome', 'prescription', 'exam', 'referral']),
    id: z.string().openapi({ description: "The item's id (an outcome's is its journey's)" }),
    journeyId: z.string(),
    at: Timestamp,
    status: z.string(),
    detail: z.record(z.string(), z.unknown()).openapi({ description: 'Ids and codes; an outcome its diagnosis, an exam its result' }),
    href: z.string().openapi({ description: 'Where its detail is read (GET)' }),
  })
  .openapi('RecordItem');
export const Invoice = z
  .object({
    id: z.string(),
    number: z.string().openapi({ description: 'INV + the issue date (Shanghai) + a sequence number, never reused' }),
    orderId: z.string(),
    status: z.enum(['issued', 'voided']),
    items: z.array(
      z.object({
        kind: z.enum(['registration', 'drug', 'exam', 'consultation', 'remainder']),
        code: z.string(),
        name: z.string(),
        quantity: z.number().int(),
        unitPrice: z.number().int(),
        amount: z.number().int(),
      }),
    ),
    payers: z.object({ self: z.number().int(), insurance: z.number().int() }).openapi({ description: "fen: the patient's own part and medical insurance's" }),
    amount: z.number().int(),
    currency: z.literal('CNY'),
    channel: z.string().optional(),
    issuedAt: Timestamp,
    voidedAt: Timestamp.optional(),
    replaces: z.string().optional().openapi({ description: 'The invoice this one replaces (reissued after a partial refund)' }),
  })
  .openapi('Invoice');
