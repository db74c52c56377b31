// Consent (issue 10, rule 6) over HTTP on the real stack (dev server, PostgreSQL, a worker, the API):
// GET /v1/patients/{id}/consents and PUT /v1/patients/{id}/consents/{scope} with who may do what, the
// append-only history behind them, and two effects end to end: a referral in an outcome refused while
// record sharing is withdrawn (and sent once it is given back), and appointment reminders that never
// reach the inbox or the gateway while outreach is withdrawn, while the payment notice still does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notificationListener, startStack, type Received, type Stack } from './support/stack.js';
import { json, problem, waitFor } from './support/http.js';
import { verifiedClinician, verifiedPatient } from './support/people.js';
import { checkedIn } from './support/visits.js';

let stack: Stack;
let admin: string;
let coordinator: string;

interface Consent {
  scope: 'record-sharing' | 'outreach';
  granted: boolean;
  changedAt: string;
  changedBy: string;
  reason?: string;
}


const consents = async (patientId: string, token: string): Promise<Consent[]> =>
  (await json<{ items: Consent[] }>(await stack.call('GET', `/v1/patients/${patientId}/consents`, { token }), 200)).items;
const put = (patientId: string, scope: string, token: string, body: unknown) => stack.call('PUT', `/v1/patients/${patientId}/consents/${scope}`, { token, body });

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('consent routes', () => {
  it('shows both scopes granted since registration, records a withdrawal once, and a coordinator may give it back', async () => {
    const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '同意患者', phone: '+8613800000071', birthDate: '1970-03-03', sex: 'M' } }), 201);
    const me = await stack.token('patient', p.id);
    expect(await consents(p.id, me)).toEqual([
      { scope: 'record-sharing', granted: true, changedAt: p.createdAt, changedBy: 'registration' },
      { scope: 'outreach', granted: true, changedAt: p.createdAt, changedBy: 'registration' },
    ]);

    const withdrawn = await json<Consent>(await put(p.id, 'outreach', me, { granted: false, reason: 'too many messages' }), 200);
    expect(withdrawn).toMatchObject({ scope: 'outreach', granted: false, changedBy: `patient:${p.id}`, reason: 'too many messages' });
    // The same state again is no second change: the answer is the change that stands.
    expect(await json<Consent>(await put(p.id, 'outreach', me, { granted: false, reason: 'again' }), 200)).toEqual(withdrawn);
    expect(await consents(p.id, coordinator)).toEqual([
      { scope: 'record-sharing', granted: true, changedAt: p.createdAt, changedBy: 'registration' },
      withdrawn,
    ]);
    const given = await json<Consent>(await put(p.id, 'outreach', coordinator, { granted: true }), 200);
    expect(given).toMatchObject({ scope: 'outreach', granted: true, changedBy: 'coordinator:coord-1' });
    expect(given.reason).toBeUndefined();
    expect((await consents(p.id, admin))[1]).toEqual(given);

    // The history: every change, in order; nothing may rewrite it.
    const rows = await stack.db.sql<{ scope: string; granted: boolean; changed_by: string; reason: string | null }[]>`
      select scope, granted, changed_by, reason from patient_consents where patient_id = ${p.id} order by seq`;
    expect(rows).toEqual([
      { scope: 'outreach', granted: false, changed_by: `patient:${p.id}`, reason: 'too many messages' },
      { scope: 'outreach', granted: true, changed_by: 'coordinator:coord-1', reason: null },
    ]);
    await expect(stack.db.sql`update patient_consents set granted = false where patient_id = ${p.id}`).rejects.toThrow(/append-only/);
    await expect(stack.db.sql`delete from patient_consents where patient_id = ${p.id}`).rejects.toThrow(/append-only/);
  });

  it("refuses doctors and pharmacists (403), hides another patient's consents (404), and validates the scope and body (400)", async () => {
    const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '甲', phone: '+8613800000072', birthDate: '1971-04-04', sex: 'F' } }), 201);
    const other = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '乙', phone: '+8613800000073', birthDate: '1972-05-05', sex: 'F' } }), 201);
    const stranger = await stack.token('patient', other.id);
    for (const role of ['doctor', 'pharmacist'] as const) {
      const token = await stack.token(role, `${role}-1`);
      await problem(await stack.call('GET', `/v1/patients/${p.id}/consents`, { token }), 403);
      await problem(await put(p.id, 'outreach', token, { granted: false }), 403);
    }
    await problem(await stack.call('GET', `/v1/patients/${p.id}/consents`, { token: stranger }), 404);
    await problem(await put(p.id, 'record-sharing', stranger, { granted: false }), 404);
    await problem(await stack.call('GET', '/v1/patients/no-such-patient/consents', { token: coordinator }), 404);
    await problem(await put('no-such-patient', 'outreach', coordinator, { granted: false }), 404);
    await problem(await stack.call('GET', `/v1/patients/${p.id}/consents`), 401);
    expect((await problem(await put(p.id, 'marketing', admin, { granted: false }), 400)).errors?.map((e) => e.path)).toEqual(['param.scope']);
    expect((await problem(await put(p.id, 'outreach', admin, { granted: 'no' }), 400)).errors?.map((e) => e.path)).toEqual(['json.granted']);
    await problem(await put(p.id, 'outreach', admin, { granted: false, extra: 1 }), 400);
    // Nothing of the refused requests was recorded.
    const [row] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from patient_consents where patient_id in (${p.id}, ${other.id})`;
    expect(row!.n).toBe(0);
  });
});

describe('consent effects', () => {
  let facility: { url: string; received: Received[]; close(): Promise<void> };
  let facilityId: string;
  let doctorId: string;
  let doctor: string;

  beforeAll(async () => {
    facility = await notificationListener();
    facilityId = (await json(await stack.call('POST', '/v1/facilities', { token: admin, body: { name: 'Consent Hospital', kind: 'hospital', webhookUrl: facility.url } }), 201)).id;
    doctorId = (await verifiedClinician(stack, admin, { name: 'Dr. Consent', department: 'respiratory' })).id;
    doctor = await stack.token('doctor', doctorId);
    await json(
      await stack.call('POST', '/v1/pathways', {
        token: admin,
        body: {
          id: 'consent-visit', version: 1, name: 'Consent test', modes: ['offline'], fees: { registration: 800 }, paymentWindow: 'PT10M',
          appointmentReminders: [], nearTurnAhead: 1, noShowGrace: 'PT10M', consultStartSla: 'PT10M', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
        },
      }),
      201,
    );
  });
  afterAll(async () => {
    await facility?.close();
  });

  it('refuses a referral in an outcome while record sharing is withdrawn (422 consent-withdrawn, nothing recorded); given back, it is sent', async () => {
    const visit = await checkedIn(stack, { admin, doctorId, pathwayId: 'consent-visit', fee: 800 });
    await json(await stack.call('POST', `/v1/journeys/${visit.journeyId}/consultation`, { token: doctor }), 200);
    await json(await put(visit.patientId, 'record-sharing', visit.patient, { granted: false, reason: 'no sharing' }), 200);
    const outcome = {
      diagnosis: { code: 'J20.9', text: 'Acute bronchitis' },
      notes: '',
      referral: { facilityId, department: 'respiratory', reason: 'CT chest', urgency: 'routine', consent: true },
    };
    const refused = await problem(await stack.call('POST', `/v1/journeys/${visit.journeyId}/outcome`, { token: doctor, body: outcome }), 422);
    expect(refused.type).toMatch(/\/consent-withdrawn$/);
    const [none] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from referrals where journey_id = ${visit.journeyId}`;
    expect(none!.n).toBe(0);
    expect((await json(await stack.call('GET', `/v1/journeys/${visit.journeyId}`, { token: doctor }), 200)).step).toBe('in-consultation');

    await json(await put(visit.patientId, 'record-sharing', coordinator, { granted: true }), 200);
    const done = await json(await stack.call('POST', `/v1/journeys/${visit.journeyId}/outcome`, { token: doctor, body: outcome }), 200);
    const [referralId] = done.created.referrals as string[];
    await waitFor(async () => (facility.received.some((r) => (r.body as unknown as { referralId: string }).referralId === referralId) ? true : undefined));
    expect(facility.received.filter((r) => (r.body as unknown as { referralId: string }).referralId === referralId)).toHaveLength(1);
  });

  it('withholds appointment reminders while outreach is withdrawn: not in the inbox, never at the gateway, the timeline says why once; the payment notice goes', async () => {
    await json(
      await stack.call('POST', '/v1/pathways', {
        token: admin,
        body: {
          id: 'consent-reminders', version: 1, name: 'Consent reminders', modes: ['offline'], fees: { registration: 800 }, paymentWindow: 'PT10M',
          appointmentReminders: ['PT3S', 'PT2S'], nearTurnAhead: 1, noShowGrace: 'PT10M', consultStartSla: 'PT10M', pharmacistReviewSla: 'PT30M', prescriptionValidity: 'P3D',
        },
      }),
      201,
    );
    const p = await verifiedPatient(stack, admin, { name: '提醒患者', phone: '+8613800000074', birthDate: '1965-06-06', sex: 'F' });
    const me = await stack.token('patient', p.id);
    await json(await put(p.id, 'outreach', me, { granted: false }), 200);
    const start = new Date(Date.now() + 5000);
    const slot = await json(await stack.call('POST', '/v1/slots', {
      token: admin,
      body: { doctorId, department: 'respiratory', start: start.toISOString(), end: new Date(start.getTime() + 3600_000).toISOString(), capacity: 5, mode: 'offline' },
    }), 201);
    const j = await json(await stack.call('POST', '/v1/journeys', { token: me, body: { patientId: p.id, mode: 'offline', complaint: '咳嗽三天', pathwayId: 'consent-reminders' } }), 201);
    const booked = await json(await stack.call('POST', `/v1/journeys/${j.id}/appointment`, { token: me, body: { slotId: slot.id } }), 200);
    expect((await stack.payWebhook({ orderId: booked.payment.orderId, status: 'paid', amount: 800, paidAt: new Date().toISOString(), channel: 'wechat' })).status).toBe(204);

    // Past both reminder times (start − 3 s and start − 2 s).
    const journey = await waitFor(async () => {
      if (Date.now() < start.getTime() - 1000) return undefined;
      const v = await json(await stack.call('GET', `/v1/journeys/${j.id}`, { token: me }), 200);
      return v.timeline.some((e: { type: string }) => e.type === 'outreach.stopped') ? v : undefined;
    });
    await new Promise((r) => setTimeout(r, 500)); // a late second reminder would have shown by now
    const timeline = (await json(await stack.call('GET', `/v1/journeys/${j.id}`, { token: me }), 200)).timeline as { type: string; data: Record<string, unknown> }[];
    expect(timeline.filter((e) => e.type === 'reminder.sent')).toEqual([]);
    expect(timeline.filter((e) => e.type === 'outreach.stopped').map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: 'consent-withdrawn', scope: 'outreach', kind: 'appointment.reminder' }),
    ]);
    expect(journey.status).toBe('active');
    const inbox = (await json(await stack.call('GET', `/v1/patients/${p.id}/notifications`, { token: me }), 200)).items as { kind: string }[];
    expect(inbox.map((n) => n.kind)).toEqual(['payment.due']);
    await waitFor(async () => (stack.notifications.some((n) => n.body.refs.journeyId === j.id) ? true : undefined));
    expect(stack.notifications.filter((n) => n.body.refs.journeyId === j.id).map((n) => n.body.kind)).toEqual(['payment.due']);
    const [queued] = await stack.db.sql<{ n: number }[]>`
      select count(*)::int as n from notifications where patient_id = ${p.id} and kind = 'appointment.reminder'`;
    expect(queued!.n).toBe(0);
  });
});
