// Care programs over HTTP on the real components (dev server, PostgreSQL, a worker): templates
// published and validated, enrolment (one open program per patient and condition), readings and the
// one open vital alert in the doctor's queue, doses, plan changes by the responsible doctor only,
// pause / resume / discharge and a new enrolment after a discharge, and who may list and read what.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import templates from '../db/seed/program-templates.json' with { type: 'json' };
import { startStack, type Stack } from './support/stack.js';
import { json } from './support/http.js';
import { pharmacistToken, verifyClinicianId, verifyPatientId } from './support/people.js';

type Json = Record<string, any>;

let stack: Stack;
let admin: string;
let coordinator: string;
let pharmacist: string;
let doctorA: { id: string; token: string };
let doctorB: { id: string; token: string };
let pharmacistId: string;

const post = (path: string, token: string, body?: unknown) => stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
const get = (path: string, token: string) => stack.call('GET', path, { token });
const problemType = (p: Json) => String(p.type).replace('https://carepath.dev/problems/', '');

const amlodipine = { drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 30 };
const metformin = { drugCode: 'metformin-500mg', dose: '500 mg', times: ['08:00', '20:00'], supplyDays: 60 };
const DAY = 86_400_000;
const now = () => new Date().toISOString();

async function clinician(role: 'doctor' | 'pharmacist', name: string): Promise<string> {
  const id = (await json(await post('/v1/clinicians', admin, { name, role, ...(role === 'doctor' ? { department: 'cardiology' } : {}) }), 201)).id as string;
  await verifyClinicianId(stack, admin, id);
  return id;
}

async function patient(): Promise<{ id: string; token: string }> {
  const p = await json(await post('/v1/patients', admin, { name: '慢病患者', phone: '+8613800000007', birthDate: '1956-03-03', sex: 'F' }), 201);
  await verifyPatientId(stack, admin, p.id);
  return { id: p.id, token: await stack.token('patient', p.id) };
}

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  pharmacist = await pharmacistToken(stack, admin);
  const a = await clinician('doctor', 'Dr. A');
  const b = await clinician('doctor', 'Dr. B');
  pharmacistId = await clinician('pharmacist', 'Ph. C');
  doctorA = { id: a, token: await stack.token('doctor', a) };
  doctorB = { id: b, token: await stack.token('doctor', b) };
});
afterAll(async () => {
  await stack?.stop();
});

describe('program templates', () => {
  const template = {
    id: 'weight-watch', version: 1, condition: 'obesity', name: 'Weight watch',
    followUpEvery: 'P60D', followUpLead: 'P7D',
    measurements: [{ type: 'weight', times: ['07:30'], everyDays: 7 }],
    thresholds: {}, trendReadings: 3, missedDoseStreak: 3, refillLead: 'P7D', lateGrace: 'PT2H',
    education: [{ topic: 'portion-size', after: 'P3D' }],
  };

  it('publishes a version once (admin), validates it, and lists the latest versions to staff', async () => {
    expect(await json(await post('/v1/program-templates', admin, template), 201)).toEqual(template);
    expect(problemType(await json(await post('/v1/program-templates', admin, template), 409))).toBe('version-exists');
    expect((await post('/v1/program-templates', coordinator, { ...template, version: 2 })).status).toBe(403);
    // A new version keeps its condition.
    expect(problemType(await json(await post('/v1/program-templates', admin, { ...template, version: 2, condition: 'hypertension' }), 422))).toBe('template-mismatch');

    // Thresholds are required for what the template measures: bp needs thresholds.bp, glucose thresholds.glucose.
    const bp = { ...template, id: 'bp-watch', condition: 'hypertension-mild', measurements: [{ type: 'bp', times: ['07:00'], everyDays: 1 }] };
    const missing = await json(await post('/v1/program-templates', admin, bp), 400);
    expect(missing.errors).toEqual([{ path: 'json.thresholds.bp', message: 'required: the template measures bp' }]);
    const glucose = { ...template, id: 'glucose-watch', measurements: [{ type: 'glucose', times: ['07:00'], everyDays: 1 }], thresholds: { bp: templates[0]!.thresholds.bp } };
    expect((await json(await post('/v1/program-templates', admin, glucose), 400)).errors.map((e: Json) => e.path)).toEqual(['json.thresholds.glucose']);
    const bad: [Json, string][] = [
      [{ ...template, extra: true }, 'json'],
      [{ ...template, followUpEvery: 'P1M' }, 'json.followUpEvery'],
      [{ ...template, followUpEvery: 'PT1H' }, 'json.followUpEvery'],
      [{ ...template, followUpLead: 'P90D' }, 'json.followUpLead'],
      [{ ...template, measurements: [{ type: 'weight', times: ['7:30'], everyDays: 7 }] }, 'json.measurements.0.times.0'],
      [{ ...template, measurements: [{ type: 'temperature', times: ['07:30'], everyDays: 7 }] }, 'json.measurements.0.type'],
      [{ ...template, thresholds: { bp: { systolicHigh: 160, diastolicHigh: 100, systolicLow: 170 } } }, 'json.thresholds.bp.systolicLow'],
    ];
    for (const [body, path] of bad) {
      const p = await json(await post('/v1/program-templates', admin, { ...body, version: 9 }), 400);
      expect(p.errors.map((e: Json) => e.path), JSON.stringify(body)).toContain(path);
    }
    const ok = await json(await post('/v1/program-templates', admin, { ...bp, thresholds: { bp: { systolicHigh: 150, diastolicHigh: 95, systolicLow: 95 } } }), 201);
    expect(ok.thresholds.bp.systolicHigh).toBe(150);

    const listed = await json(await get('/v1/program-templates', pharmacist), 200);
    expect(listed.items.map((t: Json) => `${t.id}@${t.version}`).sort()).toEqual(['bp-watch@1', 'diabetes-t2@1', 'hypertension@1', 'weight-watch@1']);
    expect(listed.items.find((t: Json) => t.id === 'hypertension')).toEqual(templates[0]);
    expect((await get('/v1/program-templates', (await patient()).token)).status).toBe(403);
  });
});

describe('care programs', () => {
  let pat: { id: string; token: string };
  let programId: string;

  it('enrols a patient on the condition\'s template; a second open enrolment is 409', async () => {
    pat = await patient();
    const enrolled = await json(await post('/v1/programs', doctorA.token, { patientId: pat.id, condition: 'hypertension', plan: { medications: [amlodipine] } }), 201);
    programId = enrolled.id;
    expect(enrolled).toMatchObject({
      patientId: pat.id, condition: 'hypertension', doctorId: doctorA.id, status: 'active', template: { id: 'hypertension', version: 1 },
      plan: { medications: [amlodipine] }, timezone: 'Asia/Shanghai', adherence: { taken: 0, skipped: 0, missed: 0 }, readings: [], openAlerts: [], runs: 1,
    });
    expect(enrolled.supply).toHaveLength(1);
    expect(enrolled.supply[0]).toMatchObject({ drugCode: 'amlodipine-5mg' });
    expect(enrolled.supply[0].remainingDays).toBeGreaterThanOrEqual(29);
    expect(enrolled.supply[0].remainingDays).toBeLessThanOrEqual(30);
    expect(Date.parse(enrolled.supply[0].until) - Date.parse(enrolled.enrolledAt)).toBe(30 * DAY);
    // The next dose (08:00) and measurement (07:00 or 19:00) in Shanghai, the follow-up in 30 days, the refill 7 days before the supply ends.
    const next = Object.fromEntries((enrolled.next as Json[]).map((n) => [n.kind, n.at]));
    expect(Object.keys(next).sort()).toEqual(['followup', 'measurement', 'medication', 'refill']);
    expect(next.medication).toMatch(/T08:00:00\+08:00$/);
    expect(next.measurement).toMatch(/T(07|19):00:00\+08:00$/);
    expect(Date.parse(next.followup) - Date.parse(enrolled.enrolledAt)).toBe(30 * DAY);
    expect(Date.parse(next.refill)).toBe(Date.parse(enrolled.supply[0].until) - 7 * DAY);
    expect(enrolled.timeline.map((e: Json) => [e.seq, e.type, e.actor])).toEqual([[1, 'program.enrolled', `doctor:${doctorA.id}`]]);
    expect(await json(await get(`/v1/programs/${programId}`, pat.token), 200)).toMatchObject({ id: programId, status: 'active' });

    // One program per patient and condition that is not discharged: by anyone, on any template.
    const again = await json(await post('/v1/programs', coordinator, { patientId: pat.id, condition: 'hypertension', doctorId: doctorB.id, plan: { medications: [] } }), 409);
    expect(problemType(again)).toBe('already-enrolled');
    const [rows] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from programs where patient_id = ${pat.id}`;
    expect(rows!.n).toBe(1);
  });

  it('takes readings: within thresholds {}, beyond them one open vital alert for the responsible doctor', async () => {
    const reading = (body: Json, token = pat.token) => post(`/v1/programs/${programId}/readings`, token, body);
    expect(await json(await reading({ type: 'bp', systolic: 132, diastolic: 84, at: now() }), 200)).toEqual({});
    const high = await json(await reading({ type: 'bp', systolic: 172, diastolic: 96, at: now() }), 200);
    expect(high.alert).toEqual({ id: expect.any(String), reason: 'systolic-high' });
    const queue = await json(await get('/v1/tasks?kind=vital-alert', doctorA.token), 200);
    expect(queue.items).toEqual([expect.objectContaining({ id: high.alert.id, kind: 'vital-alert', role: 'doctor', status: 'open', assigneeId: doctorA.id, subject: { type: 'program', id: programId } })]);
    expect((await json(await get('/v1/tasks?kind=vital-alert', doctorB.token), 200)).items).toEqual([]);
    // A second high reading answers the alert that is open.
    const again = await json(await reading({ type: 'bp', systolic: 165, diastolic: 104, at: now() }), 200);
    expect(again.alert).toEqual({ id: high.alert.id, reason: 'systolic-high' });

    const program = await json(await get(`/v1/programs/${programId}`, doctorA.token), 200);
    expect(program.readings.map((r: Json) => [r.systolic, r.diastolic])).toEqual([[165, 104], [172, 96], [132, 84]]);
    expect(program.openAlerts).toEqual([expect.objectContaining({ id: high.alert.id, reason: 'systolic-high' })]);
    expect(program.openTasks.map((t: Json) => t.id)).toEqual([high.alert.id]);
    expect(program.timeline.map((e: Json) => e.type)).toEqual(['program.enrolled', 'reading.recorded', 'reading.recorded', 'alert.raised', 'reading.recorded']);
    expect(program.timeline.filter((e: Json) => e.type === 'reading.recorded').every((e: Json) => e.actor === `patient:${pat.id}`)).toBe(true);

    // Bad readings are 400 with the field; only the program's patient may record one.
    const bad: [Json, string][] = [
      [{ type: 'bp', systolic: 400, diastolic: 80, at: now() }, 'json.systolic'],
      [{ type: 'bp', systolic: 120, diastolic: 130, at: now() }, 'json.diastolic'],
      [{ type: 'glucose', mmol: 6, context: 'after-lunch', at: now() }, 'json.context'],
      [{ type: 'weight', kg: 70, at: '2026-01-01T08:00:00' }, 'json.at'],
      [{ type: 'weight', kg: 70, at: new Date(Date.now() + DAY).toISOString() }, 'json.at'],
      [{ type: 'weight', kg: 70, at: now(), note: 'x' }, 'json'],
      [{ type: 'temperature', celsius: 37, at: now() }, 'json.type'],
    ];
    for (const [body, path] of bad) expect((await json(await reading(body), 400)).errors.map((e: Json) => e.path), JSON.stringify(body)).toContain(path);
    expect((await reading({ type: 'weight', kg: 70, at: now() }, (await patient()).token)).status).toBe(404);
    expect((await reading({ type: 'weight', kg: 70, at: now() }, doctorA.token)).status).toBe(403);
    expect((await json(await get(`/v1/programs/${programId}`, coordinator), 200)).readings).toHaveLength(3);

    // Once the doctor has closed the alert, the next high reading raises a new one.
    await json(await post(`/v1/tasks/${encodeURIComponent(high.alert.id)}/complete`, doctorA.token, { note: 'called the patient' }), 200);
    const fresh = await json(await reading({ type: 'bp', systolic: 150, diastolic: 101, at: now() }), 200);
    // The third reading beyond a threshold in a row (trendReadings: 3) is a trend.
    expect(fresh.alert).toEqual({ id: expect.any(String), reason: 'trend:diastolic-high' });
    expect(fresh.alert.id).not.toBe(high.alert.id);
    const after = await json(await get(`/v1/programs/${programId}`, doctorA.token), 200);
    expect(after.openAlerts.map((a: Json) => a.id)).toEqual([fresh.alert.id]);
    expect(after.timeline.map((e: Json) => e.type).slice(-3)).toEqual(['task.completed', 'reading.recorded', 'alert.raised']);
  });

  it('answers a dose once: the next one, named with any offset; an unknown one is 422', async () => {
    const program = await json(await get(`/v1/programs/${programId}`, pat.token), 200);
    const at = (program.next as Json[]).find((n) => n.kind === 'medication')!.at as string;
    const dose = (body: Json) => post(`/v1/programs/${programId}/doses`, pat.token, body);
    expect(problemType(await json(await dose({ drugCode: 'amlodipine-5mg', scheduledAt: new Date(Date.parse(at) + 3_600_000).toISOString(), taken: true }), 422))).toBe('unknown-dose');
    expect(problemType(await json(await dose({ drugCode: 'valsartan-80mg', scheduledAt: at, taken: true }), 422))).toBe('unknown-dose');
    expect(await json(await dose({ drugCode: 'amlodipine-5mg', scheduledAt: new Date(at).toISOString(), taken: true }), 200)).toEqual({ status: 'confirmed' });
    expect(problemType(await json(await dose({ drugCode: 'amlodipine-5mg', scheduledAt: at, taken: false }), 409))).toBe('dose-answered');
    const after = await json(await get(`/v1/programs/${programId}`, pat.token), 200);
    expect(after.adherence).toEqual({ taken: 1, skipped: 0, missed: 0 });
    expect(after.timeline.at(-1)).toMatchObject({ type: 'dose.confirmed', actor: `patient:${pat.id}`, data: { drugCode: 'amlodipine-5mg', scheduledAt: at } });
    expect((await post(`/v1/programs/${programId}/doses`, (await patient()).token, { drugCode: 'amlodipine-5mg', scheduledAt: at, taken: true })).status).toBe(404);
  });

  it('changes the plan for the responsible doctor only; drugs are checked', async () => {
    const plan = { medications: [{ ...amlodipine, times: ['08:00', '20:00'] }, { drugCode: 'valsartan-80mg', dose: '80 mg', times: ['08:00'], supplyDays: 28 }], followUpEvery: 'P14D' };
    const other = await json(await post(`/v1/programs/${programId}/plan`, doctorB.token, { plan }), 403);
    expect(problemType(other)).toBe('not-responsible');
    expect((await post(`/v1/programs/${programId}/plan`, pat.token, { plan })).status).toBe(403);
    const refusals: [Json, string][] = [
      [{ ...plan, medications: [{ ...amlodipine, drugCode: 'morphine-10mg' }] }, 'controlled-drug'],
      [{ ...plan, medications: [{ ...amlodipine, drugCode: 'no-such-drug' }] }, 'unknown-drug'],
      [{ ...plan, followUpEvery: 'P2D' }, 'invalid-plan'],
    ];
    for (const [p, type] of refusals) expect(problemType(await json(await post(`/v1/programs/${programId}/plan`, doctorA.token, { plan: p }), 422))).toBe(type);
    expect((await json(await post(`/v1/programs/${programId}/plan`, doctorA.token, { plan: { ...plan, medications: [amlodipine, amlodipine] } }), 400)).errors[0].path).toBe('json.plan.medications');

    const changed = await json(await post(`/v1/programs/${programId}/plan`, doctorA.token, { plan }), 200);
    expect(changed.plan).toEqual(plan);
    expect(changed.supply.map((x: Json) => x.drugCode)).toEqual(['amlodipine-5mg', 'valsartan-80mg']);
    expect(changed.timeline.at(-1)).toMatchObject({ type: 'program.plan-changed', actor: `doctor:${doctorA.id}`, data: { followUpEvery: 'P14D' } });
    const followup = (changed.next as Json[]).find((n) => n.kind === 'followup')!;
    expect(Date.parse(followup.at) - Date.parse(changed.enrolledAt)).toBe(14 * DAY);
    // A coordinator may change it too.
    const byCoordinator = await json(await post(`/v1/programs/${programId}/plan`, coordinator, { plan: { medications: [amlodipine] } }), 200);
    expect(byCoordinator.plan).toEqual({ medications: [amlodipine] });
    expect(byCoordinator.timeline.at(-1)).toMatchObject({ type: 'program.plan-changed', actor: 'coordinator:coord-1' });
  });

  it('checks who enrols, for whom, on what', async () => {
    const p = await patient();
    const enrol = (token: string, body: Json) => post('/v1/programs', token, { patientId: p.id, condition: 'diabetes-t2', plan: { medications: [metformin] }, ...body });
    expect((await enrol(p.token, {})).status).toBe(403);
    expect((await enrol(pharmacist, {})).status).toBe(403);
    expect((await json(await enrol(coordinator, {}), 400)).errors).toEqual([expect.objectContaining({ path: 'json.doctorId' })]);
    expect((await enrol(doctorA.token, { doctorId: doctorB.id })).status).toBe(403);
    expect((await enrol(coordinator, { doctorId: 'no-such-doctor' })).status).toBe(404);
    expect(problemType(await json(await enrol(coordinator, { doctorId: pharmacistId }), 422))).toBe('not-a-doctor');
    expect((await enrol(coordinator, { doctorId: doctorB.id, patientId: 'no-such-patient' })).status).toBe(404);
    expect((await enrol(coordinator, { doctorId: doctorB.id, condition: 'gout' })).status).toBe(404);
    expect((await enrol(coordinator, { doctorId: doctorB.id, templateId: 'no-such-template' })).status).toBe(404);
    expect(problemType(await json(await enrol(coordinator, { doctorId: doctorB.id, templateId: 'hypertension' }), 422))).toBe('template-mismatch');
    expect(problemType(await json(await enrol(coordinator, { doctorId: doctorB.id, plan: { medications: [{ ...metformin, drugCode: 'diazepam-5mg' }] } }), 422))).toBe('controlled-drug');
    expect((await json(await enrol(coordinator, { doctorId: doctorB.id, plan: { medications: [{ ...metformin, times: ['20:00:00'] }] } }), 400)).errors[0].path).toBe('json.plan.medications.0.times.0');
    expect((await stack.db.sql`select 1 from programs where patient_id = ${p.id}`).length).toBe(0);

    const enrolled = await json(await enrol(coordinator, { doctorId: doctorB.id }), 201);
    expect(enrolled).toMatchObject({ condition: 'diabetes-t2', doctorId: doctorB.id, template: { id: 'diabetes-t2', version: 1 }, status: 'active' });
    expect(enrolled.timeline[0]).toMatchObject({ type: 'program.enrolled', actor: 'coordinator:coord-1', data: { doctorId: doctorB.id } });
    // Glucose every day at 07:00, weight every 7 days at 07:30; doses at 08:00 and 20:00.
    expect((enrolled.next as Json[]).find((n) => n.kind === 'measurement')!.at).toMatch(/T07:(00|30):00\+08:00$/);
    expect((enrolled.next as Json[]).find((n) => n.kind === 'medication')!.at).toMatch(/T(08|20):00:00\+08:00$/);
  });

  it('pauses, resumes and discharges; a discharged program takes nothing and the patient may enrol again', async () => {
    const p = await patient();
    const program = await json(await post('/v1/programs', doctorB.token, { patientId: p.id, condition: 'hypertension', plan: { medications: [amlodipine] } }), 201);
    const act = (action: string, token = doctorB.token, body: Json = { reason: 'travelling' }) => post(`/v1/programs/${program.id}/${action}`, token, body);
    expect(problemType(await json(await act('pause', doctorA.token), 403))).toBe('not-responsible');
    expect((await act('pause', p.token)).status).toBe(403);
    expect((await json(await act('pause', doctorB.token, {}), 400)).errors[0].path).toBe('json.reason');
    expect(problemType(await json(await act('resume'), 409))).toBe('invalid-state');

    const paused = await json(await act('pause'), 200);
    expect(paused).toMatchObject({ status: 'paused', next: [] });
    expect(paused.timeline.at(-1)).toMatchObject({ type: 'program.paused', actor: `doctor:${doctorB.id}`, data: { reason: 'travelling' } });
    expect(problemType(await json(await act('pause'), 409))).toBe('invalid-state');
    const resumed = await json(await act('resume', coordinator, { reason: 'back home' }), 200);
    expect(resumed.status).toBe('active');
    expect(resumed.next.map((n: Json) => n.kind).sort()).toEqual(['followup', 'measurement', 'medication', 'refill']);
    expect(resumed.timeline.at(-1)).toMatchObject({ type: 'program.resumed', actor: 'coordinator:coord-1' });

    const discharged = await json(await act('discharge', doctorB.token, { reason: 'controlled for a year' }), 200);
    expect(discharged).toMatchObject({ status: 'discharged', dischargedReason: 'controlled for a year', next: [] });
    expect(discharged.timeline.at(-1)).toMatchObject({ type: 'program.discharged', data: { reason: 'controlled for a year' } });
    for (const action of ['discharge', 'pause', 'resume']) expect(problemType(await json(await act(action), 409))).toBe('program-discharged');
    expect(problemType(await json(await post(`/v1/programs/${program.id}/plan`, doctorB.token, { plan: { medications: [] } }), 409))).toBe('program-discharged');
    expect(problemType(await json(await post(`/v1/programs/${program.id}/readings`, p.token, { type: 'bp', systolic: 120, diastolic: 80, at: now() }), 409))).toBe('program-discharged');

    // A new enrolment for the condition: a new program (and workflow run); the old one stays discharged.
    const second = await json(await post('/v1/programs', doctorA.token, { patientId: p.id, condition: 'hypertension', plan: { medications: [] } }), 201);
    expect(second.id).not.toBe(program.id);
    expect(second).toMatchObject({ status: 'active', doctorId: doctorA.id, supply: [] });
    expect(problemType(await json(await act('discharge'), 409))).toBe('program-discharged');
    expect((await json(await get(`/v1/programs/${program.id}`, p.token), 200)).status).toBe('discharged');
    expect(await json(await post(`/v1/programs/${second.id}/readings`, p.token, { type: 'bp', systolic: 120, diastolic: 80, at: now() }), 200)).toEqual({});
  });

  it('lists programs for coordinators (all) and doctors (their own), with filters; reading one follows the same rules', async () => {
    const list = async (token: string, query = '') => (await json(await get(`/v1/programs${query}`, token), 200)).items as Json[];
    const all = await list(coordinator);
    expect(all.length).toBe(4);
    expect(all.every((p) => p.timeline === undefined && Array.isArray(p.supply))).toBe(true);
    expect(await list(admin)).toHaveLength(4);
    expect((await list(coordinator, '?condition=diabetes-t2')).map((p) => p.condition)).toEqual(['diabetes-t2']);
    expect((await list(coordinator, '?status=discharged')).map((p) => p.dischargedReason)).toEqual(['controlled for a year']);
    expect((await list(coordinator, `?patientId=${pat.id}`)).map((p) => p.id)).toEqual([programId]);
    expect((await list(coordinator, `?patientId=${pat.id}&status=paused`))).toEqual([]);
    const mine = await list(doctorA.token);
    expect(mine.map((p) => p.doctorId)).toEqual([doctorA.id, doctorA.id]);
    expect((await list(doctorB.token, '?status=active')).map((p) => p.condition)).toEqual(['diabetes-t2']);
    expect((await list(doctorA.token, '?condition=diabetes-t2'))).toEqual([]);
    expect((await get('/v1/programs', pat.token)).status).toBe(403);
    expect((await get('/v1/programs', pharmacist)).status).toBe(403);
    expect((await get('/v1/programs?status=closed', coordinator)).status).toBe(400);

    for (const [token, status] of [[pat.token, 200], [doctorA.token, 200], [coordinator, 200], [admin, 200], [doctorB.token, 404], [pharmacist, 404], [(await patient()).token, 404]] as const) {
      expect((await get(`/v1/programs/${programId}`, token)).status, token).toBe(status);
    }
    expect((await get('/v1/programs/no-such-program', coordinator)).status).toBe(404);
    expect((await post('/v1/programs/no-such-program/pause', coordinator, { reason: 'x' })).status).toBe(404);
    expect((await stack.call('GET', `/v1/programs/${programId}`)).status).toBe(401);

    const doc = await json(await stack.call('GET', '/openapi.json'), 200);
    for (const [method, path] of [
      ['post', '/v1/program-templates'], ['get', '/v1/program-templates'], ['post', '/v1/programs'], ['get', '/v1/programs'], ['get', '/v1/programs/{id}'],
      ['post', '/v1/programs/{id}/plan'], ['post', '/v1/programs/{id}/pause'], ['post', '/v1/programs/{id}/resume'], ['post', '/v1/programs/{id}/discharge'],
      ['post', '/v1/programs/{id}/readings'], ['post', '/v1/programs/{id}/doses'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
  });

  it('enrols the patient from a visit outcome: created.programs, the journey completes, the program is the doctor’s and names the journey', async () => {
    const pathway = {
      id: 'program-visit', version: 1, name: 'Program visit', modes: ['offline'], fees: { registration: 1000 },
      paymentWindow: 'PT1M', appointmentReminders: [], nearTurnAhead: 1, noShowGrace: 'PT1M',
      consultStartSla: 'PT1M', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
    };
    await json(await post('/v1/pathways', admin, pathway), 201);
    const pat = await patient();
    const start = new Date(Date.now() + 2500);
    const slot = await json(await post('/v1/slots', admin, { doctorId: doctorA.id, department: 'cardiology', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 5, mode: 'offline' }), 201);
    const j = await json(await post('/v1/journeys', pat.token, { patientId: pat.id, mode: 'offline', complaint: '高血压', pathwayId: pathway.id }), 201);
    const booked = await json(await post(`/v1/journeys/${j.id}/appointment`, pat.token, { slotId: slot.id }), 200);
    expect((await stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: 1000, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);
    await new Promise((r) => setTimeout(r, Math.max(0, start.getTime() - Date.now()) + 50));
    await json(await post(`/v1/journeys/${j.id}/check-in`, pat.token), 200);
    await json(await post(`/v1/journeys/${j.id}/consultation`, doctorA.token), 200);
    // An unknown drug in the program is refused like a prescription's, and records nothing.
    const bad = await json(await post(`/v1/journeys/${j.id}/outcome`, doctorA.token, { diagnosis: { code: 'I10', text: 'Hypertension' }, notes: '', program: { condition: 'hypertension', plan: { medications: [{ ...amlodipine, drugCode: 'no-such-drug' }] } } }), 422);
    expect(problemType(bad)).toBe('unknown-drug');
    const done = await json(await post(`/v1/journeys/${j.id}/outcome`, doctorA.token, { diagnosis: { code: 'I10', text: 'Hypertension' }, notes: '', program: { condition: 'hypertension', plan: { medications: [amlodipine] } } }), 200);
    expect(done.created).toMatchObject({ prescriptions: [], exams: [], referrals: [] });
    expect(done.created.programs).toHaveLength(1);
    expect(done).toMatchObject({ status: 'completed', phase: 'closed' });
    const program = await json(await get(`/v1/programs/${done.created.programs[0]}`, pat.token), 200);
    expect(program).toMatchObject({ patientId: pat.id, condition: 'hypertension', status: 'active', doctorId: doctorA.id, template: { id: 'hypertension', version: 1 }, plan: { medications: [amlodipine] } });
    expect(program.timeline.map((e: Json) => e.type)).toEqual(['program.enrolled']);
    // A second program for the condition is refused while this one is open.
    expect(problemType(await json(await post('/v1/programs', doctorA.token, { patientId: pat.id, condition: 'hypertension', plan: { medications: [] } }), 409))).toBe('already-enrolled');
  });

  it('starts a renewal journey at once when the supply runs out within the refill lead, and tells the patient', async () => {
    const pat = await patient();
    const enrolled = await json(await post('/v1/programs', doctorA.token, { patientId: pat.id, condition: 'hypertension', plan: { medications: [{ ...amlodipine, supplyDays: 3 }] } }), 201);
    // 3 days of supply, refills 7 days ahead: the renewal starts now.
    const program = await waitForJson(async () => {
      const p = await json(await get(`/v1/programs/${enrolled.id}`, pat.token), 200);
      return p.timeline.some((e: Json) => e.type === 'refill.started') ? p : undefined;
    });
    const refill = program.timeline.find((e: Json) => e.type === 'refill.started');
    expect(refill.data).toMatchObject({ drugCode: 'amlodipine-5mg' });
    const journey = await waitForJson(async () => {
      const res = await get(`/v1/journeys/${refill.data.journeyId}`, pat.token);
      const body = res.status === 200 ? ((await res.json()) as Json) : undefined;
      return body?.triage ? body : undefined; // triaged
    });
    expect(journey).toMatchObject({ patientId: pat.id, mode: 'online', triage: { department: 'cardiology' } });
    const inbox = await waitForJson(async () => {
      const n = await json(await get(`/v1/patients/${pat.id}/notifications`, pat.token), 200);
      const list = (n.items ?? n) as Json[];
      return list.some((x) => x.kind === 'refill.due') ? list : undefined;
    });
    expect(inbox.filter((x) => x.kind === 'refill.due')).toHaveLength(1);
    expect(inbox.find((x) => x.kind === 'refill.due')!.refs).toMatchObject({ programId: enrolled.id, drugCode: 'amlodipine-5mg', journeyId: refill.data.journeyId });
  });
});

async function waitForJson<T>(probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('not in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
