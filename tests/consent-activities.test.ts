// Consent where it is kept, on the real PostgreSQL (activities/consent.ts): the append-only history
// and its current state; outreach withheld in the very transaction that stores a notification (the
// journeys' and items' `notify`, the programs' projection with the event that announces it), a
// retry after a stored one staying stored, transactional kinds untouched; and the facility adapter
// sending nothing, at any attempt, once record sharing is withdrawn.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeConsent, consentOf, currentConsents } from '../activities/consent.js';
import type { ActivityDeps } from '../activities/deps.js';
import { createFacility } from '../activities/facilities.js';
import { recordItemTransition } from '../activities/items.js';
import { recordTransition } from '../activities/journeys.js';
import { deliverNotification, storeNotification } from '../activities/notifications.js';
import { ledgerPaymentProvider } from '../activities/payments.js';
import { awaitingCourier } from '../activities/prescriptions.js';
import { getProgram, recordProgramTransition } from '../activities/programs.js';
import { createPatient } from '../activities/reference.js';
import { referralActivities } from '../activities/referrals.js';
import { OUTREACH_KINDS, type NotificationRequest, type ProgramSnapshot, type ReferralSnapshot } from '../workflows/definitions.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
const patient = async (phone: string) => (await createPatient(db.sql, { name: '同意', phone, birthDate: '1960-01-01', sex: 'F', timezone: 'Asia/Shanghai' })).id;
const withdraw = (patientId: string, scope: 'outreach' | 'record-sharing') => changeConsent(db.sql, { patientId, scope, granted: false, changedBy: `patient:${patientId}` });
const give = (patientId: string, scope: 'outreach' | 'record-sharing') => changeConsent(db.sql, { patientId, scope, granted: true, changedBy: 'coordinator:c-1' });
const inbox = async (patientId: string) => (await db.sql<{ id: string }[]>`select id from notifications where patient_id = ${patientId} order by id`).map((r) => r.id);
const outbox = async (patientId: string) =>
  (await db.sql<{ id: string }[]>`select o.id from outbox o join notifications n on n.id = o.id where n.patient_id = ${patientId} order by o.id`).map((r) => r.id);

beforeAll(async () => {
  db = await testDb();
});
afterAll(async () => {
  await db?.drop();
});

describe('the consent history', () => {
  it('is granted from registration; appends each change once; the newest is current', async () => {
    const id = await patient('+8613800000101');
    expect(await consentOf(db.sql, id, 'outreach')).toMatchObject({ granted: true, seq: null });
    expect((await currentConsents(db.sql, id))!.map((c) => [c.scope, c.granted, c.changedBy])).toEqual([
      ['record-sharing', true, 'registration'],
      ['outreach', true, 'registration'],
    ]);
    expect(await give(id, 'outreach')).toMatchObject({ changed: false }); // granted already: nothing appended
    const first = await withdraw(id, 'outreach');
    expect(first).toMatchObject({ changed: true, consent: { scope: 'outreach', granted: false, changedBy: `patient:${id}` } });
    expect(await withdraw(id, 'outreach')).toEqual({ consent: first!.consent, changed: false });
    const now = await consentOf(db.sql, id, 'outreach');
    expect(now.granted).toBe(false);
    expect(now.seq).toEqual(expect.any(Number));
    await give(id, 'outreach');
    const back = await consentOf(db.sql, id, 'outreach');
    expect(back.granted).toBe(true);
    expect(back.seq!).toBeGreaterThan(now.seq!);
    expect((await consentOf(db.sql, id, 'record-sharing')).granted).toBe(true); // scopes are apart
    const [n] = await db.sql<{ n: number }[]>`select count(*)::int as n from patient_consents where patient_id = ${id}`;
    expect(n!.n).toBe(2);
    await expect(db.sql`update patient_consents set granted = true where patient_id = ${id}`).rejects.toThrow(/append-only/);
    await expect(db.sql`truncate patient_consents`).rejects.toThrow(/append-only: TRUNCATE/);
    expect(await changeConsent(db.sql, { patientId: 'nobody', scope: 'outreach', granted: false, changedBy: 'x' })).toBeUndefined();
    expect(await currentConsents(db.sql, 'nobody')).toBeUndefined();
  });

  it('serializes concurrent changes of one patient: the history alternates, never two equal states in a row', async () => {
    const id = await patient('+8613800000102');
    await Promise.all(Array.from({ length: 10 }, (_, i) => changeConsent(db.sql, { patientId: id, scope: 'outreach', granted: i % 2 === 1, changedBy: 'x' })));
    const rows = await db.sql<{ granted: boolean }[]>`select granted from patient_consents where patient_id = ${id} order by seq`;
    expect(rows.length).toBeGreaterThanOrEqual(1);
    rows.forEach((r, i) => expect(r.granted).toBe(i % 2 === 1)); // false, true, false…: each row a change
  });
});

describe('outreach, where notifications are stored', () => {
  const note = (patientId: string, kind: NotificationRequest['kind'], occurrence: string): NotificationRequest => ({
    id: `journey:j-${patientId}:${kind}:${occurrence}`,
    patientId,
    kind,
    refs: { journeyId: `j-${patientId}` },
    params: kind === 'payment.due' ? { amount: 800, dueBy: '2026-12-01T08:00:00+08:00' } : { start: '2026-12-02T08:00:00+08:00', offset: occurrence },
  });

  it('withholds every outreach kind (stored nowhere) and stores every other kind, with the consent it found', async () => {
    const id = await patient('+8613800000103');
    await withdraw(id, 'outreach');
    const reminder = await storeNotification(db.sql, note(id, 'appointment.reminder', 'P1D'), true);
    expect(reminder).toMatchObject({ stored: false, outreach: { granted: false, seq: expect.any(Number) } });
    const due = await storeNotification(db.sql, note(id, 'payment.due', 'order-1'), true);
    expect(due).toEqual({ stored: true });
    expect(await inbox(id)).toEqual([`journey:j-${id}:payment.due:order-1`]);
    expect(await outbox(id)).toEqual([`journey:j-${id}:payment.due:order-1`]);
    expect(OUTREACH_KINDS).toEqual(['appointment.reminder', 'medication.reminder', 'measurement.reminder', 'followup.due', 'refill.due', 'education']);

    await give(id, 'outreach');
    expect(await storeNotification(db.sql, note(id, 'appointment.reminder', 'PT1H'), true)).toMatchObject({ stored: true, outreach: { granted: true } });
    expect(await inbox(id)).toHaveLength(2);
  });

  it('keeps a notification stored before the withdrawal stored on a retry (the first attempt stands)', async () => {
    const id = await patient('+8613800000104');
    const n = note(id, 'appointment.reminder', 'P1D');
    expect((await storeNotification(db.sql, n, true)).stored).toBe(true);
    await withdraw(id, 'outreach');
    expect((await storeNotification(db.sql, n, true)).stored).toBe(true);
    expect((await storeNotification(db.sql, note(id, 'appointment.reminder', 'PT1H'), true)).stored).toBe(false);
    expect(await inbox(id)).toEqual([n.id]);
  });

  it('does not push outreach stored before the withdrawal and still undelivered (a slow gateway); transactional notices go', async () => {
    const posts: string[] = [];
    const gateway = createServer((req, res) => {
      posts.push(String(req.headers['idempotency-key']));
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const webhook = { url: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/n`, secret: 's' };
    try {
      const id = await patient('+8613800000106');
      const reminder = note(id, 'appointment.reminder', 'P1D');
      const due = note(id, 'payment.due', 'order-2');
      await storeNotification(db.sql, reminder, true);
      await storeNotification(db.sql, due, true);
      await withdraw(id, 'outreach');
      expect(await deliverNotification(db.sql, webhook, reminder.id)).toBe('withheld');
      expect(await deliverNotification(db.sql, webhook, reminder.id)).toBe('already-delivered');
      expect(await deliverNotification(db.sql, webhook, due.id)).toBe('delivered');
      expect(posts).toEqual([due.id]);
      const [row] = await db.sql<{ last_error: string }[]>`select last_error from outbox where id = ${reminder.id}`;
      expect(row!.last_error).toBe('withheld: outreach consent withdrawn');
      expect(await inbox(id)).toEqual([due.id, reminder.id].sort());
    } finally {
      await new Promise((r) => gateway.close(r));
    }
  });

  it("withholds a program's outreach notifications and the event that announces one, in the projection's transaction", async () => {
    const id = await patient('+8613800000105');
    await withdraw(id, 'outreach');
    const s: ProgramSnapshot = {
      id: `prog-${id}`, patientId: id, condition: 'hypertension', doctorId: 'doc-1', status: 'active', template: { id: 'hypertension', version: 1 },
      plan: { medications: [] }, timezone: 'Asia/Shanghai', enrolledAt: new Date().toISOString(), next: [], adherence: { taken: 0, skipped: 0, missed: 0 },
      readings: [], openAlerts: [], supply: [], runs: 1,
    };
    const education: NotificationRequest = { id: `program:${s.id}:education:low-salt-diet`, patientId: id, kind: 'education', refs: { programId: s.id, scheduledAt: s.enrolledAt }, params: { topic: 'low-salt-diet' } };
    const at = new Date().toISOString();
    const recorded = await recordProgramTransition(db.sql, {
      version: 1,
      snapshot: s,
      events: [
        { key: 'program.enrolled', at, type: 'program.enrolled', actor: 'doctor:doc-1', data: {} },
        { key: 'education.sent:low-salt-diet', at, type: 'education.sent', actor: 'system', data: { topic: 'low-salt-diet' } },
      ],
      notifications: [education],
      announces: { 'education.sent:low-salt-diet': education.id },
    }, true);
    expect(recorded).toMatchObject({ withheld: [education.id], outreach: { granted: false } });
    expect((await getProgram(db.sql, s.id))!.timeline.map((e) => e.type)).toEqual(['program.enrolled']);
    expect(await inbox(id)).toEqual([]);

    await give(id, 'outreach');
    const again = { ...education, id: `program:${s.id}:education:home-bp` };
    expect(await recordProgramTransition(db.sql, {
      version: 2, snapshot: s, events: [{ key: 'education.sent:home-bp', at, type: 'education.sent', actor: 'system', data: { topic: 'home-bp' } }],
      notifications: [again], announces: { 'education.sent:home-bp': again.id },
    }, true)).toMatchObject({ withheld: [], outreach: { granted: true } });
    expect((await getProgram(db.sql, s.id))!.timeline.map((e) => e.type)).toEqual(['program.enrolled', 'education.sent']);
    expect(await inbox(id)).toEqual([again.id]);
  });
});

describe('record sharing, at the facility adapter', () => {
  let server: Server;
  let url: string;
  const posts: string[] = [];
  let answer = 200;
  let deps: ActivityDeps;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        posts.push(raw);
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/referrals`;
    deps = {
      sql: db.sql,
      log: pino({ level: 'silent' }),
      payments: ledgerPaymentProvider(db.sql),
      courier: awaitingCourier,
      facilityWebhookSecret: 'secret',
      async signalQueueAdvanced() {},
      async startJourney() {},
    };
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  async function referral(patientId: string, id: string): Promise<string> {
    const facility = await createFacility(db.sql, { name: `Hospital ${id}`, kind: 'hospital', webhookUrl: url });
    await recordTransition(db.sql, {
      version: 1,
      snapshot: { id: `j-${id}`, patientId, mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, phase: 'post-visit', status: 'active', step: 'follow-through' },
      events: [],
    });
    const s: ReferralSnapshot = { id, journeyId: `j-${id}`, patientId, facilityId: facility.id, department: 'cardiology', reason: 'echo', urgency: 'routine', status: 'sending' };
    await recordItemTransition(db.sql, { type: 'referral', version: 1, snapshot: s, events: [] });
    return id;
  }
  const send = (id: string) => referralActivities(deps).sendReferral({ referralId: id });

  it('sends nothing once record sharing is withdrawn, at the first attempt or at a retry after a failure', async () => {
    const id = await patient('+8613800000106');
    const before = await referral(id, 'ref-consent-1');
    await withdraw(id, 'record-sharing');
    posts.length = 0;
    expect(await send(before)).toEqual({ via: 'webhook', withheld: true });
    expect(posts).toEqual([]);

    await give(id, 'record-sharing');
    const retried = await referral(id, 'ref-consent-2');
    answer = 503;
    await expect(send(retried)).rejects.toThrow(/facility answered 503/);
    answer = 200;
    expect(posts).toHaveLength(1);
    await withdraw(id, 'record-sharing');
    expect(await send(retried)).toEqual({ via: 'webhook', withheld: true });
    expect(posts).toHaveLength(1);
    const [row] = await db.sql<{ sent_at: Date | null; attempts: number; last_error: string }[]>`select sent_at, attempts, last_error from referral_sends where referral_id = ${retried}`;
    expect(row).toMatchObject({ sent_at: null, attempts: 2, last_error: expect.stringMatching(/record-sharing consent withdrawn/) });
  });

  it('control: a referral already sent is not touched by a later withdrawal (a retry answers it was sent)', async () => {
    const id = await patient('+8613800000107');
    const sent = await referral(id, 'ref-consent-3');
    posts.length = 0;
    expect(await send(sent)).toEqual({ via: 'webhook' });
    expect(posts).toHaveLength(1);
    await withdraw(id, 'record-sharing');
    expect(await send(sent)).toEqual({ via: 'webhook' });
    expect(posts).toHaveLength(1);
  });
});
