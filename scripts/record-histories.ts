// Records histories of finished journeys on the real dev server, for the replay tests in
// tests/replay.test.ts. Run when a workflow change needs a new history: `npx tsx scripts/record-histories.ts`.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { journeyWorkflowId, latePaymentWorkflowId } from '../workflows/definitions.js';
import { startStack } from '../tests/support/stack.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'histories');
const stack = await startStack();

async function save(workflowId: string, name: string): Promise<void> {
  const handle = stack.env.client.workflow.getHandle(workflowId);
  await handle.result();
  const history = await handle.fetchHistory();
  const file = join(OUT, name);
  writeFileSync(file, historyToJSON(history));
  console.log(`wrote ${file} (${history.events?.length} events)`);
}
try {
  const admin = await stack.token('admin', 'admin');
  const post = async (path: string, token: string, body?: unknown) => {
    const res = await stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, any>>;
  };
  const doctor = await post('/v1/clinicians', admin, { name: 'Dr. Replay', role: 'doctor', department: 'respiratory' });
  const patient = await post('/v1/patients', admin, { name: 'Replay', phone: '+8613800000009', birthDate: '1980-05-05', sex: 'F' });
  await post('/v1/pathways', admin, {
    id: 'replay', version: 1, name: 'Replay', modes: ['offline'], fees: { registration: 800 }, paymentWindow: 'PT1M',
    appointmentReminders: ['PT4S', 'PT2S'], nearTurnAhead: 2, noShowGrace: 'PT5S', consultStartSla: 'PT1S',
    pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
  });
  const start = new Date(Date.now() + 6000);
  const slot = await post('/v1/slots', admin, { doctorId: doctor.id, department: 'respiratory', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 2, mode: 'offline' });
  const pt = await stack.token('patient', patient.id);
  const dt = await stack.token('doctor', doctor.id);
  const journey = await post('/v1/journeys', pt, { patientId: patient.id, mode: 'offline', complaint: 'cough and sputum', pathwayId: 'replay' });
  const booked = await post(`/v1/journeys/${journey.id}/appointment`, pt, { slotId: slot.id });
  const pay = await stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: 800, paidAt: new Date().toISOString(), channel: 'wechat' });
  if (pay.status !== 204) throw new Error(`payment ${pay.status}`);
  await new Promise((r) => setTimeout(r, 6500)); // both reminders, then the start
  await post(`/v1/journeys/${journey.id}/check-in`, pt);
  await new Promise((r) => setTimeout(r, 1500)); // past the consult-start SLA: one escalation
  await post(`/v1/journeys/${journey.id}/consultation`, dt);
  await post(`/v1/journeys/${journey.id}/outcome`, dt, { diagnosis: { code: 'J20.9', text: 'Acute bronchitis' }, notes: 'Rest.' });
  await save(journeyWorkflowId(journey.id), 'patient-journey-completed.json');

  // A journey that lapses unpaid, then a payment that comes after its workflow has closed.
  await post('/v1/pathways', admin, {
    id: 'replay-lapse', version: 1, name: 'Replay lapse', modes: ['offline'], fees: { registration: 800 }, paymentWindow: 'PT1S',
    appointmentReminders: [], nearTurnAhead: 2, noShowGrace: 'PT5S', consultStartSla: 'PT1S', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
  });
  const slot2 = await post('/v1/slots', admin, { doctorId: doctor.id, department: 'respiratory', start: new Date(Date.now() + 3600_000).toISOString(), end: new Date(Date.now() + 7200_000).toISOString(), capacity: 2, mode: 'offline' });
  const lapsing = await post('/v1/journeys', pt, { patientId: patient.id, mode: 'offline', complaint: 'cough', pathwayId: 'replay-lapse' });
  const order = (await post(`/v1/journeys/${lapsing.id}/appointment`, pt, { slotId: slot2.id })).payment.orderId as string;
  await stack.env.client.workflow.getHandle(journeyWorkflowId(lapsing.id)).result();
  const late = await stack.payWebhook({ orderId: order, status: 'paid', amount: 800, paidAt: new Date().toISOString(), channel: 'alipay' });
  if (late.status !== 204) throw new Error(`late payment ${late.status}`);
  await save(journeyWorkflowId(lapsing.id), 'patient-journey-lapsed.json');
  await save(latePaymentWorkflowId(order), 'late-payment-refund.json');
} finally {
  await stack.stop();
}
