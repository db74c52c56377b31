// The exam scheduler and the facility adapter on the real PostgreSQL (and, for the adapter, a real
// local HTTP listener): earliest free time of an exam's daily schedule, once per exam, never one time
// for two exams under concurrent bookings; referrals POSTed signed, once, with the patient's details
// read from the database, and a failed POST recorded and thrown so the activity retries.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DateTime } from 'luxon';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAM_DAY, dayStarts, examActivities, releaseExamBooking, scheduleExam } from '../activities/exams.js';
import type { ActivityDeps } from '../activities/deps.js';
import { recordItemTransition } from '../activities/items.js';
import { recordTransition } from '../activities/journeys.js';
import { ledgerPaymentProvider } from '../activities/payments.js';
import { awaitingCourier } from '../activities/prescriptions.js';
import { createPatient } from '../activities/reference.js';
import { createFacility } from '../activities/facilities.js';
import { referralActivities } from '../activities/referrals.js';
import { verifySignature } from '../activities/signature.js';
import type { ExamSnapshot, JourneySnapshot, ReferralSnapshot } from '../workflows/definitions.js';
import { testDb, type TestDb } from './support/db.js';

const SECRET = 'test-facility-secret';
let db: TestDb;
let deps: ActivityDeps;
let patientId: string;
const journeyId = 'j-post-visit';

let server: Server;
let baseUrl: string;
let answer = 200;
const received: { path: string; raw: string; signature: string; idempotencyKey: string }[] = [];

beforeAll(async () => {
  db = await testDb({ max: 10 });
  deps = {
    sql: db.sql,
    log: pino({ level: 'silent' }),
    payments: ledgerPaymentProvider(db.sql),
    courier: awaitingCourier,
    facilityWebhookSecret: SECRET,
    async signalQueueAdvanced() {},
    async startJourney() {
      throw new Error('no journeys start in these tests');
    },
  };
  patientId = (await createPatient(db.sql, { name: '王芳', phone: '+8613800000042', birthDate: '1968-04-02', sex: 'F', timezone: 'Asia/Shanghai' })).id;
  const journey: JourneySnapshot = {
    id: journeyId,
    patientId,
    mode: 'offline',
    pathway: { id: 'standard-outpatient', version: 1 },
    phase: 'post-visit',
    status: 'active',
    step: 'follow-through',
    outcome: { diagnosis: { code: 'I20.0', text: 'unstable angina' }, notes: 'n', recordedBy: 'doc-1', recordedAt: new Date().toISOString() },
  };
  await recordTransition(db.sql, { version: 1, snapshot: journey, events: [] });

  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      received.push({ path: req.url ?? '', raw, signature: String(req.headers['x-signature']), idempotencyKey: String(req.headers['idempotency-key']) });
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await db?.drop();
});

/** An exam row (exam_bookings refers to it), as the workflow projects it when ordered. */
async function exam(id: string, code: string): Promise<string> {
  const snapshot: ExamSnapshot = { id, journeyId, patientId, doctorId: 'doc-1', code, name: code, status: 'scheduled' };
  await recordItemTransition(db.sql, { type: 'exam', version: 1, snapshot, events: [] });
  return id;
}

async function referral(id: string, facilityId: string): Promise<string> {
  const snapshot: ReferralSnapshot = {
    id, journeyId, patientId, facilityId, department: 'cardiology', reason: 'coronary angiography', urgency: 'urgent', status: 'sending',
  };
  await recordItemTransition(db.sql, { type: 'referral', version: 1, snapshot, events: [] });
  return id;
}

const shanghai = (s: string) => DateTime.fromISO(s, { zone: EXAM_DAY.timezone }).toJSDate();
const utc = (s: string) => shanghai(s).toISOString();

describe('scheduleExam', () => {
  it('splits 08:00–17:00 Shanghai time into daily_capacity equal start times', () => {
    const starts = dayStarts(DateTime.fromISO('2026-12-01', { zone: EXAM_DAY.timezone }), 24).map((ms) => DateTime.fromMillis(ms, { zone: EXAM_DAY.timezone }).toFormat('HH:mm:ss'));
    expect(starts).toHaveLength(24);
    expect(starts.slice(0, 3)).toEqual(['08:00:00', '08:22:30', '08:45:00']);
    expect(starts.at(-1)).toBe('16:37:30');
  });

  it('books the earliest free time at least an hour ahead, once per exam; a released time is free again', async () => {
    const now = shanghai('2026-12-01T10:20:00');
    // ecg: 24 a day, every 22.5 minutes: 11:00 is too soon, 11:22:30 is the first.
    const a = await scheduleExam(db.sql, { examId: await exam('ex-a', 'ecg'), code: 'ecg', now });
    expect(a).toEqual({ scheduledAt: utc('2026-12-01T11:22:30') });
    const b = await scheduleExam(db.sql, { examId: await exam('ex-b', 'ecg'), code: 'ecg', now });
    expect(b).toEqual({ scheduledAt: utc('2026-12-01T11:45:00') });
    // A retry (even later) returns the booking the exam has.
    expect(await scheduleExam(db.sql, { examId: 'ex-a', code: 'ecg', now: shanghai('2026-12-01T12:30:00') })).toEqual(a);
    // Another code has its own schedule.
    expect(await scheduleExam(db.sql, { examId: await exam('ex-u', 'urinalysis'), code: 'urinalysis', now })).toEqual({ scheduledAt: utc('2026-12-01T11:22:30') });

    await releaseExamBooking(db.sql, 'ex-a');
    await releaseExamBooking(db.sql, 'ex-a'); // twice changes nothing
    const c = await scheduleExam(db.sql, { examId: await exam('ex-c', 'ecg'), code: 'ecg', now });
    expect(c).toEqual(a);
    const rows = await db.sql<{ exam_id: string }[]>`select exam_id from exam_bookings where code = 'ecg' order by start_at`;
    expect(rows.map((r) => r.exam_id)).toEqual(['ex-c', 'ex-b']);
  });

  it('moves to the next day (at 08:00) when the rest of the day is too soon or taken', async () => {
    const late = shanghai('2026-12-01T16:00:00'); // chest X-ray: the last start is 16:26:15
    expect(await scheduleExam(db.sql, { examId: await exam('ex-x1', 'chest-xray'), code: 'chest-xray', now: late })).toEqual({ scheduledAt: utc('2026-12-02T08:00:00') });
    expect(await scheduleExam(db.sql, { examId: await exam('ex-x2', 'chest-xray'), code: 'chest-xray', now: late })).toEqual({ scheduledAt: utc('2026-12-02T08:33:45') });
  });

  it('never gives two exams the same time under concurrent bookings (20 exams, each booked twice at once, on a pool of 10)', async () => {
    const now = shanghai('2026-12-05T06:00:00'); // cbc: 40 a day, every 13.5 minutes from 08:00
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => exam(`ex-cbc-${i}`, 'cbc')));
    const calls = [...ids, ...ids].map((examId) => scheduleExam(db.sql, { examId, code: 'cbc', now }));
    const results = await Promise.all(calls);
    const byExam = new Map<string, string>();
    results.forEach((r, i) => {
      const examId = [...ids, ...ids][i]!;
      if (byExam.has(examId)) expect(r.scheduledAt, `${examId} booked twice`).toBe(byExam.get(examId));
      byExam.set(examId, r.scheduledAt);
    });
    const times = [...byExam.values()].sort();
    expect(new Set(times).size).toBe(20);
    // The first 20 times of the day, no gap left.
    const expected = dayStarts(DateTime.fromJSDate(now, { zone: EXAM_DAY.timezone }), 40).slice(0, 20).map((ms) => new Date(ms).toISOString());
    expect(times).toEqual(expected);
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from exam_bookings where code = 'cbc'`;
    expect(count!.n).toBe(20);
  });

  it('as an activity, books from the wall clock within the exam day', async () => {
    const before = Date.now();
    const { scheduledAt } = await examActivities(deps).scheduleExam({ examId: await exam('ex-now', 'lipid-panel'), code: 'lipid-panel' });
    expect(Date.parse(scheduledAt) - before).toBeGreaterThanOrEqual(60 * 60 * 1000);
    const local = DateTime.fromISO(scheduledAt, { zone: EXAM_DAY.timezone });
    expect(local.hour).toBeGreaterThanOrEqual(8);
    expect(local.hour).toBeLessThan(17);
    expect(await examActivities(deps).scheduleExam({ examId: 'ex-now', code: 'lipid-panel' })).toEqual({ scheduledAt });
  });
});

describe('sendReferral', () => {
  const send = (referralId: string) => referralActivities(deps).sendReferral({ referralId });
  const outbox = async (id: string) =>
    (await db.sql<{ sent_at: Date | null; attempts: number; last_error: string | null }[]>`select sent_at, attempts, last_error from referral_sends where referral_id = ${id}`)[0]!;

  it('POSTs the referral signed, with the patient read from the database, once', async () => {
    const facility = await createFacility(db.sql, { name: 'Ruijin Hospital', kind: 'hospital', webhookUrl: `${baseUrl}/ruijin` });
    const id = await referral('ref-1', facility.id);
    received.length = 0;
    expect(await send(id)).toEqual({ via: 'webhook' });
    expect(received).toHaveLength(1);
    const [post] = received;
    expect(post!.path).toBe('/ruijin');
    expect(verifySignature(SECRET, post!.raw, post!.signature)).toBe(true);
    expect(verifySignature('another-secret', post!.raw, post!.signature)).toBe(false);
    expect(post!.idempotencyKey).toBe(id);
    expect(JSON.parse(post!.raw)).toEqual({
      referralId: id,
      journeyId,
      patient: { name: '王芳', birthDate: '1968-04-02', sex: 'F' },
      department: 'cardiology',
      reason: 'coronary angiography',
      urgency: 'urgent',
      diagnosis: { code: 'I20.0', text: 'unstable angina' },
    });
    expect(await outbox(id)).toMatchObject({ attempts: 1, last_error: null });
    expect((await outbox(id)).sent_at).not.toBeNull();

    // A retry after success sends nothing.
    expect(await send(id)).toEqual({ via: 'webhook' });
    expect(received).toHaveLength(1);
  });

  it('throws on a non-2xx answer and records it; the retry that gets through clears it', async () => {
    const facility = await createFacility(db.sql, { name: 'Community clinic', kind: 'community', webhookUrl: `${baseUrl}/clinic` });
    const id = await referral('ref-2', facility.id);
    received.length = 0;
    answer = 500;
    try {
      await expect(send(id)).rejects.toThrow(/facility answered 500/);
    } finally {
      answer = 200;
    }
    expect(await outbox(id)).toMatchObject({ sent_at: null, attempts: 1, last_error: 'facility answered 500' });
    expect(await send(id)).toEqual({ via: 'webhook' });
    expect(await outbox(id)).toMatchObject({ attempts: 2, last_error: null });
    expect((await outbox(id)).sent_at).not.toBeNull();
    expect(received.map((r) => r.idempotencyKey)).toEqual([id, id]);
  });

  it('throws when the facility is unreachable, and records why', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const facility = await createFacility(db.sql, { name: 'Gone', kind: 'hospital', webhookUrl: `http://127.0.0.1:${port}/x` });
    const id = await referral('ref-3', facility.id);
    await expect(send(id)).rejects.toThrow(/unreachable/);
    expect(await outbox(id)).toMatchObject({ sent_at: null, attempts: 1 });
    expect((await outbox(id)).last_error).toMatch(/^facility unreachable/);
  });

  it('records a referral to a facility without a webhook as handed over, posting nothing', async () => {
    const facility = await createFacility(db.sql, { name: 'Lab', kind: 'lab' });
    expect(facility.webhookUrl).toBeUndefined();
    const id = await referral('ref-4', facility.id);
    received.length = 0;
    expect(await send(id)).toEqual({ via: 'none' });
    expect(received).toEqual([]);
    expect((await outbox(id)).sent_at).not.toBeNull();
  });

  it('waits (throws, to be retried) until the workflow has recorded the referral', async () => {
    await expect(send('ref-not-yet')).rejects.toThrow(/not recorded yet/);
  });
});
