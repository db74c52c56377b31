// A care program across worker downtime, on the real components (dev server, PostgreSQL, the worker and
// its outbox dispatcher, signed notifications to a local listener): doses one minute apart; the worker is
// stopped over one dose for longer than the template's lateGrace (recorded missed, never sent) and over
// the next for less (sent once, late). Every notification is counted: none missing, none twice, none
// after the discharge.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { json } from './support/http.js';
import { verifyClinicianId, verifyPatientId } from './support/people.js';

type Json = Record<string, any>;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const MIN = 60_000;
const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(t - Date.now(), 0)));
/** `HH:MM` of `t` in Asia/Shanghai (UTC+8 all year), the patients' timezone here. */
const shanghai = (t: number) => new Date(t + 8 * 3_600_000).toISOString().slice(11, 16);

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it('records a dose missed over downtime longer than lateGrace, sends one within it late and once, and nothing after discharge', async () => {
  const admin = await stack.token('admin', 'admin-1');
  const post = (path: string, token: string, body: unknown) => stack.call('POST', path, { token, body });
  const lateGrace = 30_000;
  await json(await post('/v1/program-templates', admin, {
    id: 'downtime-watch', version: 1, condition: 'downtime-watch', name: 'Downtime watch',
    followUpEvery: 'P60D', followUpLead: 'P7D', measurements: [], thresholds: {}, trendReadings: 3, missedDoseStreak: 3,
    refillLead: 'P7D', lateGrace: 'PT30S', education: [],
  }), 201);
  const doctor = (await json(await post('/v1/clinicians', admin, { name: 'Dr. Down', role: 'doctor', department: 'cardiology' }), 201)).id as string;
  await verifyClinicianId(stack, admin, doctor);
  const doctorToken = await stack.token('doctor', doctor);
  const patient = (await json(await post('/v1/patients', admin, { name: '停机患者', phone: '+8613800000011', birthDate: '1950-01-01', sex: 'M' }), 201)).id as string;
  await verifyPatientId(stack, admin, patient);
  const patientToken = await stack.token('patient', patient);

  // Three doses a minute apart, the first at least 20 s from now.
  const m1 = Math.ceil((Date.now() + 20_000) / MIN) * MIN;
  const [m2, m3] = [m1 + MIN, m1 + 2 * MIN];
  const drug = { drugCode: 'amlodipine-5mg', dose: '5 mg', times: [m1, m2, m3].map(shanghai), supplyDays: 30 };
  const program = await json(await post('/v1/programs', doctorToken, { patientId: patient, condition: 'downtime-watch', plan: { medications: [drug] } }), 201);
  const mine = () => stack.notifications.filter((n) => n.body.refs.programId === program.id);
  const reminderAt = (t: number) => mine().find((n) => n.body.kind === 'medication.reminder' && Date.parse(n.body.refs.scheduledAt!) === t);
  const timeline = async () => (await json(await stack.call('GET', `/v1/programs/${program.id}`, { token: doctorToken }), 200)).timeline as Json[];

  // The first dose is reminded while the worker runs; the patient confirms it with the refs it carries.
  const first = await until('the first reminder', async () => reminderAt(m1), m1 - Date.now() + 20_000);
  expect(first.at - m1).toBeLessThan(10_000);
  await json(await post(`/v1/programs/${program.id}/doses`, patientToken, { drugCode: first.body.refs.drugCode, scheduledAt: first.body.refs.scheduledAt, taken: true }), 200);

  // Down over the second dose, back 40 s after it (more than lateGrace): missed, never sent.
  await sleepUntil(m1 + 45_000);
  await stack.stopWorker();
  await sleepUntil(m2 + lateGrace + 10_000);
  await stack.startWorker();
  const missed = await until('the second dose recorded missed', async () => (await timeline()).find((e) => e.type === 'dose.missed'));
  expect(missed.data).toMatchObject({ drugCode: 'amlodipine-5mg', reason: 'late' });
  expect(Date.parse(missed.data.scheduledAt)).toBe(m2);

  // Down over the third dose, back 3 s after it (within lateGrace): sent, late, once.
  await sleepUntil(m3 - 8_000);
  await stack.stopWorker();
  await sleepUntil(m3 + 3_000);
  await stack.startWorker();
  const third = await until('the third reminder', async () => reminderAt(m3));
  expect(third.at).toBeGreaterThan(m3 + 3_000);

  // Discharged: nothing more, and every notification of the program arrived exactly once.
  await json(await post(`/v1/programs/${program.id}/discharge`, doctorToken, { reason: 'test over' }), 200);
  await new Promise((r) => setTimeout(r, 3_000));
  const received = mine();
  expect(received.map((n) => [n.body.kind, Date.parse(n.body.refs.scheduledAt!)])).toEqual([
    ['medication.reminder', m1],
    ['medication.reminder', m3],
  ]);
  expect(new Set(received.map((n) => n.body.id)).size).toBe(received.length);
  const [rows] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from notifications where patient_id = ${patient}`;
  expect(rows!.n).toBe(2);
  const types = (await timeline()).map((e) => e.type);
  expect(types.filter((t) => t.startsWith('dose.'))).toEqual(['dose.confirmed', 'dose.missed']);
  expect(types.at(-1)).toBe('program.discharged');
}, 300_000);
