// The audit log on the real stack (api/audit.ts): refused attempts are audited with the patient they
// concerned (another patient's journey, a wrong role, no token), routes that serve no patient data are
// not audited, a partner's webhook is audited under the partner's name, a stream once as it opens, the
// dashboard's reads as the API calls they are; GET /v1/audit's filters and pages and a patient's
// GET /v1/patients/{id}/access-log answer exactly the events of the requests this file sent; and an
// answer whose event cannot be stored is a 503, never an unaudited read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRow } from '../activities/audit.js';
import { sign } from '../activities/signature.js';
import { SECRETS, startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';

type Json = Record<string, any>;

let st: Stack;
const admin = 'admin-a';
const coordinator = 'coord-a';
const f = { doctor: '', patientA: '', patientB: '', slot: '', journeyA: '', journeyB: '', orderA: '' };
const tokens: Record<string, string> = {};

interface Sent {
  requestId: string;
  status: number;
  /** The patients the request concerned: its own, or those its list showed (or filtered on). */
  concerns: string[];
  actor: string | null;
  body: Json | undefined;
}
/** Every request of this file to a patient-data route, in order, with the patients it concerned. */
const sent: Sent[] = [];

/** A call whose audit event the tests expect (its answer's X-Request-Id names it). */
async function req(
  method: string,
  path: string,
  opts: { as?: string; token?: string; body?: unknown; raw?: string; headers?: Record<string, string>; concerns: string[]; actor?: string | null },
): Promise<Sent> {
  const token = opts.token ?? (opts.as ? tokens[opts.as] : undefined);
  const res = await st.call(method, path, { ...(token ? { token } : {}), ...(opts.body !== undefined ? { body: opts.body } : {}), ...(opts.raw ? { raw: opts.raw } : {}), ...(opts.headers ? { headers: opts.headers } : {}) });
  const text = await res.text();
  const s: Sent = {
    requestId: res.headers.get('x-request-id')!,
    status: res.status,
    concerns: opts.concerns,
    actor: opts.actor !== undefined ? opts.actor : (opts.as ?? null),
    body: text && (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as Json) : undefined,
  };
  expect(s.requestId).toMatch(/\S/);
  sent.push(s);
  return s;
}

type Row = AuditRow;
const eventsOf = (requestId: string) => st.db.sql<Row[]>`select * from audit_events where request_id = ${requestId}`;
async function eventOf(s: Sent): Promise<Row> {
  const rows = await eventsOf(s.requestId);
  expect(rows, `one audit event for ${s.requestId}`).toHaveLength(1);
  return rows[0]!;
}

/** The request ids of the file's requests that concerned `patientId`, newest first. */
const concerning = (patientId: string): string[] => sent.filter((s) => s.concerns.includes(patientId)).map((s) => s.requestId).reverse();

const signedPayment = (body: Json, secret = SECRETS.paymentWebhook) => {
  const raw = JSON.stringify(body);
  return { raw, headers: { 'X-Signature': sign(secret, raw) } };
};

beforeAll(async () => {
  st = await startStack();
  tokens[admin] = await st.token('admin', admin);
  tokens[coordinator] = await st.token('coordinator', coordinator);
  const doc = await json(await st.call('POST', '/v1/clinicians', { token: tokens[admin], body: { name: 'Dr. Audit', role: 'doctor', department: 'respiratory' } }), 201);
  f.doctor = doc.id;
  // Only a verified doctor can be booked (issue 10's clinician rule).
  await json(await st.call('POST', `/v1/clinicians/${f.doctor}/verification`, { token: tokens[admin], body: { licenceNumber: 'AUDIT-0001', yearsOfPractice: 10 } }), 200);
  tokens[f.doctor] = await st.token('doctor', f.doctor);
  tokens['pharm-a'] = await st.token('pharmacist', 'pharm-a');
  // Setup through the API is audited like anything else: these requests are part of what the log must show.
  const patient = async (name: string, phone: string) => {
    const p = await req('POST', '/v1/patients', { as: admin, body: { name, phone, birthDate: '1970-05-06', sex: 'F' }, concerns: [] });
    expect(p.status).toBe(201);
    p.concerns.push(p.body!.id);
    tokens[p.body!.id] = await st.token('patient', p.body!.id);
    return p.body!.id as string;
  };
  f.patientA = await patient('审计甲', '+8613800000101');
  f.patientB = await patient('审计乙', '+8613800000102');
  const start = new Date(Date.now() + 2 * 86_400_000);
  const slot = await json(
    await st.call('POST', '/v1/slots', {
      token: tokens[admin],
      body: { doctorId: f.doctor, department: 'respiratory', start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString(), capacity: 5, mode: 'offline' },
    }),
    201,
  );
  f.slot = slot.id;
  const ja = await req('POST', '/v1/journeys', { as: f.patientA, body: { patientId: f.patientA, mode: 'offline', complaint: 'cough for a week' }, concerns: [f.patientA] });
  expect(ja.status).toBe(201);
  f.journeyA = ja.body!.id;
  const booked = await req('POST', `/v1/journeys/${f.journeyA}/appointment`, { as: f.patientA, body: { slotId: f.slot }, concerns: [f.patientA] });
  expect(booked.status).toBe(200);
  f.orderA = booked.body!.payment.orderId;
  const jb = await req('POST', '/v1/journeys', { as: coordinator, body: { patientId: f.patientB, mode: 'offline', complaint: 'cough for a week' }, concerns: [f.patientB] });
  expect(jb.status).toBe(201);
  f.journeyB = jb.body!.id;
}, 120_000);

afterAll(async () => {
  await st?.stop();
});

describe('each request to patient data is audited once, refused ones too, with the patient it concerned', () => {
  it("the patient's own read, and another patient's try at it (404, the real patient recorded)", async () => {
    const own = await req('GET', `/v1/journeys/${f.journeyA}`, { as: f.patientA, concerns: [f.patientA] });
    expect(own.status).toBe(200);
    expect(await eventOf(own)).toMatchObject({
      actor: f.patientA, role: 'patient', action: 'GET /v1/journeys/{id}', patient_id: f.patientA, patient_ids: null,
      resource: `journey:${f.journeyA}`, outcome: 'allowed', status: 200,
    });
    const other = await req('GET', `/v1/journeys/${f.journeyA}`, { as: f.patientB, concerns: [f.patientA] });
    expect(other.status).toBe(404);
    expect(await eventOf(other)).toMatchObject({
      actor: f.patientB, role: 'patient', action: 'GET /v1/journeys/{id}', patient_id: f.patientA, resource: `journey:${f.journeyA}`, outcome: 'refused', status: 404,
    });
    const cancel = await req('POST', `/v1/journeys/${f.journeyA}/cancel`, { as: f.patientB, body: { reason: 'not mine' }, concerns: [f.patientA] });
    expect(cancel.status).toBe(404);
    expect(await eventOf(cancel)).toMatchObject({ actor: f.patientB, action: 'POST /v1/journeys/{id}/cancel', patient_id: f.patientA, outcome: 'refused', status: 404 });
  });

  it('a wrong role (403), no token and a bad token (401): refused, the patient named by the path', async () => {
    const inbox = await req('GET', `/v1/patients/${f.patientA}/notifications`, { as: f.doctor, concerns: [f.patientA] });
    expect(inbox.status).toBe(403);
    expect(await eventOf(inbox)).toMatchObject({ actor: f.doctor, role: 'doctor', action: 'GET /v1/patients/{id}/notifications', patient_id: f.patientA, outcome: 'refused', status: 403 });
    const list = await req('GET', '/v1/journeys', { as: 'pharm-a', concerns: [] });
    expect(list.status).toBe(403);
    expect(await eventOf(list)).toMatchObject({ actor: 'pharm-a', role: 'pharmacist', action: 'GET /v1/journeys', patient_id: null, patient_ids: null, resource: 'journeys', outcome: 'refused' });
    const anonymous = await req('GET', `/v1/journeys/${f.journeyB}`, { concerns: [f.patientB] });
    expect(anonymous.status).toBe(401);
    expect(await eventOf(anonymous)).toMatchObject({ actor: null, role: 'anonymous', patient_id: f.patientB, resource: `journey:${f.journeyB}`, outcome: 'refused', status: 401 });
    const forged = await req('GET', `/v1/patients/${f.patientB}/notifications`, { token: 'not-a-token', concerns: [f.patientB] });
    expect(forged.status).toBe(401);
    expect(await eventOf(forged)).toMatchObject({ actor: null, role: 'anonymous', patient_id: f.patientB, outcome: 'refused' });
    const expired = await req('GET', `/v1/journeys/${f.journeyB}`, { token: await st.token('coordinator', coordinator, -10), concerns: [f.patientB], actor: null });
    expect(expired.status).toBe(401);
    expect(await eventOf(expired)).toMatchObject({ actor: null, role: 'anonymous', patient_id: f.patientB });
  });

  it('an id that names nothing, an unknown path and a method the path does not serve: refused, no patient', async () => {
    const nothing = await req('GET', '/v1/journeys/no-such-journey', { as: coordinator, concerns: [] });
    expect(nothing.status).toBe(404);
    expect(await eventOf(nothing)).toMatchObject({ actor: coordinator, patient_id: null, resource: 'journey:no-such-journey', outcome: 'refused', status: 404 });
    const unnamable = await req('GET', '/v1/journeys/a%00b', { as: coordinator, concerns: [] });
    expect(unnamable.status).toBe(404);
    expect(await eventOf(unnamable)).toMatchObject({ action: 'GET /v1/journeys/{id}', patient_id: null, resource: null, outcome: 'refused', status: 404 });
    const unknown = await req('GET', `/v1/journeys/${f.journeyA}/no-such-thing`, { as: coordinator, concerns: [] });
    expect(unknown.status).toBe(404);
    expect(await eventOf(unknown)).toMatchObject({ action: 'GET /v1/journeys/*', patient_id: null, resource: null, outcome: 'refused' });
    const method = await req('DELETE', '/v1/journeys', { as: coordinator, concerns: [] });
    expect(method.status).toBe(405);
    expect(await eventOf(method)).toMatchObject({ actor: coordinator, role: 'coordinator', action: 'DELETE /v1/journeys/*', outcome: 'refused', status: 405 });
  });

  it("lists: the patients shown, and the patientId filter (a patient asking for another's prescriptions is told of none, and recorded as refused)", async () => {
    const all = await req('GET', '/v1/journeys', { as: coordinator, concerns: [f.patientA, f.patientB] });
    expect(all.status).toBe(200);
    expect(await eventOf(all)).toMatchObject({ patient_id: null, patient_ids: [f.patientA, f.patientB].sort(), resource: 'journeys', outcome: 'allowed' });
    const filtered = await req('GET', `/v1/journeys?patientId=${f.patientB}`, { as: coordinator, concerns: [f.patientB] });
    expect(filtered.body!.items).toHaveLength(1);
    expect(await eventOf(filtered)).toMatchObject({ patient_id: f.patientB, patient_ids: [f.patientB] });
    const nosy = await req('GET', `/v1/prescriptions?patientId=${f.patientA}`, { as: f.patientB, concerns: [f.patientA] });
    expect([nosy.status, nosy.body!.items]).toEqual([200, []]);
    expect(await eventOf(nosy)).toMatchObject({ actor: f.patientB, patient_id: f.patientA, patient_ids: [], outcome: 'refused', status: 200 });
  });

  it('a partner webhook is audited as the partner; a bad signature as anonymous', async () => {
    const paid = await req('POST', '/v1/webhooks/payments', {
      ...signedPayment({ orderId: f.orderA, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' }),
      concerns: [f.patientA],
      actor: 'payment-provider',
    });
    expect(paid.status).toBeLessThan(500);
    expect(await eventOf(paid)).toMatchObject({
      actor: 'payment-provider', role: 'partner', action: 'POST /v1/webhooks/payments', patient_id: f.patientA, resource: `order:${f.orderA}`, status: paid.status,
    });
    const forged = await req('POST', '/v1/webhooks/payments', {
      ...signedPayment({ orderId: f.orderA, status: 'paid', amount: 1500, paidAt: new Date().toISOString(), channel: 'wechat' }, 'not-the-secret'),
      concerns: [],
    });
    expect(forged.status).toBe(401);
    expect(await eventOf(forged)).toMatchObject({ actor: null, role: 'anonymous', patient_id: null, resource: 'webhooks/payments', outcome: 'refused', status: 401 });
  });

  it('routes that serve no patient data append nothing', async () => {
    for (const path of [`/v1/clinicians/${f.doctor}`, '/v1/slots?department=respiratory', '/v1/pathways', '/v1/drugs', '/v1/facilities', '/v1/program-templates', '/healthz', '/openapi.json']) {
      const res = await st.call('GET', path, { token: tokens[admin] });
      expect(res.status, path).toBe(200);
      expect(await eventsOf(res.headers.get('x-request-id')!), path).toEqual([]);
    }
  });

  it('a stream is audited once, as it opens', async () => {
    const abort = new AbortController();
    const res = await fetch(`${st.url}/v1/stream`, { headers: { authorization: `Bearer ${tokens[f.patientA]}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: ready');
    abort.abort();
    const s: Sent = { requestId: res.headers.get('x-request-id')!, status: 200, concerns: [f.patientA], actor: f.patientA, body: undefined };
    sent.push(s);
    expect(await eventOf(s)).toMatchObject({ actor: f.patientA, role: 'patient', action: 'GET /v1/stream', patient_id: f.patientA, resource: 'stream', outcome: 'allowed', status: 200 });
  });
});

describe('GET /v1/audit (admins)', () => {
  const ids = (body: Json | undefined) => (body!.items as Json[]).map((e) => e.requestId as string);

  it("answers exactly the events of the requests sent, newest first; patientId: the patient's and the lists that showed them", async () => {
    const all = await req('GET', '/v1/audit?limit=200', { as: admin, concerns: [f.patientA, f.patientB] });
    expect(all.status).toBe(200);
    expect(ids(all.body)).toEqual(sent.slice(0, -1).map((s) => s.requestId).reverse());
    const first = (all.body!.items as Json[]).find((e) => e.requestId === sent[0]!.requestId)!;
    expect(first).toEqual({
      id: expect.stringMatching(/^\d+$/), at: expect.any(String), actor: admin, role: 'admin', action: 'POST /v1/patients',
      patientId: f.patientA, resource: `patient:${f.patientA}`, outcome: 'allowed', status: 201, requestId: sent[0]!.requestId,
    });
    for (const p of [f.patientA, f.patientB]) {
      // The events shown include lists that showed both patients: the read concerns both.
      const byPatient = await req('GET', `/v1/audit?patientId=${p}&limit=200`, { as: admin, concerns: [f.patientA, f.patientB] });
      expect(ids(byPatient.body), p).toEqual(concerning(p).slice(1));
    }
    const nobody = await req('GET', '/v1/audit?patientId=nobody', { as: admin, concerns: [] });
    expect(nobody.body).toEqual({ items: [], nextCursor: null });
    expect(await eventOf(nobody)).toMatchObject({ patient_id: null, patient_ids: [] });
  });

  it('by actor, by time, and in pages', async () => {
    const byB = await req('GET', `/v1/audit?actor=${f.patientB}`, { as: admin, concerns: [f.patientA] });
    expect(ids(byB.body)).toEqual(sent.filter((s) => s.actor === f.patientB).map((s) => s.requestId).reverse());
    expect(ids(byB.body).length).toBe(3);
    const partner = await req('GET', '/v1/audit?actor=payment-provider', { as: admin, concerns: [f.patientA] });
    expect(ids(partner.body)).toEqual([sent.find((s) => s.actor === 'payment-provider')!.requestId]);

    await new Promise((r) => setTimeout(r, 50));
    const cut = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 50));
    const later = await req('GET', `/v1/journeys/${f.journeyB}`, { as: coordinator, concerns: [f.patientB] });
    const since = await req('GET', `/v1/audit?from=${encodeURIComponent(cut)}`, { as: admin, concerns: [f.patientB] });
    expect(ids(since.body)).toEqual([later.requestId]);
    const until = await req('GET', `/v1/audit?to=${encodeURIComponent(cut)}&limit=200`, { as: admin, concerns: [f.patientA, f.patientB] });
    expect(ids(until.body)).toEqual(sent.slice(0, -3).map((s) => s.requestId).reverse());

    const expected = sent.map((s) => s.requestId).reverse();
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const answer = await req('GET', `/v1/audit?limit=7${cursor ? `&cursor=${cursor}` : ''}`, { as: admin, concerns: [] });
      expect(answer.status).toBe(200);
      // A page concerns the patients of the events it shows.
      answer.concerns.push(...new Set((answer.body!.items as Json[]).flatMap((e) => [e.patientId, ...(e.patientIds ?? [])]).filter((p) => p !== null) as string[]));
      seen.push(...ids(answer.body));
      cursor = answer.body!.nextCursor;
      if (!cursor) break;
    }
    // Each page is newer than every event it pages through: the walk finds each event before it once.
    expect(seen).toEqual(expected);
  });

  it('admins only (403, audited); a cursor it did not give out is 400', async () => {
    const refused = await req('GET', '/v1/audit', { as: coordinator, concerns: [] });
    expect(refused.status).toBe(403);
    expect(await eventOf(refused)).toMatchObject({ actor: coordinator, action: 'GET /v1/audit', outcome: 'refused', status: 403 });
    const bad = await req('GET', '/v1/audit?cursor=bm9wZQ', { as: admin, concerns: [] });
    expect(bad.status).toBe(400);
  });
});

describe('GET /v1/patients/{id}/access-log', () => {
  it('shows the patient every request that concerned them, newest first, and pages', async () => {
    const log = await req('GET', `/v1/patients/${f.patientA}/access-log?limit=200`, { as: f.patientA, concerns: [f.patientA] });
    expect(log.status).toBe(200);
    const rows = await st.db.sql<Row[]>`
      select * from audit_events where request_id = any(${concerning(f.patientA).slice(1)}::text[]) order by id desc`;
    expect(rows.map((r) => r.request_id)).toEqual(concerning(f.patientA).slice(1));
    expect(log.body).toEqual({
      items: rows.map((r) => ({ at: new Date(r.at).toISOString(), actor: r.actor, role: r.role, action: r.action, resource: r.resource, outcome: r.outcome })),
      nextCursor: null,
    });
    // Who tried: patient B's refused read of A's journey is in A's log.
    expect(log.body!.items).toContainEqual({ at: expect.any(String), actor: f.patientB, role: 'patient', action: 'GET /v1/journeys/{id}', resource: `journey:${f.journeyA}`, outcome: 'refused' });
    expect(await eventOf(log)).toMatchObject({ actor: f.patientA, action: 'GET /v1/patients/{id}/access-log', patient_id: f.patientA, outcome: 'allowed' });

    const first = await req('GET', `/v1/patients/${f.patientA}/access-log?limit=3`, { as: admin, concerns: [f.patientA] });
    expect(first.body!.items).toHaveLength(3);
    expect(first.body!.items[0]).toMatchObject({ actor: f.patientA, action: 'GET /v1/patients/{id}/access-log' });
    const second = await req('GET', `/v1/patients/${f.patientA}/access-log?limit=3&cursor=${first.body!.nextCursor}`, { as: admin, concerns: [f.patientA] });
    expect(second.body!.items).toEqual(log.body!.items.slice(2, 5));
  });

  it("another patient's log is 404, a clinician's or coordinator's read 403; each refusal is in the patient's log", async () => {
    const other = await req('GET', `/v1/patients/${f.patientA}/access-log`, { as: f.patientB, concerns: [f.patientA] });
    expect(other.status).toBe(404);
    for (const who of [f.doctor, 'pharm-a', coordinator]) {
      const refused = await req('GET', `/v1/patients/${f.patientA}/access-log`, { as: who, concerns: [f.patientA] });
      expect(refused.status, who).toBe(403);
    }
    const unknown = await req('GET', '/v1/patients/nobody/access-log', { as: admin, concerns: [] });
    expect(unknown.status).toBe(404);
    const log = await req('GET', `/v1/patients/${f.patientA}/access-log?limit=4`, { as: f.patientA, concerns: [f.patientA] });
    expect((log.body!.items as Json[]).map((e) => [e.actor, e.outcome])).toEqual([
      [coordinator, 'refused'],
      ['pharm-a', 'refused'],
      [f.doctor, 'refused'],
      [f.patientB, 'refused'],
    ]);
  });
});

describe('the dashboard and the codec server', () => {
  it("the dashboard's reads are audited as the API calls it makes with the user's token; its own pages are not", async () => {
    const [{ before }] = (await st.db.sql`select coalesce(max(id), 0)::text as before from audit_events`) as unknown as [{ before: string }];
    const page = await st.call('GET', `/app/journeys/${f.journeyA}`, { headers: { cookie: `cp_session=${tokens[coordinator]}` } });
    expect(page.status).toBe(200);
    expect(await eventsOf(page.headers.get('x-request-id')!)).toEqual([]);
    const rows = await st.db.sql<Row[]>`select * from audit_events where id > ${before}::bigint order by id`;
    expect(rows.map((r) => [r.actor, r.role, r.action, r.patient_id, r.outcome])).toContainEqual([coordinator, 'coordinator', 'GET /v1/journeys/{id}', f.patientA, 'allowed']);
    expect(rows.every((r) => r.actor === coordinator)).toBe(true);
  });

  it('decoding payloads is audited (the codec server reads patient data)', async () => {
    const res = await st.call('POST', '/codec/decode', { token: tokens[admin], body: { payloads: [] } });
    expect(res.status).toBe(200);
    expect(await eventsOf(res.headers.get('x-request-id')!)).toMatchObject([{ actor: admin, role: 'admin', action: 'POST /codec/decode', outcome: 'allowed' }]);
    const patient = await st.call('POST', '/codec/decode', { token: tokens[f.patientA], body: { payloads: [] } });
    expect(patient.status).toBe(403);
    expect(await eventsOf(patient.headers.get('x-request-id')!)).toMatchObject([{ actor: f.patientA, role: 'patient', outcome: 'refused', status: 403 }]);
  });
});

describe('no answer without its audit event', () => {
  it('when the event cannot be stored the answer is a 503 (no journey in it), and the read works again once it can', async () => {
    await st.db.sql`alter table audit_events rename to audit_events_away`;
    try {
      const res = await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: tokens[f.patientA] });
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(text)).toMatchObject({ status: 503, type: expect.stringMatching(/audit-unavailable$/) });
      expect(text).not.toContain(f.journeyA);
      expect(res.headers.get('retry-after')).toBe('2');
      // The same for a stream: it is not opened.
      const stream = await st.call('GET', '/v1/stream', { token: tokens[f.patientA] });
      expect(stream.status).toBe(503);
      await stream.body?.cancel();
    } finally {
      await st.db.sql`alter table audit_events_away rename to audit_events`;
    }
    await waitFor(async () => ((await st.call('GET', `/v1/journeys/${f.journeyA}`, { token: tokens[f.patientA] })).status === 200 ? true : undefined), 5000);
  });
});
