// Records histories of finished workflows on the real dev server, for the replay tests in
// tests/replay.test.ts. A committed history is never re-recorded: journeys that ran the code it was
// recorded from may still be running in the world, so this script refuses to overwrite a file.
//
//   npx tsx scripts/record-histories.ts            records every scenario whose file is missing
//   npx tsx scripts/record-histories.ts NAME ...   records only those scenarios (still never overwriting)
//
// Record a new scenario when a workflow gains a branch or a `patched()` change: the history then
// proves that the code after the change still replays what ran before it.
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { sign } from '../activities/signature.js';
import { JOURNEY_TASK_QUEUE, RECONCILIATION_WORKFLOW, SCHEDULED_RECONCILIATION_ID, consultationWorkflowId, examWorkflowId, mdtWorkflowId, remoteWorkflowId, journeyWorkflowId, latePaymentWorkflowId, prescriptionWorkflowId, referralWorkflowId } from '../workflows/definitions.js';
import { SECRETS } from '../tests/support/stack.js';
import { startStack, type Stack } from '../tests/support/stack.js';
import { whileAlteredWhenPaid } from '../tests/support/read-model.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'histories');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ctx {
  stack: Stack;
  post(path: string, token: string, body?: unknown): Promise<Record<string, any>>;
  admin: string;
  pt: string;
  dt: string;
  /** A verified pharmacist's token. */
  ph: string;
  patient: Record<string, any>;
  doctor: Record<string, any>;
  /** A pathway with short timings (PT1M payment window unless overridden). */
  pathway(id: string, over?: Record<string, unknown>): Promise<void>;
  slot(inMs: number): Promise<Record<string, any>>;
  pay(orderId: string, amount?: number): Promise<void>;
  /** Saves the history of a workflow once it has completed. */
  save(workflowId: string, name: string): Promise<void>;
  /** A journey checked in and in consultation with the doctor, on `pathwayId`. */
  inConsultation(pathwayId: string): Promise<string>;
  /** Such a journey's outcome prescribing ambroxol for `days`: the journey and the prescription, once it waits for review. */
  prescribed(pathwayId: string, days: number): Promise<{ journeyId: string; rxId: string }>;
}

async function until<T>(probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}

/** A journey checked in whose doctor starts only after three SLA periods, then records the outcome. */
async function escalatedJourney(c: Ctx, pathwayId: string, file: string): Promise<void> {
  await c.pathway(pathwayId, { appointmentReminders: [], consultStartSla: 'PT1S', noShowGrace: 'PT1M' });
  const slot = await c.slot(2000);
  const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId });
  const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
  await c.pay(booked.payment.orderId);
  await sleep(2200);
  await c.post(`/v1/journeys/${j.id}/check-in`, c.pt);
  await sleep(5500);
  await c.post(`/v1/journeys/${j.id}/consultation`, c.dt);
  await c.post(`/v1/journeys/${j.id}/outcome`, c.dt, { diagnosis: { text: 'Cough' }, notes: 'Fluids.' });
  await c.save(journeyWorkflowId(j.id), file);
}

/**
 * A journey on `pathwayId` booked into a slot `slotInMs` ahead and paid; checked in once the slot has
 * started (its reminders sent), then the consultation and an outcome without items. Its id.
 */
async function remindedVisit(c: Ctx, pathwayId: string, slotInMs: number): Promise<string> {
  const { j, slot } = await bookedAndPaid(c, pathwayId, slotInMs);
  await sleep(Date.parse(slot.start) - Date.now() + 300);
  await c.post(`/v1/journeys/${j.id}/check-in`, c.pt);
  await c.post(`/v1/journeys/${j.id}/consultation`, c.dt);
  await c.post(`/v1/journeys/${j.id}/outcome`, c.dt, { diagnosis: { text: 'Cough' }, notes: 'Fluids.' });
  return j.id as string;
}

/** A journey on `pathwayId` booked into a new slot `slotInMs` ahead, and paid. */
async function bookedAndPaid(c: Ctx, pathwayId: string, slotInMs: number): Promise<{ j: Record<string, any>; slot: Record<string, any> }> {
  const slot = await c.slot(slotInMs);
  const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId });
  const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
  await c.pay(booked.payment.orderId);
  return { j, slot };
}

/** Waits until the journey has taken its payment (step `booked`). */
async function paymentTaken(c: Ctx, journeyId: string): Promise<void> {
  await until(async () => (((await (await c.stack.call('GET', `/v1/journeys/${journeyId}`, { token: c.admin })).json()) as { step?: string }).step === 'booked' ? true : undefined));
}

/** An institution's callback on a local port, answering each POST with `status()`, for the length of `fn`. */
async function withCallback(status: () => number, fn: (url: string) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status()).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/opinions`);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

/** A remote consultation request from `institution` about a patient of its own, signed with its secret. */
async function askRemotely(c: Ctx, institution: Record<string, any>, externalRef: string): Promise<{ id: string }> {
  const raw = JSON.stringify({
    externalRef,
    patient: { externalId: externalRef, name: 'Replay', phone: '+8613800000031', birthDate: '1955-05-05', sex: 'F' },
    department: 'respiratory',
    request: { body: 'replay request', attachments: [] },
  });
  const res = await c.stack.call('POST', '/v1/remote-consultations', { raw, headers: { 'X-Institution-Id': institution.id, 'X-Signature': sign(institution.signingSecret, raw) } });
  if (res.status !== 201) throw new Error(`remote request ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string };
}

/** Each scenario drives journeys over HTTP and saves one or more histories (file names listed). */
const scenarios: Record<string, { files: string[]; run(c: Ctx): Promise<void> }> = {
  'online-care-standing': {
    files: ['patient-journey-standing.json'],
    // A visit whose doctor's standing is asked before booking and before the consultation (`online-care-standing`).
    async run(c) {
      await c.pathway('replay-standing', { paymentWindow: 'PT1M', noShowGrace: 'PT30S', consultStartSla: 'PT30S' });
      const journeyId = await c.inConsultation('replay-standing');
      await c.post(`/v1/journeys/${journeyId}/outcome`, c.dt, { diagnosis: { text: 'Cough' }, notes: 'Fluids.' });
      await c.save(journeyWorkflowId(journeyId), 'patient-journey-standing.json');
    },
  },
  'journey-local-work': {
    files: ['patient-journey-local-work.json'],
    // A visit whose short work runs as local activities (`journey-local-work`): triage, booking, the
    // payment, check-in, the consultation and an outcome with a prescription, whose child is cancelled.
    async run(c) {
      await c.pathway('replay-local-work', { paymentWindow: 'PT1M', noShowGrace: 'PT30S', consultStartSla: 'PT30S' });
      const { journeyId, rxId } = await c.prescribed('replay-local-work', 2);
      await c.post(`/v1/prescriptions/${rxId}/cancel`, c.dt, { reason: 'recorded without the course' });
      await c.save(journeyWorkflowId(journeyId), 'patient-journey-local-work.json');
    },
  },
  'journey-one-transaction': {
    files: [
      'patient-journey-one-transaction.json',
      'patient-journey-one-transaction-cancelled.json',
      'patient-journey-one-transaction-post-visit.json',
      'patient-journey-one-transaction-cancelled-in-visit.json',
      'patient-journey-one-transaction-lapsed.json',
      'patient-journey-one-transaction-no-show.json',
    ],
    // Journeys whose transitions are one local activity each where they can be (`journey-one-transaction`):
    // started pre-triaged by the API; two reminders, each stored with its projection; a check-in near the
    // front that says so in its own projection; the consultation with its standing and queue; an outcome
    // that finishes the queue in its projection. Then one paid and cancelled (refund and notices in one
    // projection), one whose outcome prescribes (its child cancelled), one cancelled by a coordinator
    // once checked in (the queue left in the projection), one whose payment window lapses and one no-show
    // (the seat and the order in the projection).
    async run(c) {
      await c.pathway('replay-one-tx', { appointmentReminders: ['PT2S', 'PT1S'], paymentWindow: 'PT1M', noShowGrace: 'PT30S', consultStartSla: 'PT30S' });
      await c.save(journeyWorkflowId(await remindedVisit(c, 'replay-one-tx', 3500)), 'patient-journey-one-transaction.json');

      const { j: k } = await bookedAndPaid(c, 'replay-one-tx', 3_600_000);
      await paymentTaken(c, k.id);
      await c.post(`/v1/journeys/${k.id}/cancel`, c.pt, { reason: 'feeling better' });
      await c.save(journeyWorkflowId(k.id), 'patient-journey-one-transaction-cancelled.json');

      const { journeyId, rxId } = await c.prescribed('replay-one-tx', 2);
      await c.post(`/v1/prescriptions/${rxId}/cancel`, c.dt, { reason: 'recorded without the course' });
      await c.save(journeyWorkflowId(journeyId), 'patient-journey-one-transaction-post-visit.json');

      const { j: v } = await bookedAndPaid(c, 'replay-one-tx', 1500);
      await paymentTaken(c, v.id);
      await c.post(`/v1/journeys/${v.id}/check-in`, c.pt);
      await c.post(`/v1/journeys/${v.id}/cancel`, await c.stack.token('coordinator', 'coord-replay'), { reason: 'clinic closed' });
      await c.save(journeyWorkflowId(v.id), 'patient-journey-one-transaction-cancelled-in-visit.json');

      await c.pathway('replay-one-tx-short', { paymentWindow: 'PT2S', noShowGrace: 'PT1S', consultStartSla: 'PT30S' });
      const lapse = await c.slot(3_600_000);
      const l = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-one-tx-short' });
      await c.post(`/v1/journeys/${l.id}/appointment`, c.pt, { slotId: lapse.id });
      await c.save(journeyWorkflowId(l.id), 'patient-journey-one-transaction-lapsed.json');

      const { j: n } = await bookedAndPaid(c, 'replay-one-tx-short', 1500);
      await c.save(journeyWorkflowId(n.id), 'patient-journey-one-transaction-no-show.json');
    },
  },
  'journey-order-with-seat': {
    files: ['patient-journey-order-with-seat.json'],
    // A visit whose registration order is stored with its seat (`journey-order-with-seat`, on
    // `journey-one-transaction`): no requestPayment activity; paid, a reminder, checked in, consultation, outcome.
    async run(c) {
      await c.pathway('replay-order-seat', { appointmentReminders: ['PT1S'], paymentWindow: 'PT1M', noShowGrace: 'PT30S', consultStartSla: 'PT30S' });
      await c.save(journeyWorkflowId(await remindedVisit(c, 'replay-order-seat', 2500)), 'patient-journey-order-with-seat.json');
    },
  },
  'needs-in-person': {
    files: ['patient-journey-referred-offline.json', 'patient-journey-pretriaged-cancelled.json'],
    // An online visit that ends as "needs in-person care" (`needs-in-person`), and the offline journey it
    // started, pre-triaged, which the patient then cancels.
    async run(c) {
      await c.pathway('replay-online', { modes: ['online'], paymentWindow: 'PT1M', noShowGrace: 'PT30S', consultStartSla: 'PT30S' });
      const start = new Date(Date.now() + 1500);
      const slot = await c.post('/v1/slots', c.admin, { doctorId: c.doctor.id, department: 'respiratory', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 2, mode: 'online' });
      const followUpOf = { diagnosis: 'Chronic bronchitis', visitDate: '2026-01-05', facility: 'CarePath' };
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'online', complaint: 'cough', pathwayId: 'replay-online', followUpOf });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
      await sleep(1700);
      await c.post(`/v1/journeys/${j.id}/check-in`, c.pt);
      await c.post(`/v1/journeys/${j.id}/consultation`, c.dt);
      const closed = await c.post(`/v1/journeys/${j.id}/outcome`, c.dt, { diagnosis: { text: 'Crackles reported' }, notes: 'Auscultation needed.', kind: 'needs-in-person', reason: 'physical-examination' });
      await c.save(journeyWorkflowId(j.id), 'patient-journey-referred-offline.json');
      await c.post(`/v1/journeys/${closed.referredTo}/cancel`, c.pt, { reason: 'will come next week' });
      await c.save(journeyWorkflowId(closed.referredTo), 'patient-journey-pretriaged-cancelled.json');
    },
  },
  completed: {
    files: ['patient-journey-completed.json'],
    async run(c) {
      await c.pathway('replay', { paymentWindow: 'PT1M', appointmentReminders: ['PT4S', 'PT2S'], noShowGrace: 'PT5S', consultStartSla: 'PT1S' });
      const slot = await c.slot(6000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough and sputum', pathwayId: 'replay' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
      await sleep(6500); // both reminders, then the start
      await c.post(`/v1/journeys/${j.id}/check-in`, c.pt);
      await sleep(1500); // past the consult-start SLA: one escalation
      await c.post(`/v1/journeys/${j.id}/consultation`, c.dt);
      await c.post(`/v1/journeys/${j.id}/outcome`, c.dt, { diagnosis: { code: 'J20.9', text: 'Acute bronchitis' }, notes: 'Rest.' });
      await c.save(journeyWorkflowId(j.id), 'patient-journey-completed.json');
    },
  },
  lapsed: {
    files: ['patient-journey-lapsed.json', 'late-payment-refund.json'],
    async run(c) {
      // A journey that lapses unpaid, then a payment that comes after its workflow has closed.
      await c.pathway('replay-lapse', { paymentWindow: 'PT1S', appointmentReminders: [] });
      const slot = await c.slot(3600_000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-lapse' });
      const order = (await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id })).payment.orderId as string;
      await c.stack.env.client.workflow.getHandle(journeyWorkflowId(j.id)).result();
      await c.pay(order);
      await c.save(journeyWorkflowId(j.id), 'patient-journey-lapsed.json');
      await c.save(latePaymentWorkflowId(order), 'late-payment-refund.json');
    },
  },
  cancelled: {
    files: ['patient-journey-cancelled.json'],
    async run(c) {
      // Booked and paid, then cancelled by the patient: seat freed, fee refunded.
      await c.pathway('replay-cancel', { appointmentReminders: ['PT1H'] });
      const slot = await c.slot(7200_000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-cancel' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
      await c.post(`/v1/journeys/${j.id}/cancel`, c.pt, { reason: 'cannot come' });
      await c.save(journeyWorkflowId(j.id), 'patient-journey-cancelled.json');
    },
  },
  'no-show': {
    files: ['patient-journey-no-show.json'],
    async run(c) {
      await c.pathway('replay-no-show', { appointmentReminders: ['PT1S'], noShowGrace: 'PT1S' });
      const { j } = await bookedAndPaid(c, 'replay-no-show', 3000);
      await c.save(journeyWorkflowId(j.id), 'patient-journey-no-show.json');
    },
  },
  'red-flag': {
    files: ['patient-journey-red-flag.json'],
    async run(c) {
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: '胸痛伴呼吸困难' });
      if (j.status !== 'redirected') throw new Error(`red flag: ${j.status}`);
      await c.save(journeyWorkflowId(j.id), 'patient-journey-red-flag.json');
    },
  },
  unbooked: {
    files: ['patient-journey-unbooked.json'],
    async run(c) {
      await c.pathway('replay-unbooked', { bookingWindow: 'PT1S' });
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-unbooked' });
      await c.save(journeyWorkflowId(j.id), 'patient-journey-unbooked.json');
    },
  },
  escalated: {
    files: ['patient-journey-escalated.json'],
    // Checked in, the doctor never starts: tiers 1, 2 and 3, then the landed code's timers after the
    // last tier; then the consultation and the outcome.
    run: (c) => escalatedJourney(c, 'replay-escalate', 'patient-journey-escalated.json'),
  },
  'escalated-per-tier': {
    files: ['patient-journey-escalated-per-tier.json'],
    // As `escalated`, on the code with the kernel's patches: a task per tier, no timer after tier 3.
    run: (c) => escalatedJourney(c, 'replay-per-tier', 'patient-journey-escalated-per-tier.json'),
  },
  'search-attributes': {
    files: ['patient-journey-indexed.json', 'patient-journey-no-show-indexed.json'],
    // On the code that keeps the search attributes (kernel patch `search-attributes`): a journey through
    // every step, overdue while escalated and no longer once the consultation starts; and a no-show.
    async run(c) {
      await escalatedJourney(c, 'replay-indexed', 'patient-journey-indexed.json');
      await c.pathway('replay-no-show-indexed', { appointmentReminders: ['PT1S'], noShowGrace: 'PT1S' });
      const slot = await c.slot(3000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-no-show-indexed' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
      await c.save(journeyWorkflowId(j.id), 'patient-journey-no-show-indexed.json');
    },
  },
  'cancelled-in-visit': {
    files: ['patient-journey-cancelled-in-visit.json'],
    async run(c) {
      // Checked in, escalated once, then ended by a coordinator before the consultation.
      await c.pathway('replay-visit-cancel', { appointmentReminders: [], consultStartSla: 'PT1S', noShowGrace: 'PT1M' });
      const slot = await c.slot(2000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-visit-cancel' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
      await sleep(2200);
      await c.post(`/v1/journeys/${j.id}/check-in`, c.pt);
      await sleep(1500);
      await c.post(`/v1/journeys/${j.id}/cancel`, await c.stack.token('coordinator', 'coord-replay'), { reason: 'doctor unavailable' });
      await c.save(journeyWorkflowId(j.id), 'patient-journey-cancelled-in-visit.json');
    },
  },
  'post-visit': {
    files: ['patient-journey-post-visit.json', 'prescription-delivered.json', 'exam-completed.json', 'referral-attended.json'],
    async run(c) {
      // An outcome with a prescription, an exam and a referral, each driven to its end; the journey
      // completes when all three have settled.
      await c.pathway('replay-post-visit', { appointmentReminders: [], consultStartSla: 'PT1M', noShowGrace: 'PT1M' });
      const journeyId = await c.inConsultation('replay-post-visit');
      const facility = await c.post('/v1/facilities', c.admin, { name: 'Replay community hospital', kind: 'community' });
      const outcome = await c.post(`/v1/journeys/${journeyId}/outcome`, c.dt, {
        diagnosis: { code: 'J20.9', text: 'Acute bronchitis' },
        notes: 'Rest.',
        prescriptions: [{ items: [{ drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'tid', days: 1, quantity: 3 }] }],
        exams: [{ code: 'cbc' }],
        referral: { facilityId: facility.id, department: 'respiratory', reason: 'follow-up near home', urgency: 'routine', consent: true },
      });
      const [rxId] = outcome.created.prescriptions as string[];
      const [examId] = outcome.created.exams as string[];
      const [referralId] = outcome.created.referrals as string[];
      const coordinator = await c.stack.token('coordinator', 'coord-replay');
      const read = (path: string) => c.stack.call('GET', path, { token: c.admin }).then((r) => r.json() as Promise<Record<string, any>>);

      await until(async () => ((await read(`/v1/prescriptions/${rxId}`)).status === 'pending-review' ? true : undefined));
      const approved = await c.post(`/v1/prescriptions/${rxId}/review`, c.ph, { decision: 'approve' });
      await c.pay(approved.payment.orderId, approved.payment.amount);
      const deliveryId = await until(async () => (await read(`/v1/prescriptions/${rxId}`)).delivery?.deliveryId as string | undefined);
      for (const status of ['picked-up', 'in-transit', 'delivered']) {
        const raw = JSON.stringify({ deliveryId, status, at: new Date().toISOString() });
        const res = await c.stack.call('POST', '/v1/webhooks/courier', { raw, headers: { 'X-Signature': sign(SECRETS.courierWebhook, raw) } });
        if (res.status !== 204) throw new Error(`courier ${res.status}`);
      }
      await until(async () => ((await read(`/v1/prescriptions/${rxId}`)).reminders ? true : undefined));
      await c.post(`/v1/prescriptions/${rxId}/cancel`, c.dt, { reason: 'course stopped for the recording' });

      const exam = await until(async () => {
        const e = await read(`/v1/exams/${examId}`);
        return e.payment ? e : undefined;
      });
      await c.pay(exam.payment.orderId, exam.payment.amount);
      await until(async () => ((await read(`/v1/exams/${examId}`)).status === 'scheduled' ? true : undefined));
      await c.post(`/v1/exams/${examId}/result`, coordinator, { summary: 'Within normal limits', abnormal: false });

      await until(async () => (['sent', 'sending'].includes((await read(`/v1/referrals/${referralId}`)).status) ? true : undefined));
      await c.post(`/v1/referrals/${referralId}/response`, coordinator, { decision: 'accepted', appointmentAt: new Date(Date.now() + 3_600_000).toISOString() });
      await c.post(`/v1/referrals/${referralId}/attended`, coordinator, { summary: 'Seen; stable' });

      await c.save(prescriptionWorkflowId(rxId!), 'prescription-delivered.json');
      await c.save(examWorkflowId(examId!), 'exam-completed.json');
      await c.save(referralWorkflowId(referralId!), 'referral-attended.json');
      await c.save(journeyWorkflowId(journeyId), 'patient-journey-post-visit.json');
    },
  },
  consent: {
    files: ['patient-journey-outreach-withheld.json', 'referral-consent-withdrawn.json'],
    async run(c) {
      // Issue 10, rule 6 (patches `outreach-consent` and `referral-consent`). A journey whose patient
      // withdraws outreach consent after the first of three reminders and gives it back after the
      // second: reminded, withheld (`outreach.stopped`), reminded again (`outreach.resumed`), then
      // cancelled. And a referral retried against a facility that refuses connections, whose patient
      // withdraws record-sharing consent meanwhile: cancelled at the next attempt, never sent.
      const consent = async (scope: string, granted: boolean) => {
        const res = await c.stack.call('PUT', `/v1/patients/${c.patient.id}/consents/${scope}`, { token: c.pt, body: { granted } });
        if (res.status !== 200) throw new Error(`consent ${res.status} ${await res.text()}`);
      };
      const timeline = async (journeyId: string) =>
        ((await (await c.stack.call('GET', `/v1/journeys/${journeyId}`, { token: c.admin })).json()) as { timeline: { type: string }[] }).timeline.map((e) => e.type);
      const seen = (journeyId: string, type: string, n = 1) => until(async () => ((await timeline(journeyId)).filter((t) => t === type).length >= n ? true : undefined));

      await c.pathway('replay-outreach', { appointmentReminders: ['PT6S', 'PT4S', 'PT2S'], noShowGrace: 'PT1M' });
      const slot = await c.slot(9000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-outreach' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
      await seen(j.id, 'reminder.sent');
      await consent('outreach', false);
      await seen(j.id, 'outreach.stopped');
      await consent('outreach', true);
      await seen(j.id, 'outreach.resumed');
      await c.post(`/v1/journeys/${j.id}/cancel`, c.pt, { reason: 'cannot come' });
      await c.save(journeyWorkflowId(j.id), 'patient-journey-outreach-withheld.json');

      await c.pathway('replay-consent-referral', { appointmentReminders: [], consultStartSla: 'PT1M', noShowGrace: 'PT1M' });
      const journeyId = await c.inConsultation('replay-consent-referral');
      const facility = await c.post('/v1/facilities', c.admin, { name: 'Replay unreachable hospital', kind: 'hospital', webhookUrl: 'http://127.0.0.1:9/referrals' });
      const outcome = await c.post(`/v1/journeys/${journeyId}/outcome`, c.dt, {
        diagnosis: { text: 'Cough' },
        notes: '',
        referral: { facilityId: facility.id, department: 'respiratory', reason: 'imaging', urgency: 'routine', consent: true },
      });
      const [referralId] = outcome.created.referrals as string[];
      await until(async () => {
        const [row] = await c.stack.db.sql<{ attempts: number }[]>`select attempts from referral_sends where referral_id = ${referralId!}`;
        return (row?.attempts ?? 0) >= 1 ? true : undefined;
      });
      await consent('record-sharing', false);
      await c.save(referralWorkflowId(referralId!), 'referral-consent-withdrawn.json');
      await consent('record-sharing', true);
    },
  },
  'prescription-revised': {
    files: ['prescription-revised-cancelled.json'],
    async run(c) {
      // Rejected, revised, approved, then cancelled while awaiting payment.
      await c.pathway('replay-rx-revise', { appointmentReminders: [], consultStartSla: 'PT1M', noShowGrace: 'PT1M' });
      const { rxId } = await c.prescribed('replay-rx-revise', 3);
      const pharmacist = c.ph;
      await c.post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'reject', reason: 'shorter course' });
      await c.post(`/v1/prescriptions/${rxId}/revision`, c.dt, { items: [{ drugCode: 'ambroxol-30mg', dose: '30 mg', frequency: 'tid', days: 2, quantity: 6 }] });
      await c.post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'approve' });
      await c.post(`/v1/prescriptions/${rxId}/cancel`, c.dt, { reason: 'patient prefers another pharmacy' });
      await c.save(prescriptionWorkflowId(rxId!), 'prescription-revised-cancelled.json');
    },
  },
  'prescription-signed': {
    files: ['prescription-signed-delivered.json'],
    // Issue 10 (patches `prescription-signature`, `prescription-verified-people`): version 1 signed in the
    // outcome and stored; an unverified pharmacist's review refused; rejected; a signed revision by the
    // verified prescriber; approved; the payment of a patient not yet real-name verified refused, then
    // taken once verified; dispensed after the check; delivered; the course stopped.
    async run(c) {
      await c.pathway('replay-rx-signed', { appointmentReminders: [], consultStartSla: 'PT1M', noShowGrace: 'PT1M' });
      // A patient of their own, verified only after the first payment was refused.
      const patient = await c.post('/v1/patients', c.admin, { name: 'Replay Unverified', phone: '+8613800000019', birthDate: '1981-05-05', sex: 'M' });
      const pt = await c.stack.token('patient', patient.id);
      const slot = await c.slot(1500);
      const j = await c.post('/v1/journeys', pt, { patientId: patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-rx-signed' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
      await sleep(1700);
      await c.post(`/v1/journeys/${j.id}/check-in`, pt);
      await c.post(`/v1/journeys/${j.id}/consultation`, c.dt);
      const outcome = await c.post(`/v1/journeys/${j.id}/outcome`, c.dt, {
        diagnosis: { code: 'J20.9', text: 'Acute bronchitis' },
        notes: 'Rest.',
        prescriptions: [{ items: [{ drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'tid', days: 2, quantity: 6 }] }],
      });
      const [rxId] = outcome.created.prescriptions as string[];
      const read = (path: string) => c.stack.call('GET', path, { token: c.admin }).then((r) => r.json() as Promise<Record<string, any>>);
      const refused = async (res: Promise<Response>, type: string) => {
        const r = await res;
        const body = (await r.json()) as { type?: string };
        if (r.status !== 422 || !body.type?.endsWith(`/${type}`)) throw new Error(`expected 422 ${type}, got ${r.status} ${body.type}`);
      };
      await until(async () => ((await read(`/v1/prescriptions/${rxId}`)).status === 'pending-review' ? true : undefined));
      const unverified = await c.post('/v1/clinicians', c.admin, { name: 'Ph. Unverified', role: 'pharmacist' });
      await refused(c.stack.call('POST', `/v1/prescriptions/${rxId}/review`, { token: await c.stack.token('pharmacist', unverified.id), body: { decision: 'approve' } }), 'clinician-unverified');
      await c.post(`/v1/prescriptions/${rxId}/review`, c.ph, { decision: 'reject', reason: 'one day' });
      await c.post(`/v1/prescriptions/${rxId}/revision`, c.dt, { items: [{ drugCode: 'amoxicillin-500mg', dose: '500 mg', frequency: 'tid', days: 1, quantity: 3 }] });
      const approved = await c.post(`/v1/prescriptions/${rxId}/review`, c.ph, { decision: 'approve' });
      const paid = { orderId: approved.payment.orderId, status: 'paid', amount: approved.payment.amount, paidAt: new Date().toISOString(), channel: 'wechat' };
      await refused(c.stack.payWebhook(paid), 'patient-unverified');
      await c.post(`/v1/patients/${patient.id}/identity-verifications`, c.admin, { method: 'id-card' });
      await c.pay(approved.payment.orderId, approved.payment.amount);
      const deliveryId = await until(async () => (await read(`/v1/prescriptions/${rxId}`)).delivery?.deliveryId as string | undefined);
      for (const status of ['picked-up', 'in-transit', 'delivered']) {
        const raw = JSON.stringify({ deliveryId, status, at: new Date().toISOString() });
        const res = await c.stack.call('POST', '/v1/webhooks/courier', { raw, headers: { 'X-Signature': sign(SECRETS.courierWebhook, raw) } });
        if (res.status !== 204) throw new Error(`courier ${res.status}`);
      }
      await until(async () => ((await read(`/v1/prescriptions/${rxId}`)).reminders ? true : undefined));
      await c.post(`/v1/prescriptions/${rxId}/cancel`, c.dt, { reason: 'course stopped for the recording' });
      await c.save(prescriptionWorkflowId(rxId!), 'prescription-signed-delivered.json');
    },
  },
  'prescription-signature-held': {
    files: ['prescription-signature-held.json'],
    // Issue 10, rule 5 (patch `prescription-signature`): the stored row altered before the review (422,
    // `prescription.signature-mismatch`, a coordinators' task; the projection writes the signed content
    // back), approved, altered before the payment (422), paid, altered again as it is paid: held before
    // dispensing (`on-hold`), then cancelled by a coordinator with a refund.
    async run(c) {
      await c.pathway('replay-rx-held', { appointmentReminders: [], consultStartSla: 'PT1M', noShowGrace: 'PT1M' });
      const { rxId } = await c.prescribed('replay-rx-held', 2);
      const sql = c.stack.db.sql;
      const read = async () => (await (await c.stack.call('GET', `/v1/prescriptions/${rxId}`, { token: c.admin })).json()) as Record<string, any>;
      const alter = () => sql`update prescriptions set snapshot = jsonb_set(snapshot, '{items,0,quantity}', '60') where id = ${rxId}`;
      const refused = async (res: Promise<Response>) => {
        const r = await res;
        if (r.status !== 422) throw new Error(`expected 422 signature-mismatch, got ${r.status} ${await r.text()}`);
      };
      await alter();
      await refused(c.stack.call('POST', `/v1/prescriptions/${rxId}/review`, { token: c.ph, body: { decision: 'approve' } }));
      const approved = await c.post(`/v1/prescriptions/${rxId}/review`, c.ph, { decision: 'approve' });
      const paid = { orderId: approved.payment.orderId, status: 'paid', amount: approved.payment.amount, paidAt: new Date().toISOString(), channel: 'wechat' };
      await alter();
      await refused(c.stack.payWebhook(paid));
      await whileAlteredWhenPaid(sql, async () => {
        await c.pay(paid.orderId, paid.amount);
        await until(async () => ((await read()).status === 'on-hold' ? true : undefined));
      });
      await c.post(`/v1/prescriptions/${rxId}/cancel`, await c.stack.token('coordinator', 'coord-replay'), { reason: 'content altered before dispensing' });
      await c.save(prescriptionWorkflowId(rxId!), 'prescription-signature-held.json');
    },
  },
  consultations: {
    files: ['consultation-rated.json', 'consultation-not-taken.json', 'consultation-lapsed.json', 'consultation-time-up.json'],
    // Issue 12's online consultation, one history per way it ends: answered to its round limit (a
    // question escalated first, a message sent twice) and rated; nobody took it (escalated twice,
    // refunded); never paid (lapsed); its time up with a question waiting, the rating window passing.
    async run(c) {
      const template = (id: string, over: Record<string, unknown>) =>
        c.post('/v1/consultation-templates', c.admin, {
          id, version: 1, name: id, fee: 2000, paymentWindow: 'PT1M', replyWithin: 'PT1S', maxEscalationTier: 1,
          takeWithin: 'PT1M', maxRounds: 2, openFor: 'PT1M', ratingWindow: 'PT1M', ...over,
        });
      const ask = (templateId: string) =>
        c.post('/v1/consultations', c.pt, { patientId: c.patient.id, doctorId: c.doctor.id, templateId, message: { body: 'replay question', attachments: [] } });
      const say = (id: string, token: string, key?: string) =>
        c.stack.call('POST', `/v1/consultations/${id}/messages`, { token, body: { body: 'replay message' }, ...(key ? { headers: { 'Idempotency-Key': key } } : {}) }).then(async (r) => {
          if (r.status !== 201) throw new Error(`message ${r.status} ${await r.text()}`);
        });

      await template('replay-consult-rated', {});
      const rated = await ask('replay-consult-rated');
      await c.pay(rated.payment.orderId, 2000);
      await sleep(1500);
      await say(rated.id, c.dt);
      await say(rated.id, c.pt, 'replay-question-2');
      await say(rated.id, c.pt, 'replay-question-2');
      await say(rated.id, c.dt);
      await c.post(`/v1/consultations/${rated.id}/rating`, c.pt, { score: 4 });
      await c.save(consultationWorkflowId(rated.id), 'consultation-rated.json');

      await template('replay-consult-not-taken', { maxEscalationTier: 2, takeWithin: 'PT3S' });
      const notTaken = await ask('replay-consult-not-taken');
      await c.pay(notTaken.payment.orderId, 2000);
      await c.save(consultationWorkflowId(notTaken.id), 'consultation-not-taken.json');

      await template('replay-consult-lapsed', { paymentWindow: 'PT1S' });
      const lapsed = await ask('replay-consult-lapsed');
      await c.save(consultationWorkflowId(lapsed.id), 'consultation-lapsed.json');

      await template('replay-consult-time-up', { replyWithin: 'PT1M', maxRounds: 5, openFor: 'PT2S', ratingWindow: 'PT1S' });
      const timeUp = await ask('replay-consult-time-up');
      await c.pay(timeUp.payment.orderId, 2000);
      await say(timeUp.id, c.dt);
      await say(timeUp.id, c.pt);
      await c.save(consultationWorkflowId(timeUp.id), 'consultation-time-up.json');
    },
  },
  mdt: {
    files: ['mdt-concluded.json', 'mdt-reminded-escalated.json', 'mdt-expired.json'],
    // Issue 12's multidisciplinary consultation: concluded after refusals (quorum, not invited, a second
    // opinion, not the convener); a specialist reminded and escalated before their opinion, the
    // conclusion escalated before it is recorded; one never concluded, expired.
    async run(c) {
      const template = (id: string, over: Record<string, unknown>) =>
        c.post('/v1/consultation-templates', c.admin, {
          id, kind: 'mdt', version: 1, name: id, opinionWithin: 'PT1H', escalateAfter: 'PT1H', maxEscalationTier: 1, concludeWithin: 'PT1H', expireAfter: 'P1D', ...over,
        });
      const doctor = async (name: string) => {
        const d = await c.post('/v1/clinicians', c.admin, { name, role: 'doctor', department: 'cardiology' });
        await c.post(`/v1/clinicians/${d.id}/verification`, c.admin, { licenceNumber: `REPLAY-${name}`, yearsOfPractice: 10 });
        return { id: d.id as string, token: await c.stack.token('doctor', d.id) };
      };
      const [s1, s2] = [await doctor('MDT-A'), await doctor('MDT-B')];
      // The convener has cared for the patient: an online consultation asked of them.
      await c.post('/v1/consultations', c.pt, { patientId: c.patient.id, doctorId: c.doctor.id, message: { body: 'replay', attachments: [] } });
      const convene = (templateId: string, quorum: number) =>
        c.post('/v1/mdt', c.dt, { patientId: c.patient.id, specialists: [s1.id, s2.id], quorum, templateId, case: { body: 'replay case', attachments: [] } });
      const status = async (res: Promise<Response>, want: number) => {
        const r = await res;
        if (r.status !== want) throw new Error(`expected ${want}, got ${r.status} ${await r.text()}`);
      };
      const write = (id: string, what: string, token: string) => c.stack.call('POST', `/v1/mdt/${id}/${what}`, { token, body: { body: `replay ${what}` } });

      await template('replay-mdt', {});
      const m = await convene('replay-mdt', 2);
      await status(write(m.id, 'conclusion', c.dt), 409);
      await status(write(m.id, 'opinions', c.dt), 403);
      await status(write(m.id, 'opinions', s1.token), 201);
      await status(write(m.id, 'opinions', s1.token), 409);
      await status(write(m.id, 'opinions', s2.token), 201);
      await status(write(m.id, 'conclusion', s1.token), 403);
      await status(write(m.id, 'conclusion', c.dt), 200);
      await c.save(mdtWorkflowId(m.id), 'mdt-concluded.json');

      await template('replay-mdt-late', { opinionWithin: 'PT1S', escalateAfter: 'PT1S', concludeWithin: 'PT2S' });
      const late = await convene('replay-mdt-late', 1);
      await status(write(late.id, 'opinions', s1.token), 201);
      await sleep(3500);
      await status(write(late.id, 'opinions', s2.token), 201);
      await status(write(late.id, 'conclusion', c.dt), 200);
      await c.save(mdtWorkflowId(late.id), 'mdt-reminded-escalated.json');

      await template('replay-mdt-expired', { opinionWithin: 'PT1S', escalateAfter: 'PT1S', concludeWithin: 'PT1S', expireAfter: 'PT3S' });
      const expired = await convene('replay-mdt-expired', 1);
      await c.save(mdtWorkflowId(expired.id), 'mdt-expired.json');
    },
  },
  remote: {
    files: ['remote-returned.json'],
    // Issue 12's remote consultation: a signed request from an institution, escalated before a
    // specialist is scheduled, rescheduled to another, answered, and the opinion returned to the
    // institution's callback after it refused it once.
    async run(c) {
      let refusals = 1;
      await withCallback(() => (refusals-- > 0 ? 503 : 204), async (url) => {
        await c.post('/v1/consultation-templates', c.admin, { id: 'replay-remote', kind: 'remote', version: 1, name: 'replay', assignWithin: 'PT1S', opinionWithin: 'PT1H', escalateAfter: 'PT1H', maxEscalationTier: 1 });
        const institution = await c.post('/v1/institutions', c.admin, { name: 'Replay clinic', kind: 'primary-care', callbackUrl: url, templateId: 'replay-remote' });
        const receipt = await askRemotely(c, institution, 'replay-1');
        const other = await c.post('/v1/clinicians', c.admin, { name: 'Dr. Replay Two', role: 'doctor', department: 'respiratory' });
        await c.post(`/v1/clinicians/${other.id}/verification`, c.admin, { licenceNumber: 'REPLAY-TWO', yearsOfPractice: 10 });
        const coordinator = await c.stack.token('coordinator', 'coord-replay');
        await sleep(1500);
        await c.post(`/v1/remote-consultations/${receipt.id}/assignment`, coordinator, { doctorId: other.id });
        await c.post(`/v1/remote-consultations/${receipt.id}/assignment`, coordinator, { doctorId: c.doctor.id });
        await c.post(`/v1/remote-consultations/${receipt.id}/opinion`, c.dt, { body: 'replay opinion' });
        await c.save(remoteWorkflowId(receipt.id), 'remote-returned.json');
      });
    },
  },
  'mdt-notices': {
    files: ['mdt-convened-notice.json'],
    // Patch `mdt-convened-notice`: the patient told at the convening (and at the conclusion).
    async run(c) {
      await c.post('/v1/consultation-templates', c.admin, { id: 'replay-mdt-notice', kind: 'mdt', version: 1, name: 'replay', opinionWithin: 'PT1H', escalateAfter: 'PT1H', maxEscalationTier: 1, concludeWithin: 'PT1H', expireAfter: 'P1D' });
      const d = await c.post('/v1/clinicians', c.admin, { name: 'MDT-N', role: 'doctor', department: 'cardiology' });
      await c.post(`/v1/clinicians/${d.id}/verification`, c.admin, { licenceNumber: 'REPLAY-MDT-N', yearsOfPractice: 10 });
      await c.post('/v1/consultations', c.pt, { patientId: c.patient.id, doctorId: c.doctor.id, message: { body: 'replay', attachments: [] } });
      const m = await c.post('/v1/mdt', c.dt, { patientId: c.patient.id, specialists: [d.id], quorum: 1, templateId: 'replay-mdt-notice', case: { body: 'replay case', attachments: [] } });
      await c.post(`/v1/mdt/${m.id}/opinions`, await c.stack.token('doctor', d.id), { body: 'replay opinion' });
      await c.post(`/v1/mdt/${m.id}/conclusion`, c.dt, { body: 'replay conclusion' });
      await c.save(mdtWorkflowId(m.id), 'mdt-convened-notice.json');
    },
  },
  'remote-notices': {
    files: ['remote-patient-notices.json'],
    // Patch `remote-patient-notices`: the patient told of the request and of the opinion's return.
    async run(c) {
      await withCallback(() => 204, async (url) => {
        const institution = await c.post('/v1/institutions', c.admin, { name: 'Replay pharmacy', kind: 'pharmacy', callbackUrl: url });
        const receipt = await askRemotely(c, institution, 'replay-notices');
        await c.post(`/v1/remote-consultations/${receipt.id}/assignment`, await c.stack.token('coordinator', 'coord-replay'), { doctorId: c.doctor.id });
        await c.post(`/v1/remote-consultations/${receipt.id}/opinion`, c.dt, { body: 'replay opinion' });
        await c.save(remoteWorkflowId(receipt.id), 'remote-patient-notices.json');
      });
    },
  },
  'journey-start-by-api': {
    files: ['journey-started-by-api.json', 'journey-step-before-start.json', 'journey-cancel-before-start.json'],
    // POST /v1/journeys starts the workflow and writes its start without waiting for the first task
    // (workflows/journey-start.ts): a whole visit started so; then patch `journey-step-before-start`, a
    // booking and a cancellation that arrive (no worker running) with the workflow's first task.
    async run(c) {
      await c.pathway('replay-start-by-api', { consultStartSla: 'PT1M' });
      const whole = await remindedVisit(c, 'replay-start-by-api', 1500);
      await c.save(journeyWorkflowId(whole), 'journey-started-by-api.json');

      await c.stack.stopWorker();
      const slot = await c.slot(1500);
      const early = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-start-by-api' });
      const booking = c.post(`/v1/journeys/${early.id}/appointment`, c.pt, { slotId: slot.id });
      await sleep(300);
      await c.stack.startWorker();
      const booked = await booking;
      await c.pay(booked.payment.orderId);
      await paymentTaken(c, early.id);
      await sleep(Date.parse(slot.start) - Date.now() + 300);
      await c.post(`/v1/journeys/${early.id}/check-in`, c.pt);
      await c.post(`/v1/journeys/${early.id}/consultation`, c.dt);
      await c.post(`/v1/journeys/${early.id}/outcome`, c.dt, { diagnosis: { text: 'Cough' }, notes: 'Fluids.' });
      await c.save(journeyWorkflowId(early.id), 'journey-step-before-start.json');

      await c.stack.stopWorker();
      const gone = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-start-by-api' });
      const cancelling = c.post(`/v1/journeys/${gone.id}/cancel`, c.pt, { reason: 'changed my mind' });
      await sleep(300);
      await c.stack.startWorker();
      await cancelling;
      await c.save(journeyWorkflowId(gone.id), 'journey-cancel-before-start.json');
    },
  },
  reconciliation: {
    files: ['reconciliation-scheduled.json', 'reconciliation-scheduled-twice.json', 'reconciliation-rerun.json'],
    // Issue 13: a scheduled run of yesterday (a payment matched, one planted mismatch), the same day's
    // scheduled run fired again (skipped), and an admin's re-run of the day.
    async run(c) {
      await c.pathway('replay-reconciliation', { appointmentReminders: [] });
      const slot = await c.slot(3_600_000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-reconciliation' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      const yesterday = new Date(Date.now() + 8 * 3_600_000 - 86_400_000).toISOString().slice(0, 10);
      const res = await c.stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: 800, paidAt: `${yesterday}T02:00:00.000Z`, channel: 'alipay' });
      if (res.status !== 204) throw new Error(`payment ${res.status}`);
      await c.post('/v1/sandbox/statement-faults', c.admin, { channel: 'wechat', date: yesterday, kind: 'payment', orderId: 'replay-ghost', fault: 'add', amount: 500 });
      const scheduled = async (file: string) => {
        const workflowId = `${SCHEDULED_RECONCILIATION_ID}-${file}`;
        await c.stack.env.client.workflow.execute(RECONCILIATION_WORKFLOW, { taskQueue: JOURNEY_TASK_QUEUE, workflowId, args: [{ trigger: 'schedule' }] });
        await c.save(workflowId, file);
      };
      await scheduled('reconciliation-scheduled.json');
      await scheduled('reconciliation-scheduled-twice.json');
      await c.post(`/v1/reconciliations/${yesterday}/runs`, c.admin);
      await c.save(`reconciliation:${yesterday}`, 'reconciliation-rerun.json');
    },
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted) if (!scenarios[name]) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
const todo = Object.entries(scenarios).filter(
  ([name, s]) => (wanted.length === 0 || wanted.includes(name)) && s.files.every((f) => !existsSync(join(OUT, f))),
);
for (const [name, s] of Object.entries(scenarios)) {
  if ((wanted.length === 0 || wanted.includes(name)) && s.files.some((f) => existsSync(join(OUT, f)))) {
    console.log(`skip ${name}: ${s.files.join(', ')} committed already (never re-recorded)`);
  }
}
if (todo.length === 0) process.exit(0);

const stack = await startStack();
try {
  const admin = await stack.token('admin', 'admin');
  const post: Ctx['post'] = async (path, token, body) => {
    const res = await stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, any>>;
  };
  // Verified people, as the rules of online care want them (a doctor's licence, a pharmacist's, a real-name patient).
  const doctor = await post('/v1/clinicians', admin, { name: 'Dr. Replay', role: 'doctor', department: 'respiratory' });
  await post(`/v1/clinicians/${doctor.id}/verification`, admin, { licenceNumber: 'REPLAY-DOCTOR', yearsOfPractice: 10 });
  const pharmacist = await post('/v1/clinicians', admin, { name: 'Ph. Replay', role: 'pharmacist' });
  await post(`/v1/clinicians/${pharmacist.id}/verification`, admin, { licenceNumber: 'REPLAY-PHARM', yearsOfPractice: 10 });
  const patient = await post('/v1/patients', admin, { name: 'Replay', phone: '+8613800000009', birthDate: '1980-05-05', sex: 'F' });
  await post(`/v1/patients/${patient.id}/identity-verifications`, admin, { method: 'id-card' });
  const ctx: Ctx = {
    stack,
    post,
    admin,
    ph: await stack.token('pharmacist', pharmacist.id),
    pt: await stack.token('patient', patient.id),
    dt: await stack.token('doctor', doctor.id),
    patient,
    doctor,
    async pathway(id, over = {}) {
      await post('/v1/pathways', admin, {
        id, version: 1, name: id, modes: ['offline'], fees: { registration: 800 }, paymentWindow: 'PT1M',
        appointmentReminders: [], nearTurnAhead: 2, noShowGrace: 'PT5S', consultStartSla: 'PT1S',
        pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D', ...over,
      });
    },
    async slot(inMs) {
      const start = new Date(Date.now() + inMs);
      return post('/v1/slots', admin, { doctorId: doctor.id, department: 'respiratory', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 2, mode: 'offline' });
    },
    async pay(orderId, amount = 800) {
      const res = await stack.payWebhook({ orderId, status: 'paid', amount, paidAt: new Date().toISOString(), channel: 'wechat' });
      if (res.status !== 204) throw new Error(`payment ${res.status}`);
    },
    async inConsultation(pathwayId) {
      const slot = await ctx.slot(1500);
      const j = await post('/v1/journeys', ctx.pt, { patientId: patient.id, mode: 'offline', complaint: 'cough', pathwayId });
      const booked = await post(`/v1/journeys/${j.id}/appointment`, ctx.pt, { slotId: slot.id });
      await ctx.pay(booked.payment.orderId);
      await sleep(1700);
      await post(`/v1/journeys/${j.id}/check-in`, ctx.pt);
      await post(`/v1/journeys/${j.id}/consultation`, ctx.dt);
      return j.id as string;
    },
    async prescribed(pathwayId, days) {
      const journeyId = await ctx.inConsultation(pathwayId);
      const outcome = await post(`/v1/journeys/${journeyId}/outcome`, ctx.dt, {
        diagnosis: { text: 'Cough' },
        notes: '',
        prescriptions: [{ items: [{ drugCode: 'ambroxol-30mg', dose: '30 mg', frequency: 'tid', days, quantity: days * 3 }] }],
      });
      const [rxId] = outcome.created.prescriptions as string[];
      await until(async () => (((await (await stack.call('GET', `/v1/prescriptions/${rxId}`, { token: admin })).json()) as { status?: string }).status === 'pending-review' ? true : undefined));
      return { journeyId, rxId: rxId! };
    },
    async save(workflowId, name) {
      const handle = stack.env.client.workflow.getHandle(workflowId);
      await handle.result();
      const history = await handle.fetchHistory();
      const file = join(OUT, name);
      if (existsSync(file)) throw new Error(`${file} exists: a committed history is never re-recorded`);
      writeFileSync(file, historyToJSON(history));
      console.log(`wrote ${file} (${history.events?.length} events)`);
    },
  };
  for (const [name, s] of todo) {
    console.log(`recording ${name}`);
    await s.run(ctx);
  }
} finally {
  await stack.stop();
}
