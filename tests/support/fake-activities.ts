// Typed in-memory fakes of the activities, for workflow tests on the time-skipping server. Their state
// keeps the same contracts as activities/ (idempotent writes, seat counting, queue order); separately,
// every call the workflow makes is logged as it was made, repeats included, so a test of "exactly
// once" counts what the workflow asked for rather than what an idempotent fake kept.
import type { Activities } from '../../activities/index.js';
import { classify, type TriageRuleSet } from '../../activities/triage.js';
import { compile, type CompiledRuleSet } from '../../activities/triage-engine.js';
import triageRules from '../../db/seed/triage-rules.json' with { type: 'json' };

let compiledRules: CompiledRuleSet | undefined;
/** The seeded triage rules, compiled once per test process (the real activity reads them from the database). */
function triageSet(): CompiledRuleSet {
  compiledRules ??= compile(triageRules as unknown as TriageRuleSet);
  return compiledRules;
}
import { planCourse } from '../../activities/prescriptions.js';
import { digestOf } from '../../activities/signing.js';
import { planOccurrences } from '../../activities/programs.js';
import { patientRefusal, standingRefusal, type ClinicianStanding, type Standing } from '../../activities/verification.js';
import { OUTREACH_KINDS, type ConsentFound, type ConsentScope, type NotifyResult, type ProgramRecorded, type Recorded, type VisitStandingInput } from '../../workflows/definitions.js';
import type { PrescriptionContent, PrescriptionSignature, SignatureCheck } from '../../workflows/definitions.js';
import type { Appointment, ConsultationSnapshot, ConsultationTransition, MdtSnapshot, MdtTransition, RemoteSnapshot, RemoteTransition, InPersonJourneyInput, ItemSnapshot, JourneyInput, ItemTransition, JourneySnapshot, NotificationRequest, ProgramSnapshot, ProgramTransition, TimelineEvent, Transition, TaskChange } from '../../workflows/definitions.js';

type SignedStage = 'review' | 'payment' | 'dispense';

/**
 * What the API's signer would make for `content` (the real digest; a stand-in signature value), as
 * the prescriber whose id the content names unless `signer` says otherwise.
 */
export function fakeSignature(content: PrescriptionContent, signer = content.prescriberId): PrescriptionSignature {
  return { signer, algorithm: 'Ed25519', keyId: `key-${signer}`, digest: digestOf(content), signature: `sig-of-${digestOf(content).slice(0, 16)}`, signedAt: '2026-01-01T00:00:00.000Z' };
}

export interface FakeSlot {
  id: string;
  doctorId: string;
  department: string;
  mode: 'online' | 'offline';
  start: number;
  end: number;
  remaining: number;
}

export class FakeWorld {
  slots = new Map<string, FakeSlot>();
  /** Clinicians whose standing differs from verified with 10 years of practice. */
  clinicians = new Map<string, Partial<ClinicianStanding>>();
  /** The offline journeys online visits referred to in-person care, repeats included. */
  inPersonJourneys: InPersonJourneyInput[] = [];
  /** Patients not real-name verified (every other patient is). */
  unverifiedPatients = new Set<string>();
  /** Consent changes by patient and scope, newest last (none: granted at registration, as in activities/consent.ts). */
  consents = new Map<string, ConsentFound[]>();
  /** Outreach notifications the store withheld (consent withdrawn), repeats included; they are in neither `notifications` nor the outbox. */
  withheld: string[] = [];
  seats = new Map<string, { slotId: string; status: 'held' | 'released' | 'no-show' }>();
  queue: { journeyId: string; slotId: string; queueNumber: number; status: 'waiting' | 'in-consultation' | 'done' }[] = [];
  snapshots = new Map<string, JourneySnapshot>();
  versions = new Map<string, number>();
  /** Every deliverNotification call, in order, repeats included. */
  delivered: string[] = [];
  /**
   * Notifications a projection stored and queued for the outbox dispatcher (a journey's since
   * `journey-one-transaction`, a program's), in order, repeats included: the dispatcher delivers them,
   * not the workflow.
   */
  queued: string[] = [];
  /** Every notify call, in order, repeats included (`notifications` keeps one per id, like the inbox). */
  notifyCalls: NotificationRequest[] = [];
  /** Every change of a payment order's status (markPayment, or a journey projection's effect), repeats included. */
  marks: { orderId: string; status: string }[] = [];
  /** Every refund the workflow asked the provider for, repeats included. */
  refundCalls: { orderId: string; amount: number; reason: string; paidAt?: string; channel?: string }[] = [];
  /** Every timeline event the workflow projected, per journey, repeats included. */
  projected = new Map<string, TimelineEvent[]>();
  timeline = new Map<string, TimelineEvent[]>();
  tasks = new Map<string, TaskChange>();
  notifications = new Map<string, NotificationRequest>();
  payments = new Map<string, { status: string; amount: number }>();
  refunds = new Map<string, number>();
  queueSignals: string[][] = [];
  /** Post-visit items: latest snapshot per item id (by projection version). */
  items = new Map<string, ItemSnapshot>();
  /** Every dispense call, repeats included; `dispensed` keeps one per prescription version. */
  dispenseCalls: { prescriptionId: string; version: number }[] = [];
  dispensed = new Set<string>();
  /** Every courier order call, repeats included. */
  courierCalls: { deliveryId: string; prescriptionId: string; attempt: number }[] = [];
  /** The payment orders requested, with what they pay for. */
  orders = new Map<string, { amount: number; dueBy: string; subject?: { type: string; id: string } }>();
  /** Exam times the fake scheduler hands out, in order (a test sets them from the server's clock). */
  examTimes: string[] = [];
  /** Every scheduleExam call, repeats included; `examBookings` keeps one time per exam. */
  scheduleExamCalls: { examId: string; code: string }[] = [];
  examBookings = new Map<string, string>();
  /** Every releaseExamBooking call, repeats included. */
  releaseExamCalls: string[] = [];
  /** Every sendReferral call, repeats included; `referralsSent` keeps the ones the facility took. */
  sendReferralCalls: string[] = [];
  referralsSent = new Set<string>();
  /** While set, the facility's webhook refuses every referral (the adapter throws, so it retries). */
  facilityDown = false;
  /** Care programs: latest snapshot per program id (by projection version). */
  programs = new Map<string, ProgramSnapshot>();
  /** Every program projection call, in order, repeats included. */
  programTransitions: ProgramTransition[] = [];
  /** Consultations as their projections left them, every transition, and the messages accepted. */
  consultations = new Map<string, ConsultationSnapshot>();
  consultationTransitions: ConsultationTransition[] = [];
  acceptedMessages: string[] = [];
  /** MDTs as their projections left them, and every transition. */
  mdts = new Map<string, MdtSnapshot>();
  mdtTransitions: MdtTransition[] = [];
  /** Remote consultations as their projections left them, and the opinions sent back (remote ids, once each call). */
  remotes = new Map<string, RemoteSnapshot>();
  remoteSends: string[] = [];
  /** Remote ids whose institution refuses the opinion this many more times. */
  institutionDown = new Map<string, number>();
  /** Every journey a program asked to start, repeats included. */
  startedJourneys: JourneyInput[] = [];
  /** Journeys a follow-up reached the visit of (`journeyReachedVisit` answers true for these). */
  visited = new Set<string>();
  /** Prescription signatures stored (one per `<id>:v<version>`, like the table), valid ones only. */
  signatures = new Map<string, PrescriptionSignature>();
  /** Every check of stored content against its signature the workflow asked for, and whether it held, repeats included. */
  signatureChecks: { prescriptionId: string; version: number; stage: SignedStage; ok: boolean }[] = [];
  /**
   * Prescriptions whose stored content the checks find changed since it was signed: at every stage
   * (`all`) or only at the stages listed. Prescriptions a test started unsigned count as signed
   * (tests of other rules need not sign); one whose signature was offered and not kept does not, and
   * a signature the workflow holds must be the stored one.
   */
  tampered = new Map<string, 'all' | SignedStage[]>();
  /** Prescriptions a signature was offered for (kept or not). */
  signatureOffered = new Set<string>();
  /** An activity whose gate is set waits for it: lets a test act in the middle of a transition. */
  gates: Partial<Record<keyof Activities, Promise<void>>> = {};
  calls: Partial<Record<keyof Activities, number>> = {};

  /** A consent change, as PUT /v1/patients/{id}/consents/{scope} appends it. */
  setConsent(patientId: string, scope: ConsentScope, granted: boolean): void {
    const key = `${patientId}:${scope}`;
    const seq = [...this.consents.values()].reduce((n, list) => n + list.length, 0) + 1;
    this.consents.set(key, [...(this.consents.get(key) ?? []), { granted, seq, changedAt: new Date().toISOString() }]);
  }

  consentOf(patientId: string, scope: ConsentScope): ConsentFound {
    return this.consents.get(`${patientId}:${scope}`)?.at(-1) ?? { granted: true, seq: null, changedAt: '2020-01-01T00:00:00.000Z' };
  }

  /** What activities/notifications.ts insertNotification does: stores once per id, or withholds outreach without consent. */
  store(n: NotificationRequest): NotifyResult {
    const outreach = OUTREACH_KINDS.includes(n.kind) ? this.consentOf(n.patientId, 'outreach') : undefined;
    if (outreach && !outreach.granted && !this.notifications.has(n.id)) {
      this.withheld.push(n.id);
      return { stored: false, outreach };
    }
    if (!this.notifications.has(n.id)) this.notifications.set(n.id, n);
    return { stored: true, ...(outreach ? { outreach } : {}) };
  }

  /** Closes the gate of `name`; returns the function that opens it. */
  hold(name: keyof Activities): () => void {
    let open!: () => void;
    this.gates[name] = new Promise<void>((r) => (open = r));
    return () => {
      delete this.gates[name];
      open();
    };
  }

  addSlot(s: Omit<FakeSlot, 'end'> & { end?: number }): FakeSlot {
    const slot = { end: s.start + 3_600_000, ...s };
    this.slots.set(slot.id, slot);
    return slot;
  }

  types(journeyId: string): string[] {
    return (this.timeline.get(journeyId) ?? []).map((e) => e.type);
  }

  events(journeyId: string, type: string): TimelineEvent[] {
    return (this.timeline.get(journeyId) ?? []).filter((e) => e.type === type);
  }

  /** The notify calls the workflow made for `kind`, repeats included. */
  notificationsOf(kind: NotificationRequest['kind']): NotificationRequest[] {
    return this.notifyCalls.filter((n) => n.kind === kind);
  }

  /** The events of `type` the workflow projected for the journey, repeats included. */
  projectedOf(journeyId: string, type: string): TimelineEvent[] {
    return (this.projected.get(journeyId) ?? []).filter((e) => e.type === type);
  }

  /**
   * An item's or a program's events and tasks as their projection keeps them: every event logged,
   * the timeline once per key, a task closed by hand never reopened.
   */
  appendProjected(id: string, events: TimelineEvent[], tasks: TaskChange[] = []): void {
    this.projected.set(id, [...(this.projected.get(id) ?? []), ...events]);
    const list = this.timeline.get(id) ?? [];
    for (const e of events) if (!list.some((x) => x.key === e.key)) list.push(e);
    this.timeline.set(id, list);
    for (const task of tasks) {
      const prior = this.tasks.get(task.id);
      if (!prior || prior.status === 'open') this.tasks.set(task.id, { ...task });
    }
  }

  activities(): Activities {
    const impl = this.implementations();
    const gated = {} as Record<string, (...args: never[]) => Promise<unknown>>;
    for (const [name, fn] of Object.entries(impl) as [keyof Activities, (...args: never[]) => Promise<unknown>][]) {
      gated[name] = async (...args: never[]) => {
        this.calls[name] = (this.calls[name] ?? 0) + 1;
        await this.gates[name];
        return fn(...args);
      };
    }
    return gated as unknown as Activities;
  }

  private implementations(): Activities {
    // The activities are plain functions handed to the harness; they reach the world through `w`.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const w = this;
    const appointment = (s: FakeSlot): Appointment => ({
      slotId: s.id,
      doctorId: s.doctorId,
      start: new Date(s.start).toISOString(),
      end: new Date(s.end).toISOString(),
    });
    const aheadOf = (journeyId: string): number => {
      const me = w.queue.find((q) => q.journeyId === journeyId)!;
      return w.queue.filter((q) => q.slotId === me.slotId && q.status === 'waiting' && q.queueNumber < me.queueNumber).length;
    };
    const standing = (r: ReturnType<typeof standingRefusal>): Standing => (r ? { ok: false, ...r } : { ok: true });
    const clinician = (id: string, role: 'doctor' | 'pharmacist'): ClinicianStanding => ({
      role,
      licenceNumber: 'L-1',
      yearsOfPractice: 10,
      verifiedAt: '2020-01-01T00:00:00.000Z',
      ...w.clinicians.get(id),
    });
    const visitStanding = (a: VisitStandingInput): Standing => {
      const doctorId = a.doctorId ?? (a.slotId ? w.slots.get(a.slotId)?.doctorId : undefined);
      if (doctorId) {
        const refusal = standingRefusal(clinician(doctorId, 'doctor'), 'doctor', a.mode);
        if (refusal) return standing(refusal);
      }
      return standing(a.mode === 'online' ? patientRefusal(!w.unverifiedPatients.has(a.patientId)) : undefined);
    };
    const startConsultation = (journeyId: string, slotId: string): void => {
      const me = w.queue.find((q) => q.journeyId === journeyId);
      if (me) me.status = 'in-consultation';
      w.queueSignals.push(w.queue.filter((q) => q.slotId === slotId && q.status === 'waiting').map((q) => q.journeyId));
    };
    const storeOrder = (r: { orderId: string; amount: number; dueBy: string; subject?: { type: string; id: string } }): void => {
      if (!w.orders.has(r.orderId)) w.orders.set(r.orderId, { amount: r.amount, dueBy: r.dueBy, ...(r.subject ? { subject: r.subject } : {}) });
      if (!w.payments.has(r.orderId)) w.payments.set(r.orderId, { status: 'pending', amount: r.amount });
    };
    const releaseSeat = (journeyId: string, noShow: boolean): void => {
      const seat = w.seats.get(journeyId);
      if (seat?.status !== 'held') return;
      seat.status = noShow ? 'no-show' : 'released';
      w.slots.get(seat.slotId)!.remaining += 1;
    };
    const markPayment = (orderId: string, status: string): void => {
      w.marks.push({ orderId, status });
      w.payments.get(orderId)!.status = status;
    };
    const leave = (journeyId: string, slotId: string): void => {
      const me = w.queue.find((q) => q.journeyId === journeyId);
      if (me?.status === 'waiting') me.status = 'done';
      w.queueSignals.push(w.queue.filter((q) => q.slotId === slotId && q.status === 'waiting').map((q) => q.journeyId));
    };
    const finishConsultation = (journeyId: string): void => {
      const me = w.queue.find((q) => q.journeyId === journeyId);
      if (me) me.status = 'done';
    };
    /** A projection's notifications, stored (or withheld) in its transaction and queued for the dispatcher. */
    const storeQueued = (notifications: NotificationRequest[] | undefined): Recorded => {
      const recorded: Recorded = { withheld: [] };
      for (const n of notifications ?? []) {
        w.notifyCalls.push(n);
        const r = w.store(n);
        if (r.stored) w.queued.push(n.id);
        else recorded.withheld.push(n.id);
        if (r.outreach) recorded.outreach = r.outreach;
      }
      return recorded;
    };
    const realOnly = async (): Promise<never> => {
      throw new Error('reconciliation runs on the real activities and database (tests/reconciliation.workflow.test.ts)');
    };
    return {
      beginReconciliation: realOnly,
      fetchStatement: realOnly,
      reconcileChannel: realOnly,
      finishReconciliation: realOnly,
      async clinicianStanding(a: { clinicianId: string; role: 'doctor' | 'pharmacist'; mode?: 'online' | 'offline' }) {
        return standing(standingRefusal(clinician(a.clinicianId, a.role), a.role, a.mode));
      },
      visitStanding: async (a: VisitStandingInput) => visitStanding(a),
      async patientStanding(a: { patientId: string }) {
        return standing(patientRefusal(!w.unverifiedPatients.has(a.patientId)));
      },
      // As activities/journeys.ts does it, effects first: a refused standing writes nothing.
      async recordTransition(t: Transition): Promise<Recorded> {
        if (t.standing) {
          const s = visitStanding(t.standing);
          if (!s.ok) return { withheld: [], refused: { type: s.type, detail: s.detail } };
        }
        if (t.queue?.op === 'start-consultation') startConsultation(t.snapshot.id, t.queue.slotId);
        if (t.queue?.op === 'finish-consultation') finishConsultation(t.snapshot.id);
        if (t.queue?.op === 'leave') leave(t.snapshot.id, t.queue.slotId);
        if (t.releaseSeat) releaseSeat(t.snapshot.id, t.releaseSeat.noShow);
        if (t.payment) markPayment(t.payment.orderId, t.payment.status);
        if ((w.versions.get(t.snapshot.id) ?? 0) < t.version) {
          w.versions.set(t.snapshot.id, t.version);
          w.snapshots.set(t.snapshot.id, structuredClone(t.snapshot));
        }
        const recorded = storeQueued(t.notifications);
        const events = t.events.filter((e) => !recorded.withheld.includes(t.announces?.[e.key] ?? ''));
        w.projected.set(t.snapshot.id, [...(w.projected.get(t.snapshot.id) ?? []), ...events]);
        const list = w.timeline.get(t.snapshot.id) ?? [];
        for (const e of events) if (!list.some((x) => x.key === e.key)) list.push(e);
        w.timeline.set(t.snapshot.id, list);
        for (const task of t.tasks ?? []) w.tasks.set(task.id, { ...task });
        return recorded;
      },
      async recordItemTransition(t: ItemTransition) {
        const id = t.snapshot.id;
        if ((w.versions.get(id) ?? 0) < t.version) {
          w.versions.set(id, t.version);
          w.items.set(id, structuredClone(t.snapshot));
        }
        w.appendProjected(id, t.events, t.tasks);
      },
      async recordProgramTransition(t: ProgramTransition): Promise<ProgramRecorded> {
        const id = t.snapshot.id;
        w.programTransitions.push(structuredClone(t));
        if ((w.versions.get(id) ?? 0) < t.version) {
          w.versions.set(id, t.version);
          w.programs.set(id, structuredClone(t.snapshot));
        }
        const recorded: ProgramRecorded = storeQueued(t.notifications);
        // An event that announces a withheld notification is not appended (activities/programs.ts).
        const events = t.events.filter((e) => !recorded.withheld.includes(t.announces?.[e.key] ?? ''));
        w.appendProjected(id, events, t.tasks);
        return recorded;
      },
      // As activities/consultations.ts does it: the order, its status, the message, then the row and the rest.
      async recordConsultationTransition(t: ConsultationTransition): Promise<Recorded> {
        const id = t.snapshot.id;
        w.consultationTransitions.push(structuredClone(t));
        if (t.order && !w.payments.has(t.order.orderId)) storeOrder({ ...t.order, subject: { type: 'consultation', id } });
        if (t.payment) markPayment(t.payment.orderId, t.payment.status);
        if (t.acceptMessage && !w.acceptedMessages.includes(t.acceptMessage)) w.acceptedMessages.push(t.acceptMessage);
        if ((w.versions.get(id) ?? 0) < t.version) {
          w.versions.set(id, t.version);
          w.consultations.set(id, structuredClone(t.snapshot));
        }
        const recorded = storeQueued(t.notifications);
        w.appendProjected(id, t.events.filter((e) => !recorded.withheld.includes(t.announces?.[e.key] ?? '')), t.tasks);
        return recorded;
      },
      async recordMdtTransition(t: MdtTransition): Promise<Recorded> {
        const id = t.snapshot.id;
        w.mdtTransitions.push(structuredClone(t));
        if (t.acceptMessage && !w.acceptedMessages.includes(t.acceptMessage)) w.acceptedMessages.push(t.acceptMessage);
        if ((w.versions.get(id) ?? 0) < t.version) {
          w.versions.set(id, t.version);
          w.mdts.set(id, structuredClone(t.snapshot));
        }
        const recorded = storeQueued(t.notifications);
        w.appendProjected(id, t.events.filter((e) => !recorded.withheld.includes(t.announces?.[e.key] ?? '')), t.tasks);
        return recorded;
      },
      async recordRemoteTransition(t: RemoteTransition): Promise<Recorded> {
        const id = t.snapshot.id;
        if (t.acceptMessage && !w.acceptedMessages.includes(t.acceptMessage)) w.acceptedMessages.push(t.acceptMessage);
        if ((w.versions.get(id) ?? 0) < t.version) {
          w.versions.set(id, t.version);
          w.remotes.set(id, structuredClone(t.snapshot));
        }
        const recorded = storeQueued(t.notifications);
        w.appendProjected(id, t.events, t.tasks);
        return recorded;
      },
      async sendRemoteOpinion(r: { remoteId: string }) {
        w.remoteSends.push(r.remoteId);
        const down = w.institutionDown.get(r.remoteId) ?? 0;
        if (down > 0) {
          w.institutionDown.set(r.remoteId, down - 1);
          throw new Error('institution unreachable');
        }
        return { attempts: w.remoteSends.filter((x) => x === r.remoteId).length };
      },
      async planProgramOccurrences(r) {
        return planOccurrences(r);
      },
      async journeyReachedVisit(r) {
        return w.visited.has(r.journeyId);
      },
      async startProgramJourney(input) {
        w.startedJourneys.push(input);
      },
      async startInPersonJourney(input) {
        w.inPersonJourneys.push(input);
      },
      async programForDrugs(r) {
        return [...w.programs.values()]
          .filter((p) => p.patientId === r.patientId && p.status !== 'discharged')
          .map((p) => ({ programId: p.id, workflowId: `program:${p.patientId}:${p.condition}`, drugCodes: p.plan.medications.map((m) => m.drugCode).filter((d) => r.drugCodes.includes(d)) }))
          .filter((p) => p.drugCodes.length > 0);
      },
      async taskIsOpen(r) {
        return w.tasks.get(r.taskId)?.status === 'open';
      },
      async recordPrescriptionSignature(r: { content: PrescriptionContent; signature: PrescriptionSignature }) {
        const valid = r.signature.signer === r.content.prescriberId && r.signature.digest === digestOf(r.content);
        const key = `${r.content.prescriptionId}:v${r.content.version}`;
        w.signatureOffered.add(r.content.prescriptionId);
        if (valid && !w.signatures.has(key)) w.signatures.set(key, { ...r.signature });
        return { valid };
      },
      async verifyPrescriptionSignature(r: { prescriptionId: string; version: number; signature: PrescriptionSignature | null; stage: SignedStage }): Promise<SignatureCheck> {
        const check = ((): SignatureCheck => {
          const tampered = w.tampered.get(r.prescriptionId);
          if (tampered === 'all' || tampered?.includes(r.stage)) return { ok: false, reason: 'content-changed', found: '0'.repeat(64) };
          if (!r.signature) return w.signatureOffered.has(r.prescriptionId) ? { ok: false, reason: 'missing-signature' } : { ok: true };
          const stored = w.signatures.get(`${r.prescriptionId}:v${r.version}`);
          if (!stored) return { ok: false, reason: 'missing-signature' };
          return stored.digest === r.signature.digest && stored.signature === r.signature.signature ? { ok: true } : { ok: false, reason: 'signature-changed' };
        })();
        w.signatureChecks.push({ prescriptionId: r.prescriptionId, version: r.version, stage: r.stage, ok: check.ok });
        return check;
      },
      async dispense(r) {
        w.dispenseCalls.push({ ...r });
        const key = `${r.prescriptionId}:v${r.version}`;
        const first = !w.dispensed.has(key);
        w.dispensed.add(key);
        return { first };
      },
      async placeCourierOrder(r) {
        w.courierCalls.push({ deliveryId: r.deliveryId, prescriptionId: r.prescriptionId, attempt: r.attempt });
      },
      async planDoses(r) {
        return planCourse(r.items, r.timezone, r.from);
      },
      async triage(r) {
        return classify(r.complaint, triageSet());
      },
      async reserveSeat(r) {
        const refused = r.standing ? visitStanding(r.standing) : undefined;
        if (refused && !refused.ok) return { ok: false, reason: 'standing', type: refused.type, message: refused.detail };
        const held = w.seats.get(r.journeyId);
        if (held?.status === 'held' && held.slotId === r.slotId) {
          if (r.order) storeOrder(r.order);
          return { ok: true, appointment: appointment(w.slots.get(r.slotId)!) };
        }
        const s = w.slots.get(r.slotId);
        if (!s) return { ok: false, reason: 'not-found', message: 'slot not found' };
        if (s.mode !== r.mode || s.department !== r.department) return { ok: false, reason: 'mismatch', message: 'mismatch' };
        if (s.remaining <= 0) return { ok: false, reason: 'full', message: 'slot is full' };
        s.remaining -= 1;
        w.seats.set(r.journeyId, { slotId: s.id, status: 'held' });
        // With the seat, as activities/slots.ts stores it (journey-order-with-seat).
        if (r.order) storeOrder(r.order);
        return { ok: true, appointment: appointment(s) };
      },
      async releaseSeat(r) {
        releaseSeat(r.journeyId, r.noShow === true);
      },
      async checkIn(r) {
        let entry = w.queue.find((q) => q.journeyId === r.journeyId);
        if (!entry) {
          const n = Math.max(0, ...w.queue.filter((q) => q.slotId === r.slotId).map((q) => q.queueNumber)) + 1;
          entry = { journeyId: r.journeyId, slotId: r.slotId, queueNumber: n, status: 'waiting' };
          w.queue.push(entry);
        }
        return { queueNumber: entry.queueNumber, ahead: aheadOf(r.journeyId) };
      },
      async queuePosition(r) {
        return { ahead: aheadOf(r.journeyId) };
      },
      async startConsultationInQueue(r) {
        startConsultation(r.journeyId, r.slotId);
      },
      async finishConsultationInQueue(r) {
        finishConsultation(r.journeyId);
      },
      async leaveQueue(r) {
        leave(r.journeyId, r.slotId);
      },
      async requestPayment(r) {
        storeOrder(r);
      },
      async markPayment(r) {
        markPayment(r.orderId, r.status);
      },
      async refundPayment(r) {
        w.refundCalls.push({ ...r });
        if (!w.refunds.has(r.orderId)) w.refunds.set(r.orderId, r.amount);
        w.payments.get(r.orderId)!.status = 'refunded';
      },
      async refundClosedJourneyPayment(r) {
        const order = w.payments.get(r.orderId);
        if (!order || order.status === 'paid') return undefined;
        w.refundCalls.push({ orderId: r.orderId, amount: order.amount, reason: 'late-payment' });
        if (!w.refunds.has(r.orderId)) w.refunds.set(r.orderId, order.amount);
        order.status = 'refunded';
        return { id: `late:${r.orderId}`, patientId: 'pat-1', kind: 'payment.refunded' as const, refs: {}, params: { amount: order.amount } };
      },
      async scheduleExam(r) {
        w.scheduleExamCalls.push({ ...r });
        const booked = w.examBookings.get(r.examId);
        if (booked) return { scheduledAt: booked };
        const next = w.examTimes.shift();
        if (!next) throw new Error('FakeWorld: no exam time left: set world.examTimes');
        w.examBookings.set(r.examId, next);
        return { scheduledAt: next };
      },
      async releaseExamBooking(r) {
        w.releaseExamCalls.push(r.examId);
        w.examBookings.delete(r.examId);
      },
      async sendReferral(r) {
        w.sendReferralCalls.push(r.referralId);
        // The adapter reads the consent at every attempt that would send (activities/referrals.ts).
        const patientId = (w.items.get(r.referralId) as { patientId?: string } | undefined)?.patientId;
        if (!w.referralsSent.has(r.referralId) && patientId && !w.consentOf(patientId, 'record-sharing').granted) return { via: 'webhook' as const, withheld: true as const };
        if (w.facilityDown && !w.referralsSent.has(r.referralId)) throw new Error('FakeWorld: facility answered 503');
        w.referralsSent.add(r.referralId);
        return { via: 'webhook' as const };
      },
      async notify(req) {
        w.notifyCalls.push(req);
        return w.store(req);
      },
      async deliverNotification(r) {
        w.delivered.push(r.id);
      },
    };
  }
}
