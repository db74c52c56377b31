// prescriptionFulfillment: one prescription from the doctor's outcome to the end of its course. A
// pharmacist reviews every version before anything is charged, dispensed or shipped; a rejection goes
// back to the prescriber, who revises (a new version, reviewed again) or cancels. Approved, it waits
// for payment within its validity (from approval) or expires; paid, it is dispensed once and shipped by
// courier, retried once with a new courier order if a delivery fails; delivered, medication reminders
// run for the course in the patient's timezone until it ends or is cancelled.
//
// On the shared kernel: every change of state is a FIFO transition, projected with its events and
// tasks in one transaction; notifications are stored, then delivered in the background.
import { condition, getExternalWorkflowHandle, log, patched, setHandler, type ApplicationFailure } from '@temporalio/workflow';
import {
  FailureType,
  ItemFailureType,
  RuleFailureType,
  cancelPrescriptionUpdate,
  courierUpdate,
  paymentUpdate,
  prescriptionContent,
  prescriptionQuery,
  prescriptionWorkflowId,
  reviewUpdate,
  reviseUpdate,
  signatureView,
  supplyAddedSignal,
  type CourierReport,
  type DeliveryStatus,
  type ItemCancelInput,
  type PaymentReceived,
  type PaymentTaken,
  type PrescriptionInput,
  type PrescriptionItem,
  type PrescriptionSignature,
  type PrescriptionSnapshot,
  type PrescriptionStatus,
  type ReviewInput,
  type ReviseInput,
  type TaskChange,
  type TimelineEvent,
  actorName,
} from './definitions.js';
import { durationMs } from './duration.js';
import { ItemKernel, SYSTEM, act, partner, refused } from './kernel.js';

const DEFAULT_DELIVERY_SLA = 'P3D';
/** Escalation tiers for late work on a post-visit item: at the SLA and at twice the SLA. */
export const ITEM_ESCALATION_TIERS = 2;
/** A delivered drug in the plan of the patient's care program is reminded of by the program, which gets its supply. */
const PROGRAM_SUPPLY_PATCH = 'program-supply';
/** Courier orders for one prescription: the first and one retry. */
const DELIVERY_ATTEMPTS = 2;
/**
 * Signed prescriptions (issue 10, rule 5): each version's signature is stored, and the stored content
 * is checked against it before a review, a payment or dispensing takes effect. Asked once, at the
 * start: a prescription that started on the code before it is neither stored nor checked.
 */
const SIGNATURE_PATCH = 'prescription-signature';
/** Verified people (issue 10, rules 2 and 3): a verified pharmacist reviews, a verified doctor revises, a real-name patient pays. */
const VERIFIED_PEOPLE_PATCH = 'prescription-verified-people';
/** Where the stored content is checked against the version's signature. */
type SignedStage = 'review' | 'payment' | 'dispense';

const STEP_RANK: Record<DeliveryStatus, number> = { ordered: 0, 'picked-up': 1, 'in-transit': 2, delivered: 3, failed: 3 };

export const amountOf = (items: PrescriptionItem[]): number => items.reduce((sum, i) => sum + i.unitPrice * i.quantity, 0);

class Prescription extends ItemKernel<PrescriptionSnapshot> {
  readonly snapshot: PrescriptionSnapshot;
  /** When the current version's review is due (tier 1 escalation). */
  reviewDue = 0;
  /** The planned dose times of the course, once delivered. */
  doses: { at: string; drugCodes: string[] }[] = [];
  courseStopped = false;
  /** Started on the code that signs: every version needs a stored signature its stored content matches. */
  signing = false;
  /** The current version's signature, as the prescriber's own request carried it. */
  signature: PrescriptionSignature | undefined;

  constructor(readonly input: PrescriptionInput) {
    super('prescription', input.prescriptionId, input.journeyId, prescriptionWorkflowId(input.prescriptionId), input.patientId);
    this.snapshot = {
      id: input.prescriptionId,
      journeyId: input.journeyId,
      patientId: input.patientId,
      prescriberId: input.prescriberId,
      version: 1,
      status: 'pending-review',
      items: input.items,
      long: input.long,
      ...(input.signature ? { signature: signatureView(input.signature) } : {}),
    };
    this.signature = input.signature;
  }

  get status(): PrescriptionStatus {
    return this.snapshot.status;
  }

  protected indexOf() {
    return { status: this.snapshot.status, doctorId: this.snapshot.prescriberId };
  }

  /** Expired or cancelled: nothing more happens but late payments being paid back. */
  get isEnding(): boolean {
    return this.status === 'expired' || this.status === 'cancelled';
  }


  private reviewTask(status: TaskChange['status'] = 'open'): TaskChange {
    const v = this.snapshot.version;
    return {
      id: `${this.wfId}:review:v${v}`,
      kind: 'pharmacist-review',
      role: 'pharmacist',
      status,
      subject: this.subject,
      action: `Review prescription version ${v}`,
      dueAt: new Date(this.reviewDue).toISOString(),
      tier: 0,
    };
  }

  private revisionTask(status: TaskChange['status'] = 'open'): TaskChange {
    const v = this.snapshot.version;
    return {
      id: `${this.wfId}:revision:v${v}`,
      kind: 'prescription-revision',
      role: 'doctor',
      assigneeId: this.input.prescriberId,
      status,
      subject: this.subject,
      action: `Revise or cancel prescription version ${v}: the pharmacist rejected it`,
      dueAt: new Date(Date.now() + durationMs(this.input.timings.pharmacistReviewSla)).toISOString(),
      tier: 0,
    };
  }

  // ---- checks, used by update validators and again inside the transition -----------------

  requireReviewable(r: ReviewInput): void {
    if (r.pharmacistId === this.input.prescriberId) throw refused(ItemFailureType.OwnPrescription, 'a pharmacist never reviews their own prescription');
    if (this.status !== 'pending-review') throw refused(FailureType.InvalidState, `the prescription is ${this.status}, not pending review`);
  }

  requireRevisable(r: ReviseInput): void {
    if (r.prescriberId !== this.input.prescriberId) throw refused(ItemFailureType.NotPrescriber, 'only the prescriber may revise the prescription');
    if (this.status !== 'revision-requested') throw refused(FailureType.InvalidState, `the prescription is ${this.status}, not waiting for a revision`);
  }

  requireCancellable(c: ItemCancelInput): void {
    const staff = c.actor.role === 'coordinator' || c.actor.role === 'admin';
    if (!staff && !(c.actor.role === 'doctor' && c.actor.id === this.input.prescriberId)) {
      throw refused(ItemFailureType.NotPrescriber, 'only the prescriber or a coordinator may cancel the prescription');
    }
    const ok = ['pending-review', 'revision-requested', 'awaiting-payment', 'delivery-failed', 'on-hold'].includes(this.status) || (this.status === 'delivered' && !this.courseStopped);
    if (!ok) throw refused(FailureType.InvalidState, `a ${this.status} prescription cannot be cancelled${this.status === 'delivered' ? ' again' : ''}`);
  }

  // ---- review and revision -------------------------------------------------------------

  create(): Promise<void> {
    return this.transition(async () => {
      this.reviewDue = Date.now() + durationMs(this.input.timings.pharmacistReviewSla);
      if (patched(SIGNATURE_PATCH)) {
        this.signing = true;
        // A signature that is not the prescriber's of this very content is not kept: the version then
        // has none, and the first check (before the review) refuses it and says so.
        if (this.signature && !(await act.recordPrescriptionSignature({ content: prescriptionContent(this.snapshot), signature: this.signature })).valid) {
          this.signature = undefined;
          delete this.snapshot.signature;
        }
      }
      const signed = this.signature ? { digest: this.signature.digest } : {};
      await this.project(
        [
          this.event('prescription.created', `doctor:${this.input.prescriberId}`, { version: 1, items: this.itemSummary(), long: this.input.long, ...signed }),
          this.event('task.created', SYSTEM, { taskId: this.reviewTask().id, kind: 'pharmacist-review' }, 'review:v1'),
        ],
        [this.reviewTask()],
      );
    });
  }

  /**
   * Whether the current version's content, as the read model stores it (what the pharmacist reads and
   * the pharmacy dispenses from), still matches its signature. A mismatch is recorded once per version
   * and stage: `prescription.signature-mismatch` on the timeline (with the digest found) and an
   * escalation task for coordinators; at dispensing the prescription is held (`on-hold`) instead of
   * dispensed. The projection that records it writes the signed content back from the workflow's state.
   * Called only when `signing`: on a prescription started before signing, not even an `await` is added
   * (one more microtask would reorder its commands against the history it made).
   */
  private async signatureHolds(stage: SignedStage): Promise<boolean> {
    const v = this.snapshot.version;
    const check = await act.verifyPrescriptionSignature({ prescriptionId: this.input.prescriptionId, version: v, signature: this.signature ?? null, stage });
    if (check.ok) return true;
    const occurrence = `v${v}:${stage}`;
    const task: TaskChange = {
      id: `${this.wfId}:signature-mismatch:${occurrence}`,
      kind: 'escalation',
      role: 'coordinator',
      status: 'open',
      subject: this.subject,
      action:
        stage === 'dispense'
          ? `Held before dispensing: version ${v} as stored no longer matches the prescriber's signature. Find out who changed it, then cancel (refund)`
          : `Version ${v} as stored no longer matches the prescriber's signature (found before ${stage === 'review' ? 'a review' : 'a payment'}): find out who changed it`,
      dueAt: new Date().toISOString(),
      tier: 1,
    };
    const events = [
      this.event('prescription.signature-mismatch', SYSTEM, { version: v, stage, reason: check.reason, ...(this.signature ? { signed: this.signature.digest } : {}), ...(check.found ? { found: check.found } : {}) }, occurrence),
      this.event('task.escalated', SYSTEM, { taskId: task.id, kind: 'escalation', subject: this.subject, tier: 1 }, `signature-mismatch:${occurrence}`),
    ];
    if (stage === 'dispense') {
      this.snapshot.status = 'on-hold';
      this.openEscalations = [...this.openEscalations, task];
    }
    await this.project(events, [task]);
    return false;
  }

  private mismatch(what: string): ApplicationFailure {
    return refused(RuleFailureType.SignatureMismatch, `prescription version ${this.snapshot.version} as stored no longer matches the prescriber's signature: it cannot be ${what}`);
  }

  private itemSummary() {
    return this.snapshot.items.map((i) => ({ drugCode: i.drugCode, frequency: i.frequency, days: i.days, quantity: i.quantity }));
  }

  review(r: ReviewInput): Promise<PrescriptionSnapshot> {
    return this.transition(async () => {
      this.requireReviewable(r);
      if (patched(VERIFIED_PEOPLE_PATCH)) {
        const standing = await act.clinicianStanding({ clinicianId: r.pharmacistId, role: 'pharmacist' });
        if (!standing.ok) throw refused(standing.type, standing.detail);
      }
      if (this.signing && !(await this.signatureHolds('review'))) throw this.mismatch('reviewed');
      const at = new Date().toISOString();
      const v = this.snapshot.version;
      const events: TimelineEvent[] = [];
      const tasks = [this.reviewTask('done'), ...this.closeEscalations(events)];
      this.snapshot.review = { pharmacistId: r.pharmacistId, decision: r.decision, ...(r.reason ? { reason: r.reason } : {}), at };
      if (r.decision === 'reject') {
        this.snapshot.status = 'revision-requested';
        events.unshift(this.event('prescription.rejected', `pharmacist:${r.pharmacistId}`, { version: v, reason: r.reason ?? '' }, `v${v}`));
        const revision = this.revisionTask();
        events.push(this.event('task.created', SYSTEM, { taskId: revision.id, kind: revision.kind }, `revision:v${v}`));
        await this.project(events, [...tasks, revision]);
        await this.send(this.notification('prescription.rejected', `v${v}`));
        return this.view();
      }
      // Approved: the validity runs from now; the patient is asked to pay at once.
      const amount = amountOf(this.snapshot.items);
      const dueBy = new Date(Date.now() + durationMs(this.input.timings.prescriptionValidity)).toISOString();
      const orderId = `${this.input.prescriptionId}-rx`;
      await partner.requestPayment({ orderId, journeyId: this.input.journeyId, amount, dueBy, subject: { type: 'prescription', id: this.input.prescriptionId } });
      this.snapshot.status = 'awaiting-payment';
      this.snapshot.payment = { orderId, amount, currency: 'CNY', status: 'pending', dueBy };
      events.unshift(
        this.event('prescription.approved', `pharmacist:${r.pharmacistId}`, { version: v }, `v${v}`),
        this.event('payment.requested', SYSTEM, { orderId, amount, currency: 'CNY', dueBy }),
      );
      await this.project(events, tasks);
      await this.send(this.notification('prescription.approved', `v${v}`, { amount, dueBy }));
      await this.send(this.notification('payment.due', orderId, { amount, dueBy }));
      return this.view();
    });
  }

  revise(r: ReviseInput): Promise<PrescriptionSnapshot> {
    return this.transition(async () => {
      this.requireRevisable(r);
      if (patched(VERIFIED_PEOPLE_PATCH)) {
        const standing = await act.clinicianStanding({ clinicianId: r.prescriberId, role: 'doctor' });
        if (!standing.ok) throw refused(standing.type, standing.detail);
      }
      if (this.signing) {
        // Only the prescriber's own signature of exactly the new version issues it; nothing changes otherwise.
        if (!r.signature || r.signature.signer !== this.input.prescriberId) throw refused(RuleFailureType.SignerNotPrescriber, "a new version needs the prescriber's own signature");
        const content = prescriptionContent({ ...this.snapshot, version: this.snapshot.version + 1, items: r.items });
        if (!(await act.recordPrescriptionSignature({ content, signature: r.signature })).valid) {
          throw refused(RuleFailureType.SignatureMismatch, `the signature is not the prescriber's signature of version ${content.version} as revised`);
        }
        this.signature = r.signature;
        this.snapshot.signature = signatureView(r.signature);
      }
      const closed = this.revisionTask('done');
      this.snapshot.version += 1;
      const v = this.snapshot.version;
      this.snapshot.items = r.items;
      this.snapshot.status = 'pending-review';
      delete this.snapshot.review;
      this.reviewDue = Date.now() + durationMs(this.input.timings.pharmacistReviewSla);
      const signed = this.signing && this.signature ? { digest: this.signature.digest } : {};
      await this.project(
        [
          this.event('prescription.revised', `doctor:${r.prescriberId}`, { version: v, items: this.itemSummary(), ...signed }, `v${v}`),
          this.event('task.created', SYSTEM, { taskId: this.reviewTask().id, kind: 'pharmacist-review' }, `review:v${v}`),
        ],
        [closed, this.reviewTask()],
      );
      return this.view();
    });
  }

  /** The open review or revision task of the current version, closed as `cancelled`. */
  private pendingWorkTasks(): TaskChange[] {
    if (this.status === 'pending-review') return [this.reviewTask('cancelled')];
    if (this.status === 'revision-requested') return [this.revisionTask('cancelled')];
    return [];
  }

  /** Validity passed unpaid (or unrevised): it can never be dispensed. */
  expire(reason: 'unpaid' | 'not-revised'): Promise<void> {
    return this.transition(async () => {
      if (reason === 'unpaid' ? this.status !== 'awaiting-payment' : this.status !== 'revision-requested') return; // moved on meanwhile
      const events: TimelineEvent[] = [];
      const tasks = [...this.pendingWorkTasks(), ...this.closeEscalations(events, 'cancelled')];
      const pay = this.snapshot.payment;
      if (pay?.status === 'pending') {
        await act.markPayment({ orderId: pay.orderId, status: 'expired' });
        pay.status = 'expired';
      }
      this.snapshot.status = 'expired';
      events.unshift(this.event('prescription.expired', SYSTEM, { reason, version: this.snapshot.version }));
      await this.project(events, tasks);
      await this.send(this.notification('prescription.expired', 'expired', { reason }));
    });
  }

  // ---- payment, dispensing, delivery -----------------------------------------------------

  onPayment(p: PaymentReceived): Promise<PaymentTaken> {
    return this.transition(() =>
      this.takePayment(this.snapshot.payment, p, this.status === 'awaiting-payment', async () => {
        // Refused before anything changes: the order stays pending, the provider's retry may land later.
        // (A payment nobody waits for any more is refunded whatever these say.)
        if (this.signing && !(await this.signatureHolds('payment'))) throw this.mismatch('paid');
        if (patched(VERIFIED_PEOPLE_PATCH)) {
          const standing = await act.patientStanding({ patientId: this.input.patientId });
          if (!standing.ok) throw refused(standing.type, standing.detail);
        }
        this.snapshot.payment!.status = 'paid';
        this.snapshot.status = 'paid';
        await act.markPayment({ orderId: p.orderId, status: 'paid', paidAt: p.paidAt, channel: p.channel });
        await this.project([this.event('payment.received', 'payment-provider', { orderId: p.orderId, amount: p.amount, channel: p.channel })]);
      }),
    );
  }

  /** Paid: dispensed once for this version, then handed to the courier. */
  dispenseAndShip(): Promise<void> {
    return this.transition(async () => {
      if (this.status !== 'paid') return;
      if (this.signing && !(await this.signatureHolds('dispense'))) return; // held: coordinators cancel it (refund)
      const v = this.snapshot.version;
      await act.dispense({ prescriptionId: this.input.prescriptionId, version: v });
      this.snapshot.status = 'dispensed';
      await this.project([this.event('prescription.dispensed', SYSTEM, { version: v }, `v${v}`)]);
      await this.ship(1);
    });
  }

  private async ship(attempt: number): Promise<void> {
    const deliveryId = `${this.input.prescriptionId}-d${attempt}`;
    await partner.placeCourierOrder({ deliveryId, prescriptionId: this.input.prescriptionId, patientId: this.input.patientId, attempt });
    this.snapshot.status = 'shipped';
    this.snapshot.delivery = { deliveryId, status: 'ordered' };
    await this.project([this.event('delivery.ordered', SYSTEM, { deliveryId, attempt }, deliveryId)]);
    await this.send(this.notification('delivery.update', `${deliveryId}:ordered`, { status: 'ordered', deliveryId }));
  }

  /** A courier report; one for a replaced delivery id, or that would move it backwards, changes nothing. */
  onCourier(c: CourierReport): Promise<{ outcome: 'applied' | 'unchanged' }> {
    return this.transition(async () => {
      const d = this.snapshot.delivery;
      if (!d || d.deliveryId !== c.deliveryId || this.status !== 'shipped') return { outcome: 'unchanged' as const };
      if (STEP_RANK[c.status] <= STEP_RANK[d.status]) return { outcome: 'unchanged' as const };
      d.status = c.status;
      const events: TimelineEvent[] = [this.event(`delivery.${c.status}`, 'courier', { deliveryId: c.deliveryId, at: c.at }, c.deliveryId)];
      let tasks: TaskChange[] | undefined;
      let notice: string = c.status;
      if (c.status === 'delivered') {
        this.snapshot.status = 'delivered';
        tasks = this.closeEscalations(events);
      } else if (c.status === 'failed') {
        tasks = this.closeEscalations(events, 'cancelled');
        const attempt = Number(c.deliveryId.slice(c.deliveryId.lastIndexOf('-d') + 2));
        if (attempt >= DELIVERY_ATTEMPTS) {
          this.snapshot.status = 'delivery-failed';
          notice = 'delivery-failed';
          const task: TaskChange = {
            id: `${this.wfId}:delivery-failed`,
            kind: 'escalation',
            role: 'coordinator',
            status: 'open',
            subject: this.subject,
            action: 'Delivery failed twice: contact the patient, then cancel (refund) or arrange another delivery',
            dueAt: new Date().toISOString(),
            tier: 1,
          };
          this.openEscalations = [...this.openEscalations, task];
          tasks = [...tasks, task];
          events.push(this.event('task.escalated', SYSTEM, { taskId: task.id, kind: 'escalation', subject: this.subject, tier: 1 }, 'delivery-failed'));
        }
      }
      await this.project(events, tasks);
      await this.send(this.notification('delivery.update', `${c.deliveryId}:${c.status}`, { status: notice, deliveryId: c.deliveryId }));
      if (c.status === 'failed' && this.status === 'shipped') await this.ship(DELIVERY_ATTEMPTS);
      return { outcome: 'applied' as const };
    });
  }

  // ---- cancellation and the course -------------------------------------------------------

  cancel(c: ItemCancelInput): Promise<PrescriptionSnapshot> {
    return this.transition(async () => {
      this.requireCancellable(c);
      const events: TimelineEvent[] = [];
      if (this.status === 'delivered') {
        // Delivered medicine cannot be taken back: the course's reminders stop; the status stays.
        this.courseStopped = true;
        events.push(this.event('course.stopped', actorName(c.actor), { reason: c.reason }));
        await this.project(events);
        return this.view();
      }
      const tasks = [...this.pendingWorkTasks(), ...this.closeEscalations(events, 'cancelled')];
      const pay = this.snapshot.payment;
      if (pay?.status === 'pending') {
        await act.markPayment({ orderId: pay.orderId, status: 'expired' });
        pay.status = 'expired';
      }
      if (pay?.status === 'paid') events.push(await this.refundPayment(pay, 'cancelled'));
      this.snapshot.status = 'cancelled';
      events.push(this.event('prescription.cancelled', actorName(c.actor), { reason: c.reason, version: this.snapshot.version }));
      await this.project(events, tasks);
      if (pay?.status === 'refunded') await this.send(this.notification('payment.refunded', pay.orderId, { amount: pay.amount }));
      await this.send(this.notification('prescription.cancelled', 'cancelled'));
      return this.view();
    });
  }

  /**
   * Plans the course's dose times in the patient's timezone, from the first reminder time after
   * delivery. A drug in the plan of the patient's care program is the program's to remind of: its days
   * go to the program's supply (a signal, once per prescription and drug) and it leaves this course.
   */
  planCourse(): Promise<void> {
    return this.transition(async () => {
      let items = this.snapshot.items;
      let program: { programId: string; workflowId: string; drugCodes: string[] } | undefined;
      if (patched(PROGRAM_SUPPLY_PATCH)) {
        [program] = await act.programForDrugs({ patientId: this.input.patientId, drugCodes: items.map((i) => i.drugCode) });
        if (program) {
          const theirs = new Set(program.drugCodes);
          const external = getExternalWorkflowHandle(program.workflowId);
          for (const i of items.filter((x) => theirs.has(x.drugCode))) {
            await external.signal(supplyAddedSignal, { prescriptionId: this.input.prescriptionId, drugCode: i.drugCode, days: i.days }).catch((err: unknown) => {
              log.warn('care program not told of the supply (it has ended)', { prescriptionId: this.input.prescriptionId, error: String(err) });
            });
          }
          items = items.filter((x) => !theirs.has(x.drugCode));
        }
      }
      const plan = items.length
        ? await act.planDoses({
            prescriptionId: this.input.prescriptionId,
            items: items.map((i) => ({ drugCode: i.drugCode, frequency: i.frequency, days: i.days })),
            timezone: this.input.timezone,
            from: new Date().toISOString(),
          })
        : { times: [], doses: [] };
      this.doses = plan.doses;
      this.snapshot.reminders = {
        timezone: this.input.timezone,
        times: plan.times,
        next: this.doses[0]?.at ?? null,
        ...(program ? { by: 'program' as const, programId: program.programId, programDrugs: program.drugCodes.filter((d) => this.snapshot.items.some((i) => i.drugCode === d)) } : {}),
      };
      await this.project(program ? [this.event('course.by-program', SYSTEM, { programId: program.programId, drugCodes: this.snapshot.reminders.programDrugs })] : []);
    });
  }

  sendReminder(index: number): Promise<void> {
    return this.transition(async () => {
      if (this.courseStopped || this.isEnding) return;
      const dose = this.doses[index]!;
      this.snapshot.reminders!.next = this.doses[index + 1]?.at ?? null;
      // Withheld (outreach consent withdrawn, workflows/kernel.ts): not told as sent.
      const sent = await this.send(this.notification('medication.reminder', dose.at, { at: dose.at, count: dose.drugCodes.length }));
      await this.project(sent ? [this.event('medication.reminder-sent', SYSTEM, { at: dose.at, drugCodes: dose.drugCodes }, dose.at)] : []);
    });
  }

}

export async function prescriptionFulfillment(input: PrescriptionInput): Promise<PrescriptionSnapshot> {
  const p = new Prescription(input);
  const t = input.timings;
  setHandler(prescriptionQuery, () => p.view());
  setHandler(reviewUpdate, (r) => p.review(r), { validator: (r) => p.requireReviewable(r) });
  setHandler(reviseUpdate, (r) => p.revise(r), { validator: (r) => p.requireRevisable(r) });
  setHandler(cancelPrescriptionUpdate, (c) => p.cancel(c), { validator: (c) => p.requireCancellable(c) });
  setHandler(paymentUpdate, (pay) => p.onPayment(pay));
  setHandler(courierUpdate, (c) => p.onCourier(c));

  await p.create();
  const reviewSla = durationMs(t.pharmacistReviewSla);
  const validity = durationMs(t.prescriptionValidity);

  // Review, and revision after a rejection, until approved, expired or cancelled.
  for (;;) {
    const version = p.snapshot.version;
    await p.awaitWithEscalation({
      what: `review-sla:v${version}`,
      subject: { type: 'prescription', id: input.prescriptionId },
      action: `Pharmacist review of prescription version ${version} is overdue`,
      maxTier: 2,
      firstDeadline: p.reviewDue,
      sla: reviewSla,
      done: () => p.current() !== 'pending-review' || p.snapshot.version !== version,
    });
    if (p.current() !== 'revision-requested') break;
    // The prescriber has the prescription's validity to revise or cancel it.
    if (!(await condition(() => p.current() !== 'revision-requested', validity))) await p.expire('not-revised');
    if (p.current() !== 'pending-review') break;
  }

  if (p.current() === 'awaiting-payment') {
    const dueBy = Date.parse(p.snapshot.payment!.dueBy);
    if (!(await condition(() => p.current() !== 'awaiting-payment', Math.max(dueBy - Date.now(), 1)))) await p.expire('unpaid');
  }
  if (p.current() === 'paid') {
    await p.dispenseAndShip();
    // Delivery, escalated when it takes longer than the delivery SLA; a failure is retried once inside onCourier.
    const sla = durationMs(t.deliverySla ?? DEFAULT_DELIVERY_SLA);
    let deliveryId = '';
    while (p.current() === 'shipped' && p.snapshot.delivery!.deliveryId !== deliveryId) {
      deliveryId = p.snapshot.delivery!.deliveryId;
      const current = deliveryId;
      await p.awaitWithEscalation({
        what: `delivery-sla:${current}`,
        subject: { type: 'prescription', id: input.prescriptionId },
        action: 'Delivery is taking longer than the delivery SLA',
        maxTier: 2,
        firstDeadline: Date.now() + sla,
        sla,
        done: () => p.current() !== 'shipped' || p.snapshot.delivery!.deliveryId !== current,
      });
    }
  }

  await p.announceSettled();
  const stuck = p.current();
  if (stuck === 'delivery-failed' || stuck === 'on-hold') {
    // A coordinator may cancel (refund) within the prescription's validity; past it, the patient is
    // paid back all the same: medicine that never arrived, or was never dispensed, is never kept paid for.
    if (!(await condition(() => p.current() !== stuck, validity))) {
      const reason = stuck === 'on-hold' ? 'held: its content no longer matched its signature' : 'not delivered within the validity';
      await p.cancel({ reason, actor: { role: 'coordinator', id: 'system' } });
    }
  }
  if (p.current() === 'delivered') {
    await p.planCourse();
    for (let i = 0; i < p.doses.length; i++) {
      const due = Date.parse(p.doses[i]!.at);
      if (await condition(() => p.courseStopped, Math.max(due - Date.now(), 1))) break;
      await p.sendReminder(i);
    }
  }
  await p.drain();
  return p.view();
}
