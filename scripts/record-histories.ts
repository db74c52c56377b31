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
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { sign } from '../activities/signature.js';
import { examWorkflowId, journeyWorkflowId, latePaymentWorkflowId, prescriptionWorkflowId, referralWorkflowId } from '../workflows/definitions.js';
import { SECRETS } from '../tests/support/stack.js';
import { startStack, type Stack } from '../tests/support/stack.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'histories');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ctx {
  stack: Stack;
  post(path: string, token: string, body?: unknown): Promise<Record<string, any>>;
  admin: string;
  pt: string;
  dt: string;
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

/** Each scenario drives journeys over HTTP and saves one or more histories (file names listed). */
const scenarios: Record<string, { files: string[]; run(c: Ctx): Promise<void> }> = {
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
      const slot = await c.slot(3000);
      const j = await c.post('/v1/journeys', c.pt, { patientId: c.patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-no-show' });
      const booked = await c.post(`/v1/journeys/${j.id}/appointment`, c.pt, { slotId: slot.id });
      await c.pay(booked.payment.orderId);
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
      const approved = await c.post(`/v1/prescriptions/${rxId}/review`, await c.stack.token('pharmacist', 'ph-replay'), { decision: 'approve' });
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
  'prescription-revised': {
    files: ['prescription-revised-cancelled.json'],
    async run(c) {
      // Rejected, revised, approved, then cancelled while awaiting payment.
      await c.pathway('replay-rx-revise', { appointmentReminders: [], consultStartSla: 'PT1M', noShowGrace: 'PT1M' });
      const journeyId = await c.inConsultation('replay-rx-revise');
      const outcome = await c.post(`/v1/journeys/${journeyId}/outcome`, c.dt, {
        diagnosis: { text: 'Cough' },
        notes: '',
        prescriptions: [{ items: [{ drugCode: 'ambroxol-30mg', dose: '30 mg', frequency: 'tid', days: 3, quantity: 9 }] }],
      });
      const [rxId] = outcome.created.prescriptions as string[];
      const pharmacist = await c.stack.token('pharmacist', 'ph-replay');
      await until(async () => (((await (await c.stack.call('GET', `/v1/prescriptions/${rxId}`, { token: c.admin })).json()) as { status: string }).status === 'pending-review' ? true : undefined));
      await c.post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'reject', reason: 'shorter course' });
      await c.post(`/v1/prescriptions/${rxId}/revision`, c.dt, { items: [{ drugCode: 'ambroxol-30mg', dose: '30 mg', frequency: 'tid', days: 2, quantity: 6 }] });
      await c.post(`/v1/prescriptions/${rxId}/review`, pharmacist, { decision: 'approve' });
      await c.post(`/v1/prescriptions/${rxId}/cancel`, c.dt, { reason: 'patient prefers another pharmacy' });
      await c.save(prescriptionWorkflowId(rxId!), 'prescription-revised-cancelled.json');
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
  const doctor = await post('/v1/clinicians', admin, { name: 'Dr. Replay', role: 'doctor', department: 'respiratory' });
  const patient = await post('/v1/patients', admin, { name: 'Replay', phone: '+8613800000009', birthDate: '1980-05-05', sex: 'F' });
  const ctx: Ctx = {
    stack,
    post,
    admin,
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
