// Remote consultations over HTTP on the real components: institutions registered by an admin with
// their own secrets and callback listeners; a request signed by its institution (a forged one, signed
// with another institution's secret or naming none, changes nothing); a coordinator schedules a
// verified specialist; the opinion arrives signed with the asking institution's secret at its callback,
// and nowhere else.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign, verifySignature } from '../activities/signature.js';
import { startStack, type Stack } from './support/stack.js';
import { json, problem, waitFor } from './support/http.js';
import { verifiedClinician } from './support/people.js';

type Json = Record<string, any>;
interface Callback { headers: IncomingHttpHeaders; raw: string }

let stack: Stack;
let admin: string;
let coordinator: string;
let specialist: { id: string; token: string };
const listeners: { server: Server; received: Callback[]; url: string }[] = [];
let clinicA: Json;
let pharmacyB: Json;

async function listener(): Promise<{ server: Server; received: Callback[]; url: string }> {
  const received: Callback[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      received.push({ headers: req.headers, raw });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const l = { server, received, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/opinions` };
  listeners.push(l);
  return l;
}

const post = (path: string, token: string, body?: unknown) => stack.call('POST', path, { token, ...(body === undefined ? {} : { body }) });
const get = (path: string, token: string) => stack.call('GET', path, { token });
const typeOf = (p: Json) => String(p.type).replace('https://carepath.dev/problems/', '');

/** POSTs a remote consultation request as an institution: `id` in X-Institution-Id, the body signed with `secret`. */
function ask(id: string, secret: string, body: Json): Promise<Response> {
  const raw = JSON.stringify(body);
  return stack.call('POST', '/v1/remote-consultations', { raw, headers: { 'X-Institution-Id': id, 'X-Signature': sign(secret, raw) } });
}

const request = (externalRef: string) => ({
  externalRef,
  patient: { externalId: 'clinic-patient-7', name: '社区患者', phone: '+8613800000021', birthDate: '1950-10-10', sex: 'M' },
  department: 'cardiology',
  request: { body: '社区随访发现血压控制不佳，请心内科会诊用药方案。', attachments: ['clinic:bp-log-7'] },
});

let A: Awaited<ReturnType<typeof listener>>;
let B: Awaited<ReturnType<typeof listener>>;

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  const d = await verifiedClinician(stack, admin, { name: 'Dr. Remote', department: 'cardiology' });
  specialist = { id: d.id, token: await stack.token('doctor', d.id) };
  [A, B] = [await listener(), await listener()];
  await json(await post('/v1/consultation-templates', admin, { id: 'remote-fast', kind: 'remote', version: 1, name: 'Fast', assignWithin: 'PT2S', opinionWithin: 'PT1H', escalateAfter: 'PT1H', maxEscalationTier: 1 }), 201);
  clinicA = await json(await post('/v1/institutions', admin, { name: 'Community Health Centre A', kind: 'primary-care', callbackUrl: A.url, templateId: 'remote-fast' }), 201);
  pharmacyB = await json(await post('/v1/institutions', admin, { name: 'Pharmacy B', kind: 'pharmacy', callbackUrl: B.url }), 201);
});
afterAll(async () => {
  await stack?.stop();
  for (const l of listeners) await new Promise((r) => l.server.close(r));
});

describe('institutions', () => {
  it('are registered by an admin, their secret shown once, listed without it', async () => {
    expect(clinicA.signingSecret).toMatch(/^[\w-]{40,}$/);
    expect(clinicA).toMatchObject({ kind: 'primary-care', callbackUrl: A.url, templateId: 'remote-fast' });
    expect(pharmacyB.templateId).toBe('remote-standard');
    expect((await post('/v1/institutions', coordinator, { name: 'X', kind: 'pharmacy', callbackUrl: B.url })).status).toBe(403);
    expect((await problem(await post('/v1/institutions', admin, { name: 'X', kind: 'hospital', callbackUrl: 'ftp://x' }), 400)).errors?.map((e) => e.path).sort()).toEqual(['json.callbackUrl', 'json.kind']);
    const items = (await json(await get('/v1/institutions', coordinator), 200)).items as Json[];
    expect(items.map((i) => i.id)).toEqual(expect.arrayContaining([clinicA.id, pharmacyB.id]));
    expect(JSON.stringify(items)).not.toContain(clinicA.signingSecret);
  });
});

describe('a remote consultation', () => {
  it('is taken only with its institution\'s own signature, escalated until scheduled, answered, and its opinion returned signed to that institution alone', async () => {
    const countRows = async () => Number((await stack.db.sql<{ n: number }[]>`select count(*)::int as n from remote_consultations`)[0]!.n);
    const before = await countRows();
    // Forged: A's id signed with B's secret; an unknown institution; no signature.
    expect(typeOf(await problem(await ask(clinicA.id, pharmacyB.signingSecret, request('ref-1')), 401))).toBe('bad-signature');
    expect(typeOf(await problem(await ask('no-such-institution', clinicA.signingSecret, request('ref-1')), 401))).toBe('bad-signature');
    expect((await stack.call('POST', '/v1/remote-consultations', { body: request('ref-1') })).status).toBe(401);
    expect(await countRows()).toBe(before);

    const receipt = await json(await ask(clinicA.id, clinicA.signingSecret, request('ref-1')), 201);
    expect(receipt).toMatchObject({ externalRef: 'ref-1', status: 'received' });
    // The same request again is the same consultation; under an Idempotency-Key, the first answer again.
    expect((await json(await ask(clinicA.id, clinicA.signingSecret, request('ref-1')), 201)).id).toBe(receipt.id);
    const keyed = () => {
      const raw = JSON.stringify(request('ref-1'));
      return stack.call('POST', '/v1/remote-consultations', { raw, headers: { 'X-Institution-Id': clinicA.id, 'X-Signature': sign(clinicA.signingSecret, raw), 'Idempotency-Key': 'clinic-a-ref-1' } });
    };
    const firstKeyed = await keyed();
    expect((await json(firstKeyed, 201)).id).toBe(receipt.id);
    const replayed = await keyed();
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(replayed, 201)).id).toBe(receipt.id);
    expect(await countRows()).toBe(before + 1);

    // Nobody scheduled within 2 s: escalated to coordinators.
    const escalation = await waitFor(async () => ((await json(await get('/v1/tasks', coordinator), 200)).items as Json[]).find((t) => t.subject.id === receipt.id && t.kind === 'escalation'));
    expect(escalation).toMatchObject({ role: 'coordinator', subject: { type: 'remote', id: receipt.id } });
    expect((await get(`/v1/remote-consultations/${receipt.id}`, specialist.token)).status).toBe(404);
    const scheduled = await json(await post(`/v1/remote-consultations/${receipt.id}/assignment`, coordinator, { doctorId: specialist.id }), 200);
    expect(scheduled).toMatchObject({ status: 'assigned', doctorId: specialist.id });
    const texts = (await json(await get(`/v1/remote-consultations/${receipt.id}/messages`, specialist.token), 200)).items as Json[];
    expect(texts.map((t) => [t.kind, t.body])).toEqual([['case', '社区随访发现血压控制不佳，请心内科会诊用药方案。']]);

    await json(await post(`/v1/remote-consultations/${receipt.id}/opinion`, specialist.token, { body: '建议加用氨氯地平5mg每日一次，两周后复测。' }), 200);
    const callback = await waitFor(async () => A.received[0]);
    expect(verifySignature(clinicA.signingSecret, callback.raw, callback.headers['x-signature'] as string)).toBe(true);
    expect(verifySignature(pharmacyB.signingSecret, callback.raw, callback.headers['x-signature'] as string)).toBe(false);
    expect(callback.headers['idempotency-key']).toBe(receipt.id);
    expect(JSON.parse(callback.raw)).toMatchObject({
      remoteConsultationId: receipt.id,
      externalRef: 'ref-1',
      opinion: { text: '建议加用氨氯地平5mg每日一次，两周后复测。', doctor: { id: specialist.id, name: 'Dr. Remote', department: 'cardiology' } },
    });
    const returned = await waitFor(async () => {
      const v = await json(await get(`/v1/remote-consultations/${receipt.id}`, coordinator), 200);
      return v.status === 'returned' ? v : undefined;
    });
    expect(returned.timeline.map((e: Json) => e.type)).toEqual(['remote.received', 'task.escalated', 'remote.assigned', 'task.closed', 'remote.answered', 'remote.returned']);
    expect(A.received).toHaveLength(1);
    expect(B.received).toEqual([]);
    // The patient is told in their language, without the opinion's text.
    const notices = await waitFor(async () => {
      const n = stack.notifications.filter((x) => x.body.refs.remoteId === receipt.id);
      return n.length === 2 ? n : undefined;
    });
    expect(notices.map((x) => x.body.kind).sort()).toEqual(['remote.received', 'remote.returned']);
    expect(notices.map((x) => x.raw).join('')).not.toContain('氨氯地平');
    expect(typeOf(await problem(await post(`/v1/remote-consultations/${receipt.id}/opinion`, specialist.token, { body: '补充' }), 409))).toBe('remote-answered');
  });

  it("reuses the institution's patient, keeps each institution's requests apart, and refuses an unverified specialist", async () => {
    const one = await json(await ask(clinicA.id, clinicA.signingSecret, request('ref-2')), 201);
    const two = await json(await ask(clinicA.id, clinicA.signingSecret, request('ref-3')), 201);
    const fromB = await json(await ask(pharmacyB.id, pharmacyB.signingSecret, request('ref-2')), 201);
    expect(new Set([one.id, two.id, fromB.id]).size).toBe(3);
    const patients = await stack.db.sql<{ id: string; patient_id: string }[]>`select id, patient_id from remote_consultations where id in ${stack.db.sql([one.id, two.id, fromB.id])}`;
    const byId = new Map(patients.map((p) => [p.id, p.patient_id]));
    expect(byId.get(one.id)).toBe(byId.get(two.id));
    expect(byId.get(fromB.id)).not.toBe(byId.get(one.id));
    const unverified = await json(await post('/v1/clinicians', admin, { name: 'Dr. New', role: 'doctor', department: 'cardiology' }), 201);
    expect(typeOf(await problem(await post(`/v1/remote-consultations/${one.id}/assignment`, coordinator, { doctorId: unverified.id }), 422))).toBe('clinician-unverified');
    expect((await post(`/v1/remote-consultations/${one.id}/assignment`, specialist.token, { doctorId: specialist.id })).status).toBe(403);
    const queue = (await json(await get('/v1/remote-consultations?status=received', coordinator), 200)).items as Json[];
    expect(queue.map((q) => q.id)).toEqual(expect.arrayContaining([one.id, two.id, fromB.id]));
  });
});
