// The contract shared by workflows/, activities/ and api/: message definitions, their types,
// task queue names and workflow-id builders. The API imports these objects, never strings.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const JOURNEY_TASK_QUEUE = 'carepath-journeys';
/** Workflow type names, as registered by the worker (the exported function names). */
export const PATIENT_JOURNEY_WORKFLOW = 'patientJourney';
export const LATE_PAYMENT_WORKFLOW = 'latePaymentRefund';

export const journeyWorkflowId = (journeyId: string): string => `journey:${journeyId}`;
/** One refund workflow per order: a payment the provider reports twice is refunded once. */
export const latePaymentWorkflowId = (orderId: string): string => `late-payment:${orderId}`;

// ---- domain types -------------------------------------------------------------------------

export type Mode = 'online' | 'offline';
export type Role = 'patient' | 'doctor' | 'pharmacist' | 'coordinator' | 'admin';
export type Phase = 'pre-visit' | 'visit' | 'post-visit' | 'closed';
export type JourneyStatus = 'active' | 'completed' | 'cancelled' | 'no-show' | 'redirected';
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
}

export interface Triage {
  department: string;
  urgency: Urgency;
  advice: string;
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
  recordedBy: string;
  recordedAt: string;
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
  'task.created',
  'task.escalated',
  'task.closed',
  'task.completed',
] as const;
export type TimelineType = (typeof TIMELINE_TYPES)[number];

export type TaskKind = 'escalation' | 'pharmacist-review' | 'prescription-revision' | 'abnormal-result' | 'referral-declined';
/** The item a task is about. */
export interface TaskSubject {
  type: 'journey' | 'prescription' | 'exam' | 'referral';
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
  | 'payment.refunded';

export interface NotificationRequest {
  /** Derived from workflow id + occurrence: the same id is stored and delivered once. */
  id: string;
  patientId: string;
  kind: NotificationKind;
  refs: Record<string, string>;
  /** Values the message is rendered from (times, amounts); never free text from the patient. */
  params: Record<string, string | number>;
}

/** One transition of a journey, projected into the read model in one transaction. */
export interface Transition {
  /** Monotonic per journey: a projection older than the stored one changes no snapshot. */
  version: number;
  snapshot: JourneySnapshot;
  events: TimelineEvent[];
  tasks?: TaskChange[];
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
}
export interface LatePaymentInput {
  orderId: string;
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
