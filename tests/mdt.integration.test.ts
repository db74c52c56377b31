// Multidisciplinary consultations over HTTP on the real components, with short template timings: who
// may convene (a doctor who has cared for the patient, or a coordinator on a doctor's behalf), the
// invitations in the specialists' queues, one opinion each, a conclusion refused before the quorum and
// by anyone but the convener, the patient told; a late specialist reminded, then escalated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { json, problem, waitFor } from './support/http.js';
import { verifiedClinician, verifiedPatient } from './support/people.js';

type Json = Record<string, any>;
type Doctor = { id: string; token: string };

let stack: Stack;
let admin: string;
let coordinator: string;
let convener: Doctor;
let specialists: Doctor[];
let outsider: Doctor;

const post = (path: string, token: string, body?: unknown) => stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
const get = (path: string, token: string) => stack.call('GET', path, { token });
const typeOf = (p: Json) => String(p.type).replace('https://carepath.dev/problems/', '');

async function doctor(name: string): Promise<Doctor> {
  const d = await verifiedClinician(stack, admin, { name, department: 'cardiology' });
  return { id: d.id, token: await stack.token('doctor', d.id) };
}

/** A patient who has asked the convener an online consultation: the convener has cared for them. */
async function patientOfConvener(): Promise<{ id: string; token: string }> {
  const p = await verifiedPatient(stack, admin, { name: '会诊患者', phone: '+8613800000011', birthDate: '1958-08-08', sex: 'M' });
  const token = await stack.token('patient', p.id);
  await json(await post('/v1/consultations', token, { patientId: p.id, doctorId: convener.id, message: { body: '胸闷气短' } }), 201);
  return { id: p.id, token };
}

const mdtBody = (patientId: string, over: Json = {}) => ({
  patientId,
  specialists: specialists.map((s) => s.id),
  quorum: 2,
  templateId: 'quick-mdt',
  case: { body: '68岁男性，高血压合并糖尿病，近期胸闷。请心内、内分泌、神经科会诊。', attachments: ['upload:ecg-1'] },
  ...over,
});

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  convener = await doctor('Dr. Convener');
  specialists = [await doctor('Dr. Cardio'), await doctor('Dr. Endo'), await doctor('Dr. Neuro')];
  outsider = await doctor('Dr. Outsider');
  await json(await post('/v1/consultation-templates', admin, { id: 'quick-mdt', kind: 'mdt', version: 1, name: 'Quick MDT', opinionWithin: 'PT2S', escalateAfter: 'PT2S', maxEscalationTier: 1, concludeWithin: 'PT1H', expireAfter: 'P1D' }), 201);
  await json(await post('/v1/consultation-templates', admin, { id: 'slow-mdt', kind: 'mdt', version: 1, name: 'Slow MDT', opinionWithin: 'PT1H', escalateAfter: 'PT1H', maxEscalationTier: 1, concludeWithin: 'PT2H', expireAfter: 'P1D' }), 201);
});
afterAll(async () => {
  await stack?.stop();
});

describe('a multidisciplinary consultation', () => {
  it('is convened by a doctor who cared for the patient; each invited specialist gives one opinion; only the convener concludes, after the quorum', async () => {
    const fresh = await verifiedPatient(stack, admin, { name: '新患者', phone: '+8613800000012', birthDate: '1970-01-01', sex: 'F' });
    expect(typeOf(await problem(await post('/v1/mdt', convener.token, mdtBody(fresh.id, { templateId: 'slow-mdt' })), 403))).toBe('no-care-relationship');

    const p = await patientOfConvener();
    const m = await json(await post('/v1/mdt', convener.token, mdtBody(p.id, { templateId: 'slow-mdt' })), 201);
    expect(m).toMatchObject({ patientId: p.id, convenerId: convener.id, status: 'open', quorum: 2, opinions: 0 });
    expect(m.specialists.map((s: Json) => [s.doctorId, s.status])).toEqual(specialists.map((s) => [s.id, 'invited']));

    // Each specialist has it in their queue and their tasks; a doctor not invited cannot see it.
    for (const s of specialists) {
      expect(((await json(await get('/v1/mdt?status=open', s.token), 200)).items as Json[]).map((x) => x.id)).toContain(m.id);
      const tasks = (await json(await get('/v1/tasks', s.token), 200)).items as Json[];
      expect(tasks.filter((t) => t.subject.id === m.id)).toEqual([expect.objectContaining({ kind: 'mdt-opinion', assigneeId: s.id, subject: { type: 'mdt', id: m.id } })]);
    }
    expect((await get(`/v1/mdt/${m.id}`, outsider.token)).status).toBe(404);
    expect((await post(`/v1/mdt/${m.id}/opinions`, outsider.token, { body: '我也说两句' })).status).toBe(404);

    // Before the quorum the conclusion is refused, and its text not kept.
    expect(typeOf(await problem(await post(`/v1/mdt/${m.id}/conclusion`, convener.token, { body: '先下结论' }), 409))).toBe('quorum-not-met');
    const [cardio, endo] = specialists as [Doctor, Doctor, Doctor];
    const first = await json(await post(`/v1/mdt/${m.id}/opinions`, cardio.token, { body: '建议冠脉CTA。' }), 201);
    expect(first.mdt).toMatchObject({ opinions: 1 });
    expect(first.message).toMatchObject({ kind: 'opinion', from: 'doctor', authorId: cardio.id, body: '建议冠脉CTA。' });
    expect(typeOf(await problem(await post(`/v1/mdt/${m.id}/opinions`, cardio.token, { body: '再补充一点' }), 409))).toBe('opinion-given');
    expect(typeOf(await problem(await post(`/v1/mdt/${m.id}/conclusion`, convener.token, { body: '先下结论' }), 409))).toBe('quorum-not-met');
    await json(await post(`/v1/mdt/${m.id}/opinions`, endo.token, { body: '强化降糖，糖化血红蛋白目标7%。' }), 201);
    expect(typeOf(await problem(await post(`/v1/mdt/${m.id}/conclusion`, cardio.token, { body: '我来总结' }), 403))).toBe('not-convener');

    const concluded = await json(await post(`/v1/mdt/${m.id}/conclusion`, convener.token, { body: '先行冠脉CTA，强化降糖，三月后复诊。' }), 200);
    expect(concluded).toMatchObject({ status: 'concluded', opinions: 2 });
    expect(concluded.openTasks).toEqual([]);
    expect(concluded.timeline.map((e: Json) => e.type)).toEqual(['mdt.convened', 'mdt.opinion', 'mdt.opinion', 'mdt.concluded']);
    expect(JSON.stringify(concluded)).not.toContain('冠脉');
    const convened = await waitFor(async () => stack.notifications.find((x) => x.body.kind === 'mdt.convened' && x.body.refs.mdtId === m.id));
    expect(convened.body).toMatchObject({ patientId: p.id, title: '专家将共同讨论您的病情' });
    expect(stack.notifications.filter((x) => x.body.kind === 'mdt.convened' && x.body.refs.mdtId === m.id)).toHaveLength(1);
    const told = await waitFor(async () => stack.notifications.find((x) => x.body.kind === 'mdt.concluded' && x.body.refs.mdtId === m.id));
    expect(told.body).toMatchObject({ patientId: p.id, title: '多学科会诊已出结论' });
    expect(told.raw).not.toContain('冠脉');

    // The patient reads their MDT: the case, the opinions and the conclusion, in order; nothing refused is there.
    const texts = (await json(await get(`/v1/mdt/${m.id}/messages`, p.token), 200)).items as Json[];
    expect(texts.map((x) => [x.kind, x.authorId, x.body])).toEqual([
      ['case', convener.id, '68岁男性，高血压合并糖尿病，近期胸闷。请心内、内分泌、神经科会诊。'],
      ['opinion', cardio.id, '建议冠脉CTA。'],
      ['opinion', endo.id, '强化降糖，糖化血红蛋白目标7%。'],
      ['conclusion', convener.id, '先行冠脉CTA，强化降糖，三月后复诊。'],
    ]);
    expect(typeOf(await problem(await post(`/v1/mdt/${m.id}/opinions`, specialists[2]!.token, { body: '晚了' }), 409))).toBe('mdt-closed');
  });

  it('reminds a specialist late past the deadline, then asks coordinators; the opinion closes the escalation', async () => {
    const p = await patientOfConvener();
    const m = await json(await post('/v1/mdt', coordinator, mdtBody(p.id, { convenerId: convener.id, specialists: [specialists[0]!.id], quorum: 1 })), 201);
    const reminded = await waitFor(async () => {
      const v = await json(await get(`/v1/mdt/${m.id}`, convener.token), 200);
      return v.specialists[0].status === 'reminded' ? v : undefined;
    });
    expect(reminded.timeline.map((e: Json) => e.type)).toEqual(['mdt.convened', 'mdt.reminded']);
    const escalation = await waitFor(async () =>
      ((await json(await get('/v1/tasks', coordinator), 200)).items as Json[]).find((t) => t.subject.id === m.id && t.kind === 'escalation'),
    );
    expect(escalation).toMatchObject({ role: 'coordinator', tier: 1, subject: { type: 'mdt', id: m.id } });
    await json(await post(`/v1/mdt/${m.id}/opinions`, specialists[0]!.token, { body: '同意。' }), 201);
    const after = await json(await get(`/v1/mdt/${m.id}`, coordinator), 200);
    expect(after.timeline.map((e: Json) => e.type)).toEqual(['mdt.convened', 'mdt.reminded', 'task.escalated', 'mdt.opinion', 'task.closed']);
    expect(after.openTasks.map((t: Json) => t.kind)).toEqual(['mdt-conclusion']);
  });

  it('is refused with the reason: a specialist unverified, the convener among them, a quorum too large, a text template, a pharmacist', async () => {
    const p = await patientOfConvener();
    const unverified = await json(await post('/v1/clinicians', admin, { name: 'Dr. Unverified', role: 'doctor', department: 'cardiology' }), 201);
    expect(typeOf(await problem(await post('/v1/mdt', convener.token, mdtBody(p.id, { specialists: [unverified.id], quorum: 1 })), 422))).toBe('clinician-unverified');
    expect((await problem(await post('/v1/mdt', convener.token, mdtBody(p.id, { specialists: [convener.id], quorum: 1 })), 400)).errors).toEqual([{ path: 'json.specialists', message: 'the convener is not one of the specialists' }]);
    expect((await problem(await post('/v1/mdt', convener.token, mdtBody(p.id, { quorum: 4 })), 400)).errors?.map((e) => e.path)).toEqual(['json.quorum']);
    expect(typeOf(await problem(await post('/v1/mdt', convener.token, mdtBody(p.id, { templateId: 'text-consultation' })), 422))).toBe('template-kind');
    expect((await post('/v1/mdt', await stack.token('pharmacist', 'ph-1'), mdtBody(p.id))).status).toBe(403);
    expect((await problem(await post('/v1/mdt', coordinator, mdtBody(p.id)), 400)).errors).toEqual([{ path: 'json.convenerId', message: 'required when a coordinator or admin convenes' }]);
    expect((await json(await get('/v1/mdt', p.token), 200)).items).toEqual([]);
  });
});
