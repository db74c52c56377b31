// The contract shared by workflows/, activities/ and api/: message definitions, their types,
// task queue names and workflow-id builders. The API imports these objects, never strings.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const JOURNEY_TASK_QUEUE = 'carepath-journeys';
/** Workflow type names, as registered by the worker (the exported function names). */
export const PATIENT_JOURNEY_WORKFLOW = 'patientJourney';
export const LATE_PAYMENT_WORKFLOW = 'latePaymentRefund';
export const PRESCRIPTION_WORKFLOW = 'prescriptionFulfillment';
export const EXAM_WORKFLOW = 'examOrder';
export const REFERRAL_WORKFLOW = 'referral';

export const journeyWorkflowId = (journeyId: string): string => `journey:${journeyId}`;
/** One refund workflow per order: a payment the provider reports twice is refunded once. */
export const latePaymentWorkflowId = (orderId: string): string => `late-payment:${orderId}`;
export const prescriptionWorkflowId = (prescriptionId: string): string => `rx:${prescriptionId}`;
export const examWorkflowId = (examId: string): string => `exam:${examId}`;
export const referralWorkflowId = (referralId: string): string => `referral:${referralId}`;

// ---- domain types -------------------------------------------------------------------------

export type Mode = 'online' | 'offline';
export type Role = 'patient' | 'doctor' | 'pharmacist' | 'coordinator' | 'admin';
export type Phase = 'pre-visit' | 'visit' | 'post-visit' | 'closed';
export type JourneyStatus = 'active' | 'completed' | 'cancelled' | 'no-show' | 'redirected' | 'referred-offline';

/** Why an online visit ended as "needs in-person care": told to the patient in their language. */
export const IN_PERSON_REASONS = ['physical-examination', 'tests-on-site', 'condition-worsened', 'procedure', 'diagnosis-unclear'] as const;
export type InPersonReason = (typeof IN_PERSON_REASONS)[number];

/** Who answers for a young child in an online journey (recorded on the journey). */
export interface Guardian {
  name: string;
  relation: 'parent' | 'grandparent' | 'legal-guardian' | 'other-relative';
  /** The guardian's identity and relation were checked. */
  verified: boolean;
}
export type Step =
  | 'triage'
  | 'booking'
  | 'awaiting-payment'
  | 'booked'
  | 'checked-in'
  | 'in-consultation'
  | 'follow-through'
  | 'done';
export type Urgency = 'routine' | 'urgent' | 'emergency';
export type PaymentStatus = 'pending' | 'paid' | 'expired' | 'refunded';

/** ISO 8601 duration such as `PT15M` or `P1D`. */
export type IsoDuration = string;

/** A pathway template as stored and as copied into a journey's input. */
export interface PathwayTemplate {
  id: string;
  version: number;
  name: string;
  modes: Mode[];
  fees: { registration: number };
  paymentWindow: IsoDuration;
  appointmentReminders: IsoDuration[];
  nearTurnAhead: number;
  noShowGrace: IsoDuration;
  consultStartSla: IsoDuration;
  pharmacistReviewSla: IsoDuration;
  prescriptionValidity: IsoDuration;
  /** How long a triaged journey may stay unbooked before it lapses (default P7D). */
  bookingWindow?: IsoDuration;
  /** How long after the consultation starts the outcome may stay unrecorded before coordinators are told. */
  outcomeSla?: IsoDuration;
  /** How long a referred facility has to answer before coordinators are told (default P2D); at twice that it expires. */
  referralResponseSla?: IsoDuration;
  /** How long a shipped prescription may take to arrive before coordinators are told (default P3D). */
  deliverySla?: IsoDuration;
  /** How long after its appointment an exam's result may take before coordinators are told (default P1D). */
  examResultSla?: IsoDuration;
}

export interface FollowUpOf {
  diagnosis: string;
  visitDate: string;
  facility: string;
}

export interface Actor {
  role: Role;
  id: string;
}

export interface JourneyInput {
  journeyId: string;
  patientId: string;
  mode: Mode;
  complaint: string;
  pathway: PathwayTemplate;
  followUpOf?: FollowUpOf;
  startedBy: Actor;
  /** The patient's birth date (YYYY-MM-DD): an online journey of a child under GUARDIAN_AGE needs `guardian`. */
  patientBirthDate?: string;
  guardian?: Guardian;
  /**
   * Pre-triaged: by the API at the door (POST /v1/journeys, since journey-one-transaction), or by the
   * online visit that referred this journey to in-person care. Without it the journey runs the triage activity.
   */
  triage?: Triage;
  /** The online journey that ended as "needs in-person care" and started this one. */
  referredFrom?: string;
}

export interface Triage {
  department: string;
  urgency: Urgency;
  advice: string;
  /** The rule that decided: a red-flag or urgent rule's id, `department:<code>`, `child` or `fallback`. */
  rule?: string;
  /** The words of the complaint the decision rests on. */
  matched?: TriageEvidence[];
  /** Words that were set aside: negated (没有胸痛) or in the past (去年中过风). */
  excluded?: TriageEvidence[];
}

export interface TriageEvidence {
  concept: string;
  words: string;
  status: 'present' | 'negated' | 'history';
}

export interface Appointment {
  slotId: string;
  doctorId: string;
  start: string;
  end: string;
  queueNumber?: number;
}

export interface Payment {
  orderId: string;
  amount: number;
  currency: 'CNY';
  status: PaymentStatus;
  dueBy: string;
}

export interface Outcome {
  diagnosis: { code?: string; text: string };
  notes: string;
  /** `needs-in-person`: the online visit ended so the patient is seen in person (absent: a treated visit). */
  kind?: 'needs-in-person';
  reason?: InPersonReason;
  recordedBy: string;
  recordedAt: string;
}

/** The children an outcome started, by id (their statuses are read from their own tables). */
export interface Children {
  prescriptions: string[];
  exams: string[];
  referrals: string[];
  /** The care program the outcome enrolled the patient in (not waited for: it lives on). */
  programs?: string[];
}

/** What the journey workflow knows about itself; the read model is a projection of this. */
export interface JourneySnapshot {
  id: string;
  patientId: string;
  mode: Mode;
  pathway: { id: string; version: number };
  phase: Phase;
  status: JourneyStatus;
  step: Step;
  triage?: Triage;
  appointment?: Appointment;
  payment?: Payment;
  outcome?: Outcome;
  /** Post-visit items the outcome started; the journey completes once each has settled. */
  children?: Children;
  guardian?: Guardian;
  /** The online journey that referred this one to in-person care. */
  referredFrom?: string;
  /** The offline journey this one was referred to (status `referred-offline`). */
  referredTo?: string;
}

export interface TimelineEvent {
  /** Idempotency key, unique per journey: a retried projection never appends twice. */
  key: string;
  at: string;
  type: TimelineType;
  actor: string;
  data: Record<string, unknown>;
}

export const TIMELINE_TYPES = [
  'journey.started',
  'triage.completed',
  'appointment.booked',
  'payment.requested',
  'payment.received',
  'payment.expired',
  'payment.refunded',
  'reminder.sent',
  'journey.checked-in',
  'queue.near-turn',
  'consultation.started',
  'outcome.recorded',
  'journey.completed',
  'journey.cancelled',
  'journey.no-show',
  'journey.redirected',
  'journey.referred-offline',
  'task.created',
  'task.escalated',
  'task.closed',
  'task.completed',
  // post-visit items, each on its own timeline
  'prescription.created',
  'prescription.approved',
  'prescription.rejected',
  'prescription.revised',
  'prescription.expired',
  'prescription.dispensed',
  'prescription.cancelled',
  /** The stored content of a version no longer matches its signature (issue 10, rule 5). */
  'prescription.signature-mismatch',
  'delivery.ordered',
  'delivery.picked-up',
  'delivery.in-transit',
  'delivery.delivered',
  'delivery.failed',
  'medication.reminder-sent',
  'dose.confirmed',
  'dose.skipped',
  'course.stopped',
  'exam.ordered',
  'exam.paid',
  'exam.scheduled',
  'exam.completed',
  'exam.expired',
  'exam.cancelled',
  'referral.sent',
  'referral.accepted',
  'referral.declined',
  'referral.attended',
  'referral.expired',
  'referral.cancelled',
  'item.settled',
  // care programs, on their own timeline
  'program.enrolled',
  'program.plan-changed',
  'program.paused',
  'program.resumed',
  'program.discharged',
  'program.continued',
  'reading.recorded',
  'alert.raised',
  'dose.missed',
  'measurement.missed',
  'reminder.missed',
  'followup.created',
  'followup.missed',
  'refill.started',
  'supply.added',
  'education.sent',
  'course.by-program',
  // online consultations (issue 12), on their own timeline
  'consultation.requested',
  'consultation.paid',
  'consultation.lapsed',
  'consultation.message',
  'consultation.taken',
  'consultation.closed',
  'consultation.rated',
  // multidisciplinary consultations (issue 12), on their own timeline
  'mdt.convened',
  'mdt.opinion',
  'mdt.reminded',
  'mdt.concluded',
  'mdt.expired',
  // remote consultations (issue 12), on their own timeline
  'remote.received',
  'remote.assigned',
  'remote.answered',
  'remote.returned',
  // consent (issue 10, rule 6), on the timeline of the workflow whose outreach was withheld
  'outreach.stopped',
  'outreach.resumed',
] as const;
export type TimelineType = (typeof TIMELINE_TYPES)[number];

export type TaskKind =
  | 'escalation'
  | 'pharmacist-review'
  | 'prescription-revision'
  | 'abnormal-result'
  | 'referral-declined'
  | 'vital-alert'
  | 'adherence'
  | 'followup-missed'
  | 'consultation-reply'
  | 'mdt-opinion'
  | 'mdt-conclusion'
  | 'remote-assign'
  | 'remote-opinion'
  | 'finance-exception';
/** The item a task is about. */
export interface TaskSubject {
  type: 'journey' | 'prescription' | 'exam' | 'referral' | 'program' | 'consultation' | 'mdt' | 'remote' | 'reconciliation';
  id: string;
}
export interface TaskChange {
  /** Deterministic id derived from the workflow and occurrence. */
  id: string;
  kind: TaskKind;
  role: Role;
  status: 'open' | 'done' | 'cancelled';
  subject: TaskSubject;
  /** What the person who takes the task is asked to do (no patient data). */
  action: string;
  /** For tasks of one person (a doctor's revision): their id. Role-wide tasks have none. */
  assigneeId?: string;
  dueAt: string;
  tier: number;
}

export type NotificationKind =
  | 'payment.due'
  | 'appointment.reminder'
  | 'queue.near-turn'
  | 'journey.cancelled'
  | 'journey.no-show'
  | 'journey.referred-offline'
  | 'payment.refunded'
  | 'prescription.approved'
  | 'prescription.rejected'
  | 'prescription.expired'
  | 'prescription.cancelled'
  | 'delivery.update'
  | 'medication.reminder'
  | 'report.ready'
  | 'exam.scheduled'
  | 'exam.cancelled'
  | 'referral.accepted'
  | 'referral.declined'
  | 'measurement.reminder'
  | 'followup.due'
  | 'refill.due'
  | 'education'
  | 'consultation.replied'
  | 'consultation.closed'
  | 'mdt.concluded'
  | 'mdt.convened'
  | 'remote.received'
  | 'remote.returned';

export interface NotificationRequest {
  /** Derived from workflow id + occurrence: the same id is stored and delivered once. */
  id: string;
  patientId: string;
  kind: NotificationKind;
  refs: Record<string, string>;
  /** Values the message is rendered from (times, amounts); never free text from the patient. */
  params: Record<string, string | number>;
}

// ---- consent (issue 10, rule 6): activities/consent.ts ---------------------------------------

/** `record-sharing`: the record may go to another facility (referrals); `outreach`: reminders and education. */
export const CONSENT_SCOPES = ['record-sharing', 'outreach'] as const;
export type ConsentScope = (typeof CONSENT_SCOPES)[number];

/**
 * Outreach: what CarePath sends a patient unasked, to remind or to teach; withheld while the patient
 * has withdrawn outreach consent. Every other kind is a transactional notice about something under way
 * (a payment due, a cancellation, a result, a delivery, a facility's answer, the queue of a visit the
 * patient is at) and goes out whatever that consent says.
 */
export const OUTREACH_KINDS: readonly NotificationKind[] = [
  'appointment.reminder',
  'medication.reminder',
  'measurement.reminder',
  'followup.due',
  'refill.due',
  'education',
];

/** A scope's consent as an activity found it when it acted: `seq` names the change (null: as given at registration). */
export interface ConsentFound {
  granted: boolean;
  seq: number | null;
  changedAt: string;
}

/**
 * What storing a notification did. `stored: false`: withheld, an outreach kind whose patient has
 * withdrawn outreach consent (nothing is in the inbox or the outbox). `outreach` is set for outreach
 * kinds only: the consent the store found.
 */
export interface NotifyResult {
  stored: boolean;
  outreach?: ConsentFound;
}

/** One transition of a journey, projected into the read model in one transaction. */
export interface Transition extends TransitionEffects {
  /** Monotonic per journey: a projection older than the stored one changes no snapshot. */
  version: number;
  snapshot: JourneySnapshot;
  events: TimelineEvent[];
  tasks?: TaskChange[];
  /**
   * Notifications of the transition (`journey-one-transaction`): stored in the same transaction and
   * queued for the outbox dispatcher, as a program's are.
   */
  notifications?: NotificationRequest[];
  /** Events that say one of them went out (event key: notification id): appended only with it. */
  announces?: Record<string, string>;
}

/**
 * What a journey's transition checks and changes besides the read model, in the projection's own
 * transaction (`journey-one-transaction`): the standing of the people the step needs, checked first (a
 * refusal writes nothing), then the slot's queue, the seat and the payment order.
 */
export interface TransitionEffects {
  standing?: VisitStandingInput;
  queue?: { op: 'start-consultation' | 'leave'; slotId: string } | { op: 'finish-consultation' };
  /** The journey's held seat given back (a no-show keeps it marked so). */
  releaseSeat?: { noShow: boolean };
  /** The order's new status, from pending only (activities/payments.ts markPayment). */
  payment?: { orderId: string; status: PaymentStatus; paidAt?: string; channel?: string };
}

/** Before a visit's step: the doctor (named, or the slot's), and for an online visit the patient. */
export interface VisitStandingInput {
  doctorId?: string;
  slotId?: string;
  mode: Mode;
  patientId: string;
}

/**
 * What a projection stored: the notifications it withheld (outreach, consent withdrawn) and the consent
 * it found; `refused` when a check of the transition (its standing) refused it, and nothing was written.
 */
export interface Recorded {
  withheld: string[];
  /** Set when the transition had an outreach notification. */
  outreach?: ConsentFound;
  refused?: { type: string; detail: string };
}

// ---- failure types (ApplicationFailure.type); the API maps them to HTTP statuses ----------

export const FailureType = {
  /** State refuses the request: 409. */
  InvalidState: 'invalid-state',
  SlotUnavailable: 'slot-unavailable',
  /** Business rules: 422. */
  FirstVisitOnline: 'first-visit-online',
  SlotMismatch: 'slot-mismatch',
  /** Only the booked doctor: 403. */
  NotBookedDoctor: 'not-booked-doctor',
  /** Unknown referenced object: 404. */
  SlotNotFound: 'slot-not-found',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/**
 * The rules of online care (the regulator's): each refusal names its rule. 422 unless noted.
 * Kept apart from FailureType so each workflow's refusals read as what they are.
 */
export const RuleFailureType = {
  /** The clinician's licence has not been verified. */
  ClinicianUnverified: 'clinician-unverified',
  /** An online consultation needs a doctor with at least ONLINE_MIN_YEARS years of practice. */
  InsufficientPractice: 'insufficient-practice',
  /** The patient's real-name identity has not been verified. */
  PatientUnverified: 'patient-unverified',
  /** An online journey for a child under GUARDIAN_AGE needs a verified guardian. */
  GuardianRequired: 'guardian-required',
  /** "Needs in-person care" ends an online visit: nothing may be prescribed or ordered in it. */
  InPersonOnly: 'in-person-only',
  /** A prescription whose content no longer matches its signature. */
  SignatureMismatch: 'signature-mismatch',
  /** Only the prescribing doctor's own request signs a prescription (403). */
  SignerNotPrescriber: 'signer-not-prescriber',
  /** The patient withdrew the consent this needs. */
  ConsentWithdrawn: 'consent-withdrawn',
} as const;
export type RuleFailureType = (typeof RuleFailureType)[keyof typeof RuleFailureType];
/** The pathway a journey takes when it names none, by mode. */
export const DEFAULT_PATHWAY = { offline: 'standard-outpatient', online: 'online-follow-up' } as const;

/** An offline journey an online visit referred to in-person care (started by an activity). */
export interface InPersonJourneyInput {
  journeyId: string;
  patientId: string;
  complaint: string;
  department: string;
  reason: InPersonReason;
  referredFrom: string;
  startedBy: Actor;
  patientBirthDate?: string;
  guardian?: Guardian;
}

/** Years of practice an online consultation needs. */
export const ONLINE_MIN_YEARS = 3;
/** Below this age (in whole years) an online journey needs a guardian. */
/** The actor of what the system does by itself (timers, the triage). */
export const SYSTEM = 'system';

/** How a timeline names who acted: `role:id`. */
export const actorName = (a: Actor): string => `${a.role}:${a.id}`;

export const GUARDIAN_AGE = 6;

/** Whole years from a birth date (YYYY-MM-DD) to `at` (in UTC): the API and the workflow count alike. */
export function ageInYears(birthDate: string, at: number): number {
  const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
  const now = new Date(at);
  const before = now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d);
  return now.getUTCFullYear() - y - (before ? 1 : 0);
}

/** The guardian rule: an online journey of a child under GUARDIAN_AGE needs a verified guardian. */
export function guardianRefusal(i: { mode: Mode; patientBirthDate?: string; guardian?: Guardian }, at: number): string | undefined {
  if (i.mode !== 'online' || !i.patientBirthDate || ageInYears(i.patientBirthDate, at) >= GUARDIAN_AGE) return undefined;
  if (!i.guardian) return `an online journey for a child under ${GUARDIAN_AGE} needs a guardian (name, relation, verified)`;
  if (!i.guardian.verified) return "the guardian's identity and relation must be verified for an online journey";
  return undefined;
}

// ---- messages -----------------------------------------------------------------------------

export interface BookInput {
  slotId: string;
  actor: Actor;
}
export interface CheckInResult {
  queueNumber: number;
  ahead: number;
}
export interface CancelInput {
  reason: string;
  actor: Actor;
}
export interface DoctorInput {
  doctorId: string;
}
export interface OutcomeInput {
  doctorId: string;
  diagnosis: { code?: string; text: string };
  notes: string;
  /** `needs-in-person`: ends an online visit for in-person care, with nothing prescribed or ordered. */
  kind?: 'needs-in-person';
  reason?: InPersonReason;
  /** Post-visit items, checked against the catalogues and rules by the API before they get here. */
  items?: PostVisitItems;
}
export interface LatePaymentInput {
  orderId: string;
  /** What the provider reported, kept on the refunded order (absent in workflows started before they were passed on). */
  paidAt?: string;
  channel?: PaymentReceived['channel'];
}

export interface PaymentReceived {
  orderId: string;
  amount: number;
  paidAt: string;
  channel: 'wechat' | 'alipay' | 'insurance';
}

/** Resolves once triage is done (the API answers POST /v1/journeys with it). */
export const triagedUpdate = defineUpdate<JourneySnapshot>('triaged');
export const bookUpdate = defineUpdate<JourneySnapshot, [BookInput]>('book');
export const cancelUpdate = defineUpdate<JourneySnapshot, [CancelInput]>('cancel');
export const checkInUpdate = defineUpdate<CheckInResult, [Actor]>('checkIn');
export const startConsultationUpdate = defineUpdate<JourneySnapshot, [DoctorInput]>('startConsultation');
export const recordOutcomeUpdate = defineUpdate<JourneySnapshot, [OutcomeInput]>('recordOutcome');

/** What became of a reported payment once the workflow took it. */
export interface PaymentTaken {
  /** `paid`: the order is paid; `refunded`: nobody waits for it any more, so it was paid back; `unchanged`: a duplicate or another order. */
  outcome: 'paid' | 'refunded' | 'unchanged';
}

/**
 * The payment provider says the order was paid; answered once the workflow has taken it (the payment
 * webhook answers 204 then, so a read right after shows it).
 */
export const paymentUpdate = defineUpdate<PaymentTaken, [PaymentReceived]>('payment');
/** The same fact as a signal: kept for journeys and callers of the landed code. */
export const paymentReceivedSignal = defineSignal<[PaymentReceived]>('paymentReceived');
/** Someone ahead in the same slot's queue went in: recompute `ahead`. */
export const queueAdvancedSignal = defineSignal('queueAdvanced');

export const snapshotQuery = defineQuery<JourneySnapshot>('snapshot');

// ---- post-visit items: prescriptions, exams, referrals (child workflows of the journey) ----

export type ItemType = 'prescription' | 'exam' | 'referral';
export type Frequency = 'qd' | 'bid' | 'tid' | 'qid' | 'qn';
/** Reminder times of a frequency, in the patient's timezone. */
export const FREQUENCY_TIMES: Record<Frequency, string[]> = {
  qd: ['08:00'],
  bid: ['08:00', '20:00'],
  tid: ['08:00', '12:00', '18:00'],
  qid: ['08:00', '12:00', '16:00', '20:00'],
  qn: ['21:00'],
};

export interface PrescriptionItem {
  drugCode: string;
  dose: string;
  frequency: Frequency;
  days: number;
  quantity: number;
  /** From the catalogue when prescribed: what the patient pays per unit, and the drug's name. */
  name: string;
  unitPrice: number;
}

export type PrescriptionStatus =
  | 'pending-review'
  | 'revision-requested'
  | 'awaiting-payment'
  | 'paid'
  | 'dispensed'
  | 'shipped'
  | 'delivered'
  | 'delivery-failed'
  /** Paid, but its stored content no longer matched its signature when it was to be dispensed: never dispensed. */
  | 'on-hold'
  | 'expired'
  | 'cancelled';
/** Where a prescription has settled: its journey may complete (reminders run on for the course). */
export const PRESCRIPTION_SETTLED: PrescriptionStatus[] = ['delivered', 'delivery-failed', 'on-hold', 'expired', 'cancelled'];

export type DeliveryStatus = 'ordered' | 'picked-up' | 'in-transit' | 'delivered' | 'failed';

export interface PrescriptionSnapshot {
  id: string;
  journeyId: string;
  patientId: string;
  prescriberId: string;
  version: number;
  status: PrescriptionStatus;
  items: PrescriptionItem[];
  long: boolean;
  review?: { pharmacistId: string; decision: 'approve' | 'reject'; reason?: string; at: string };
  payment?: Payment;
  delivery?: { deliveryId: string; status: DeliveryStatus };
  /**
   * The course's medication reminders. `by: 'program'`: the patient's care program sends the reminders
   * of the drugs in its plan (`programDrugs`), and this prescription added its days to the program's
   * supply; the prescription reminds only of the others (`times`, `next`).
   */
  reminders?: { timezone: string; times: string[]; next: string | null; by?: 'prescription' | 'program'; programId?: string; programDrugs?: string[] };
  /** The prescriber's signature of the current version (absent on prescriptions issued before signing). */
  signature?: SignatureView;
}

// ---- signed prescriptions (issue 10, rule 5): activities/signing.ts signs and verifies ------

/**
 * What the prescriber's signature of one prescription version covers. Its RFC 8785 canonical JSON is
 * hashed (SHA-256) and the digest signed, so the same content always gives the same bytes.
 */
export interface PrescriptionContent {
  prescriptionId: string;
  version: number;
  journeyId: string;
  patientId: string;
  prescriberId: string;
  long: boolean;
  items: { drugCode: string; name: string; dose: string; frequency: Frequency; days: number; quantity: number; unitPrice: number }[];
}

/** The signed content of a version: the fields named, nothing else (a snapshot's status or payment is not signed). */
export function prescriptionContent(p: Pick<PrescriptionSnapshot, 'id' | 'version' | 'journeyId' | 'patientId' | 'prescriberId' | 'long' | 'items'>): PrescriptionContent {
  return {
    prescriptionId: p.id,
    version: p.version,
    journeyId: p.journeyId,
    patientId: p.patientId,
    prescriberId: p.prescriberId,
    long: p.long,
    items: p.items.map((i) => ({ drugCode: i.drugCode, name: i.name, dose: i.dose, frequency: i.frequency, days: i.days, quantity: i.quantity, unitPrice: i.unitPrice })),
  };
}

/** One version's electronic signature: by whom, how, with which key, over which digest, and when. */
export interface PrescriptionSignature {
  /** The prescribing doctor's id. */
  signer: string;
  /** `Ed25519` for CarePath's own per-clinician keys; a CA-issued certificate service names its own. */
  algorithm: string;
  keyId: string;
  /** Lowercase hex SHA-256 of the content's RFC 8785 canonical JSON. */
  digest: string;
  /** Base64 of the signature over the digest's 32 bytes. */
  signature: string;
  signedAt: string;
}
/** The signature as the read model shows it. */
export type SignatureView = Omit<PrescriptionSignature, 'signature'>;
export const signatureView = (s: PrescriptionSignature): SignatureView => ({ signer: s.signer, algorithm: s.algorithm, keyId: s.keyId, digest: s.digest, signedAt: s.signedAt });
/** What the verification of a version's stored content found. */
export type SignatureCheck = { ok: true } | { ok: false; reason: 'content-changed' | 'signature-changed' | 'missing-signature' | 'missing-content' | 'bad-signature'; found?: string };

/** The template values a child copies from its journey's pathway, so a template edit never changes it. */
export interface ItemTimings {
  pharmacistReviewSla: IsoDuration;
  prescriptionValidity: IsoDuration;
  paymentWindow: IsoDuration;
  appointmentReminders: IsoDuration[];
  deliverySla?: IsoDuration;
  referralResponseSla?: IsoDuration;
  examResultSla?: IsoDuration;
}

export interface PrescriptionInput {
  prescriptionId: string;
  journeyId: string;
  patientId: string;
  prescriberId: string;
  items: PrescriptionItem[];
  long: boolean;
  /** The patient's timezone: medication reminders follow it. */
  timezone: string;
  timings: ItemTimings;
  /** The prescriber's signature of version 1, made in the outcome's request with the doctor's own token. */
  signature?: PrescriptionSignature;
}

export type ExamStatus = 'awaiting-payment' | 'scheduled' | 'completed' | 'expired' | 'cancelled';
/** Where an exam has settled: its journey may complete. */
export const EXAM_SETTLED: ExamStatus[] = ['completed', 'expired', 'cancelled'];
export interface ExamSnapshot {
  id: string;
  journeyId: string;
  patientId: string;
  doctorId: string;
  code: string;
  name: string;
  status: ExamStatus;
  payment?: Payment;
  scheduledAt?: string;
  result?: { summary: string; abnormal: boolean; at: string };
}
export interface ExamInput {
  examId: string;
  journeyId: string;
  patientId: string;
  doctorId: string;
  code: string;
  name: string;
  price: number;
  timings: ItemTimings;
}

/**
 * `sending`: recorded, not yet taken by the facility's webhook (retried until it is, or the referral expires).
 * `cancelled`: never sent, because the patient withdrew consent to share their record before it went.
 */
export type ReferralStatus = 'sending' | 'sent' | 'accepted' | 'declined' | 'attended' | 'expired' | 'cancelled';
/** Where a referral has settled: its journey may complete. */
export const REFERRAL_SETTLED: ReferralStatus[] = ['attended', 'declined', 'expired', 'cancelled'];
export interface ReferralSnapshot {
  id: string;
  journeyId: string;
  patientId: string;
  facilityId: string;
  department: string;
  reason: string;
  urgency: 'routine' | 'urgent';
  status: ReferralStatus;
  appointmentAt?: string;
  note?: string;
  summary?: string;
}
export interface ReferralInput {
  referralId: string;
  journeyId: string;
  patientId: string;
  facilityId: string;
  department: string;
  reason: string;
  urgency: 'routine' | 'urgent';
  diagnosis: string;
  timings: ItemTimings;
}

export interface PostVisitItems {
  prescriptions: Omit<PrescriptionInput, 'journeyId' | 'patientId' | 'prescriberId' | 'timings'>[];
  exams: Omit<ExamInput, 'journeyId' | 'patientId' | 'doctorId' | 'timings'>[];
  referrals: Omit<ReferralInput, 'journeyId' | 'patientId' | 'timings'>[];
  /** A care program to enrol the patient in (prepared by the API); it outlives the journey and is not waited for. */
  program?: ProgramInput;
}

export type ItemSnapshot = PrescriptionSnapshot | ExamSnapshot | ReferralSnapshot;

/** One transition of a post-visit item, projected into its own table and timeline in one transaction. */
export interface ItemTransition {
  type: ItemType;
  version: number;
  snapshot: ItemSnapshot;
  events: TimelineEvent[];
  tasks?: TaskChange[];
}

// failure types of the post-visit items (the API maps them too)
export const ItemFailureType = {
  /** Only the prescriber (or staff) may do this: 403. */
  NotPrescriber: 'not-prescriber',
  /** A pharmacist may not review their own prescription: 403. */
  OwnPrescription: 'own-prescription',
  /** A dose that is not an occurrence of the course: 422. */
  UnknownDose: 'unknown-dose',
  /** The first answer for a dose stands: 409. */
  DoseAnswered: 'dose-answered',
  /** The actor's role may not do this to the item (a doctor cancelling an exam): 403. */
  NotAllowed: 'not-allowed',
  /** An accepted referral without an appointment time in the future: 422. */
  InvalidAppointment: 'invalid-appointment',
} as const;

export interface ReviewInput {
  pharmacistId: string;
  decision: 'approve' | 'reject';
  reason?: string;
}
export interface ReviseInput {
  prescriberId: string;
  items: PrescriptionItem[];
  /** The prescriber's signature of the new version (the API signs with the doctor's own token). */
  signature?: PrescriptionSignature;
}
export interface ItemCancelInput {
  reason: string;
  actor: Actor;
}
export interface CourierReport {
  deliveryId: string;
  status: Exclude<DeliveryStatus, 'ordered'>;
  at: string;
}
export interface ExamResultInput {
  summary: string;
  abnormal: boolean;
  actor: string;
}
export interface ReferralResponseInput {
  decision: 'accepted' | 'declined';
  appointmentAt?: string;
  note?: string;
  actor: string;
}
export interface ReferralAttendedInput {
  summary: string;
  actor: string;
}
/** A child tells its journey it has settled (the journey completes once every child has). */
export interface ItemSettled {
  type: ItemType;
  id: string;
  status: string;
}

export const reviewUpdate = defineUpdate<PrescriptionSnapshot, [ReviewInput]>('review');
export const reviseUpdate = defineUpdate<PrescriptionSnapshot, [ReviseInput]>('revise');
export const cancelPrescriptionUpdate = defineUpdate<PrescriptionSnapshot, [ItemCancelInput]>('cancelPrescription');
/** A courier report, answered once taken: `unchanged` for a replaced delivery id or a step backwards. */
export const courierUpdate = defineUpdate<{ outcome: 'applied' | 'unchanged' }, [CourierReport]>('courier');
export const prescriptionQuery = defineQuery<PrescriptionSnapshot>('snapshot');

export const examResultUpdate = defineUpdate<ExamSnapshot, [ExamResultInput]>('examResult');
export const cancelExamUpdate = defineUpdate<ExamSnapshot, [ItemCancelInput]>('cancelExam');
export const examQuery = defineQuery<ExamSnapshot>('snapshot');

export const referralResponseUpdate = defineUpdate<ReferralSnapshot, [ReferralResponseInput]>('referralResponse');
export const referralAttendedUpdate = defineUpdate<ReferralSnapshot, [ReferralAttendedInput]>('referralAttended');
export const referralQuery = defineQuery<ReferralSnapshot>('snapshot');

export const itemSettledSignal = defineSignal<[ItemSettled]>('itemSettled');

// ---- care programs ----------------------------------------------------------------------------
// One durable workflow per patient and condition (`program:<patientId>:<condition>`) that lives for
// years: medication and measurement reminders, follow-up journeys, refills, readings and alerts.

export const CARE_PROGRAM_WORKFLOW = 'careProgram';
export const programWorkflowId = (patientId: string, condition: string): string => `program:${patientId}:${condition}`;

export type MeasurementType = 'bp' | 'glucose' | 'weight';

export interface ProgramTemplate {
  id: string;
  version: number;
  condition: string;
  name?: string;
  /** ISO durations, as in pathways. */
  followUpEvery: string;
  followUpLead: string;
  measurements: { type: MeasurementType; times: string[]; everyDays: number }[];
  thresholds: {
    bp?: { systolicHigh: number; diastolicHigh: number; systolicLow: number };
    glucose?: { fastingHigh: number; fastingLow: number; postprandialHigh: number };
  };
  /** Consecutive readings at or over a threshold that make a trend. */
  trendReadings: number;
  /** Missed doses in a row that raise an adherence task. */
  missedDoseStreak: number;
  refillLead: string;
  /** An occurrence more late than this (after downtime) is recorded as missed, never sent. */
  lateGrace: string;
  /** Education messages: each topic once, `after` enrolment. */
  education: { topic: string; after: string }[];
}

export interface ProgramMedication {
  drugCode: string;
  dose: string;
  /** `HH:MM` in the patient's timezone. */
  times: string[];
  /** Days of supply the patient has at enrolment. */
  supplyDays: number;
}

export interface ProgramPlan {
  medications: ProgramMedication[];
  followUpEvery?: string;
}

export type ProgramStatus = 'active' | 'paused' | 'discharged';
export type OccurrenceKind = 'medication' | 'measurement' | 'followup' | 'refill';

export type Reading =
  | { type: 'bp'; systolic: number; diastolic: number; at: string }
  | { type: 'glucose'; mmol: number; context: 'fasting' | 'postprandial'; at: string }
  | { type: 'weight'; kg: number; at: string };

export interface ProgramAlert {
  /** The `vital-alert` task's id. */
  id: string;
  reason: string;
  at: string;
}

/** One scheduled occurrence of a program: a dose or a measurement (planned by an activity, in the patient's timezone). */
export interface Occurrence {
  at: string;
  kind: 'medication' | 'measurement';
  drugCode?: string;
  type?: MeasurementType;
}

export interface ProgramSnapshot {
  id: string;
  patientId: string;
  condition: string;
  doctorId: string;
  status: ProgramStatus;
  template: { id: string; version: number };
  plan: ProgramPlan;
  timezone: string;
  enrolledAt: string;
  /** The soonest occurrence of each schedule. */
  next: { at: string; kind: OccurrenceKind }[];
  adherence: { taken: number; skipped: number; missed: number };
  /** The latest readings, newest first (at most 20). */
  readings: Reading[];
  openAlerts: ProgramAlert[];
  /** When each medication's supply runs out; the API derives `remainingDays` from it. */
  supply: { drugCode: string; until: string }[];
  /** Runs of the workflow (continue-as-new). */
  runs: number;
  journeyId?: string;
  dischargedReason?: string;
}

/** What a run hands to the next (continue-as-new). */
export interface ProgramCarry {
  snapshot: ProgramSnapshot;
  projectionVersion: number;
  /** Occurrences already handled up to (exclusive) this time. */
  cursor: string;
  /** Doses reminded and not answered yet, by drug: the latest occurrence. */
  pendingDoses: { drugCode: string; at: string }[];
  /** Doses answered (the first answer stands), recent ones only. */
  answered: { drugCode: string; at: string }[];
  missedStreak: number;
  adherenceTaskOpen: boolean;
  /** Follow-up number k is due at enrolledAt + k × followUpEvery; the next one to create. */
  nextFollowUp: number;
  followUps: { k: number; journeyId: string; dueAt: string; checked: boolean }[];
  /** Refill journeys started, by drug and the supply end they were for. */
  refills: { drugCode: string; until: string; journeyId: string }[];
  educationSent: string[];
  /** Readings at or over a threshold in a row (for trends), per type. */
  overRun: Record<string, number>;
  /**
   * When each medication's supply was last set (enrolment, a plan change, a delivery): a refill whose
   * lead time had already begun then is due at that moment, not late. Absent in runs carried before it.
   */
  supplySetAt?: Record<string, string>;
  /** Outreach withheld since this consent change (`ConsentFound.seq`; 0: as at registration): the timeline has said why. */
  outreachStopped?: number;
}

export interface ProgramInput {
  programId: string;
  patientId: string;
  condition: string;
  doctorId: string;
  enrolledBy: Actor;
  template: ProgramTemplate;
  plan: ProgramPlan;
  timezone: string;
  enrolledAt: string;
  /** The online follow-up pathway, copied at enrolment like a journey's pathway. */
  followUpPathway: PathwayTemplate;
  journeyId?: string;
  carried?: ProgramCarry;
}

export interface ProgramPlanInput {
  plan: ProgramPlan;
  actor: Actor;
}
export interface ProgramStatusInput {
  action: 'pause' | 'resume' | 'discharge';
  reason: string;
  actor: Actor;
}
export interface ReadingInput {
  reading: Reading;
  actor: Actor;
}
export interface ReadingResult {
  alert?: { id: string; reason: string };
}
export interface ProgramDoseInput {
  drugCode: string;
  scheduledAt: string;
  taken: boolean;
  actor: Actor;
}
/** A delivered prescription adds days of supply to the program's medication. */
export interface SupplyAdded {
  prescriptionId: string;
  drugCode: string;
  days: number;
}

export const ProgramFailureType = {
  /** Only the responsible doctor or a coordinator: 403. */
  NotResponsible: 'not-responsible',
  /** A discharged program takes nothing more: 409. */
  Discharged: 'program-discharged',
} as const;

export const programPlanUpdate = defineUpdate<ProgramSnapshot, [ProgramPlanInput]>('programPlan');
export const programStatusUpdate = defineUpdate<ProgramSnapshot, [ProgramStatusInput]>('programStatus');
export const readingUpdate = defineUpdate<ReadingResult, [ReadingInput]>('reading');
export const programDoseUpdate = defineUpdate<{ status: 'confirmed' | 'skipped' }, [ProgramDoseInput]>('programDose');
export const supplyAddedSignal = defineSignal<[SupplyAdded]>('supplyAdded');
export const programQuery = defineQuery<ProgramSnapshot>('snapshot');

/** One transition of a program, with the notifications it sends, projected in one transaction. */
export interface ProgramTransition {
  version: number;
  snapshot: ProgramSnapshot;
  events: TimelineEvent[];
  tasks?: TaskChange[];
  notifications?: NotificationRequest[];
  /**
   * Events that say a notification of this transition went out (`education.sent`), by event key: the
   * notification's id. Such an event is appended only with its notification: a withheld one has none.
   */
  announces?: Record<string, string>;
}

/** What a program's projection stored (a program's transition checks nothing: never `refused`). */
export type ProgramRecorded = Recorded;

// ---- online consultations (issue 12): workflows/consultation.ts ---------------------------------

export const CONSULTATION_WORKFLOW = 'onlineConsultation';
export const consultationWorkflowId = (consultationId: string): string => `consult:${consultationId}`;

/** Timings and fee of an online consultation (data, versioned like pathways). */
export interface ConsultationTemplate {
  id: string;
  version: number;
  /** Absent on the first templates: a text consultation. */
  kind?: 'text';
  name: string;
  /** Fen. */
  fee: number;
  /** The fee is due within this from the request, or the consultation lapses. */
  paymentWindow: string;
  /** A question waits at most this long for the doctor's answer before it escalates (each tier one more). */
  replyWithin: string;
  maxEscalationTier: number;
  /** A paid consultation the doctor has not answered within this is refunded and closed. */
  takeWithin: string;
  /** It closes after this many answers... */
  maxRounds: number;
  /** ...or this long after the doctor's first answer, whichever comes first. */
  openFor: string;
  /** The patient may rate it for this long after it closed. */
  ratingWindow: string;
}

export const CONSULTATION_STATUSES = ['awaiting-payment', 'waiting', 'answered', 'closed'] as const;
export type ConsultationStatus = (typeof CONSULTATION_STATUSES)[number];

/** Why a consultation closed: its rounds were used, its time ran out, nobody took it (refunded), or its fee was never paid. */
export type ConsultationEnd = 'rounds-used' | 'time-up' | 'not-taken' | 'lapsed';

export interface ConsultationInput {
  consultationId: string;
  patientId: string;
  doctorId: string;
  template: ConsultationTemplate;
  /** The patient's first question (its id: its text is in PostgreSQL only). */
  firstMessageId: string;
  requestedBy: Actor;
}

/** The workflow's state and the read model's row: ids, counts and times only, never a message's text. */
export interface ConsultationSnapshot {
  id: string;
  patientId: string;
  doctorId: string;
  template: { id: string; version: number };
  status: ConsultationStatus;
  payment: Payment;
  requestedAt: string;
  messages: { patient: number; doctor: number };
  /** Answers given (each closes a round); closes at the template's maxRounds. */
  rounds: number;
  maxRounds: number;
  /** The doctor's answer is due by this, while a question waits (status `waiting` after payment). */
  replyDueBy?: string;
  takenAt?: string;
  /** When the conversation closes at the latest (from the first answer). */
  closesAt?: string;
  closedAt?: string;
  end?: ConsultationEnd;
  /** 1–5, once, by the patient. */
  rating?: number;
  ratingDueBy?: string;
}

export interface ConsultationMessageInput {
  messageId: string;
  author: Actor;
}

export interface ConsultationRatingInput {
  score: number;
  actor: Actor;
}

export const ConsultationFailureType = {
  /** Only its patient and its doctor write in it; only its patient rates it (403). */
  NotParticipant: 'not-participant',
  /** Closed: takes no message (409). */
  Closed: 'consultation-closed',
  /** The fee is not paid yet: nothing can be asked or answered (409). */
  Unpaid: 'consultation-unpaid',
  /** Rated already, not closed yet, or the rating window has passed (409). */
  NotRateable: 'consultation-not-rateable',
} as const;

export const consultationMessageUpdate = defineUpdate<ConsultationSnapshot, [ConsultationMessageInput]>('consultationMessage');
export const consultationRatingUpdate = defineUpdate<ConsultationSnapshot, [ConsultationRatingInput]>('consultationRating');
export const consultationQuery = defineQuery<ConsultationSnapshot>('snapshot');

/** One transition of a consultation: its row, its timeline, its tasks, its notifications, and the message it accepts. */
export interface ConsultationTransition {
  version: number;
  snapshot: ConsultationSnapshot;
  events: TimelineEvent[];
  tasks?: TaskChange[];
  notifications?: NotificationRequest[];
  announces?: Record<string, string>;
  /** The message this transition counts: marked accepted in the same transaction. */
  acceptMessage?: string;
  /** The fee's order, stored with the request's projection. */
  order?: { orderId: string; amount: number; dueBy: string };
  /** The order's status change (paid, expired). */
  payment?: { orderId: string; status: PaymentStatus; paidAt?: string; channel?: string };
}

// ---- multidisciplinary consultations (issue 12): workflows/mdt.ts --------------------------------

export const MDT_WORKFLOW = 'multidisciplinaryConsultation';
export const mdtWorkflowId = (mdtId: string): string => `mdt:${mdtId}`;

/** Timings of a multidisciplinary consultation (a row of consultation_templates with `kind: mdt`). */
export interface MdtTemplate {
  id: string;
  version: number;
  kind: 'mdt';
  name: string;
  /** Each specialist's opinion is due this long after the invitation; then they are reminded. */
  opinionWithin: string;
  /** After the reminder, and between tiers, this long before coordinators are asked (escalation). */
  escalateAfter: string;
  maxEscalationTier: number;
  /** The convener's conclusion is due this long after convening (then escalated like an opinion). */
  concludeWithin: string;
  /** An MDT not concluded this long after convening expires. */
  expireAfter: string;
}

export type AnyConsultationTemplate = ConsultationTemplate | MdtTemplate | RemoteTemplate;

export interface MdtInput {
  mdtId: string;
  patientId: string;
  convenerId: string;
  /** The doctors invited (not the convener), each once. */
  specialists: string[];
  /** Opinions needed before the convener may conclude. */
  quorum: number;
  template: MdtTemplate;
  /** The case as the convener wrote it (its id: its text is in PostgreSQL only). */
  caseMessageId: string;
  /** The visit the case comes from, when there is one. */
  journeyId?: string;
}

export type SpecialistStatus = 'invited' | 'reminded' | 'submitted';

export interface MdtSnapshot {
  id: string;
  patientId: string;
  convenerId: string;
  journeyId?: string;
  template: { id: string; version: number };
  status: 'open' | 'concluded' | 'expired';
  quorum: number;
  specialists: { doctorId: string; status: SpecialistStatus; dueBy: string; submittedAt?: string }[];
  opinions: number;
  convenedAt: string;
  conclusionDueBy: string;
  expiresAt: string;
  concludedAt?: string;
}

export interface MdtOpinionInput {
  messageId: string;
  doctorId: string;
}

export interface MdtConclusionInput {
  messageId: string;
  doctorId: string;
}

export const MdtFailureType = {
  /** Only an invited specialist gives an opinion (403). */
  NotInvited: 'not-invited',
  /** One opinion per specialist (409). */
  OpinionGiven: 'opinion-given',
  /** Only the convener records the conclusion (403). */
  NotConvener: 'not-convener',
  /** Fewer opinions than the request's quorum (409). */
  QuorumNotMet: 'quorum-not-met',
  /** Concluded or expired: takes nothing more (409). */
  Closed: 'mdt-closed',
} as const;

export const mdtOpinionUpdate = defineUpdate<MdtSnapshot, [MdtOpinionInput]>('mdtOpinion');
export const mdtConclusionUpdate = defineUpdate<MdtSnapshot, [MdtConclusionInput]>('mdtConclusion');
export const mdtQuery = defineQuery<MdtSnapshot>('snapshot');

/** One transition of an MDT: its row, its timeline, its tasks, its notifications and the text it accepts. */
export interface MdtTransition {
  version: number;
  snapshot: MdtSnapshot;
  events: TimelineEvent[];
  tasks?: TaskChange[];
  notifications?: NotificationRequest[];
  announces?: Record<string, string>;
  acceptMessage?: string;
}

// ---- remote consultations (issue 12): workflows/remote.ts ----------------------------------------

export const REMOTE_WORKFLOW = 'remoteConsultation';
export const remoteWorkflowId = (remoteId: string): string => `remote:${remoteId}`;

/** The agreed timings of remote consultations with an institution (a row of consultation_templates with `kind: remote`). */
export interface RemoteTemplate {
  id: string;
  version: number;
  kind: 'remote';
  name: string;
  /** Coordinators schedule a specialist within this of the request. */
  assignWithin: string;
  /** The opinion is due this long after the request: the agreed time. */
  opinionWithin: string;
  /** Each late step escalates to coordinators, and again this long after, up to `maxEscalationTier`. */
  escalateAfter: string;
  maxEscalationTier: number;
}

export interface RemoteInput {
  remoteId: string;
  institutionId: string;
  /** The institution's own reference for the request. */
  externalRef: string;
  patientId: string;
  department: string;
  /** The request's text (its id: the text is in PostgreSQL only). */
  requestMessageId: string;
  template: RemoteTemplate;
}

export interface RemoteSnapshot {
  id: string;
  institutionId: string;
  externalRef: string;
  patientId: string;
  department: string;
  template: { id: string; version: number };
  /** received → assigned (a specialist scheduled) → answered → returned (the institution took the opinion). */
  status: 'received' | 'assigned' | 'answered' | 'returned';
  receivedAt: string;
  assignDueBy: string;
  opinionDueBy: string;
  doctorId?: string;
  assignedAt?: string;
  answeredAt?: string;
  returnedAt?: string;
}

export interface RemoteAssignInput {
  doctorId: string;
  actor: Actor;
}

export interface RemoteOpinionInput {
  messageId: string;
  doctorId: string;
}

export const RemoteFailureType = {
  /** Only the scheduled specialist gives the opinion (403). */
  NotAssigned: 'not-assigned',
  /** The opinion is given: nothing changes any more (409). */
  Answered: 'remote-answered',
} as const;

export const remoteAssignUpdate = defineUpdate<RemoteSnapshot, [RemoteAssignInput]>('remoteAssign');
export const remoteOpinionUpdate = defineUpdate<RemoteSnapshot, [RemoteOpinionInput]>('remoteOpinion');
export const remoteQuery = defineQuery<RemoteSnapshot>('snapshot');

/** One transition of a remote consultation: its row, its timeline, its tasks and the text it accepts. */
export interface RemoteTransition {
  version: number;
  snapshot: RemoteSnapshot;
  events: TimelineEvent[];
  tasks?: TaskChange[];
  notifications?: NotificationRequest[];
  announces?: Record<string, string>;
  acceptMessage?: string;
}

// ---------------------------------------------------------------------------------------------
// Daily reconciliation (issue 13): a Temporal Schedule starts one run a day; an admin may re-run a day.

export const RECONCILIATION_WORKFLOW = 'dailyReconciliation';
/** The Schedule that starts the daily run (workers/reconciliation-schedule.ts). */
export const RECONCILIATION_SCHEDULE_ID = 'carepath-daily-reconciliation';
/** The workflow id the Schedule gives its runs (the server appends the scheduled time). */
export const SCHEDULED_RECONCILIATION_ID = 'reconciliation-scheduled';
/** An admin's run of a day: one at a time per day. */
export const reconciliationWorkflowId = (day: string): string => `reconciliation:${day}`;

export interface ReconciliationInput {
  trigger: 'schedule' | 'admin';
  /** An admin's run: the day (YYYY-MM-DD) and who asked. A scheduled run reconciles the day before its scheduled time. */
  day?: string;
  requestedBy?: string;
  /** An admin's run: its id, chosen by the API so that it can answer with it. */
  runId?: string;
}

export interface ReconciliationResult {
  runId: string;
  day: string;
  /** A scheduled run of a day that had run already (a catch-up after an outage fired twice): nothing done. */
  skipped: boolean;
  mismatched: number;
}
