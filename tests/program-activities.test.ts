// Care-program activities on the real PostgreSQL: the occurrence planner across DST, the program's
// one-transaction projection (row, timeline, tasks, notifications), the outbox dispatcher, and reads.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql } from '../activities/db.js';
import { enrolledConditions } from '../activities/prescriptions.js';
import { getProgram, getProgramTemplate, listProgramTemplates, planOccurrences, programJourneyInput, recordProgramTransition, remainingDays } from '../activities/programs.js';
import { createPatient } from '../activities/reference.js';
import { storeNotification } from '../activities/notifications.js';
import { findOrder, storeOrder, type PaymentProvider } from '../activities/payments.js';
import { recordTransition } from '../activities/journeys.js';
import { seedReferenceData } from '../activities/seed.js';
import type { JourneyInput, NotificationRequest, PathwayTemplate, ProgramSnapshot, ProgramTransition } from '../workflows/definitions.js';
import { LEASE_MS, dispatchOnce, retryDelaySeconds } from '../workers/outbox.js';
import { testDb, type TestDb } from './support/db.js';

const DAY = 86_400_000;
let db: TestDb;
let server: Server;
let url: string;
let failNext = 0;
const deliveries: { id: string; key: string }[] = [];
const log = pino({ level: 'silent' });

beforeAll(async () => {
  db = await testDb();
  await seedReferenceData(db.sql);
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (failNext > 0) {
        failNext -= 1;
        res.writeHead(503).end();
        return;
      }
      deliveries.push({ id: (JSON.parse(raw) as { id: string }).id, key: String(req.headers['idempotency-key']) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/n`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r) ?? r(undefined));
  await db?.drop();
});

describe('programJourneyInput', () => {
  const online = (patientId: string): JourneyInput => ({
    journeyId: `j-${patientId}`,
    patientId,
    mode: 'online',
    complaint: 'refill',
    pathway: { id: 'online-follow-up', version: 1 } as PathwayTemplate,
    followUpOf: { diagnosis: 'Asthma', visitDate: '2026-01-05', facility: 'CarePath' },
    startedBy: { role: 'coordinator', id: 'system' },
  });

  it("sends a program's child under six to an in-person visit: online care would need a guardian it has none of", async () => {
    const birthDate = new Date(Date.now() - 4 * 365 * DAY).toISOString().slice(0, 10);
    const child = await createPatient(db.sql, { name: '小朋友', phone: '+8613800000042', birthDate, sex: 'M', timezone: 'Asia/Shanghai' });
    const input = await programJourneyInput(db.sql, online(child.id));
    expect(input).toMatchObject({ mode: 'offline', pathway: { id: 'standard-outpatient' }, patientBirthDate: birthDate, journeyId: `j-${child.id}` });
    expect(input.followUpOf).toBeUndefined();
  });

  it('keeps an adult online, with the birth date the journey checks', async () => {
    const adult = await createPatient(db.sql, { name: '大人', phone: '+8613800000043', birthDate: '1960-01-01', sex: 'F', timezone: 'Asia/Shanghai' });
    expect(await programJourneyInput(db.sql, online(adult.id))).toEqual({ ...online(adult.id), patientBirthDate: '1960-01-01' });
  });
});

describe('planOccurrences', () => {
  const base = { medications: [{ drugCode: 'amlodipine-5mg', times: ['08:00', '20:00'] }], measurements: [] };

  it('keeps 08:00 local across a DST change (New York, 1 November 2026)', () => {
    const o = planOccurrences({ ...base, timezone: 'America/New_York', enrolledAt: '2026-10-30T12:00:00Z', from: '2026-10-31T00:00:00-04:00', to: '2026-11-02T12:00:00-05:00' });
    expect(o.map((x) => x.at)).toEqual([
      '2026-10-31T08:00:00-04:00',
      '2026-10-31T20:00:00-04:00',
      '2026-11-01T08:00:00-05:00',
      '2026-11-01T20:00:00-05:00',
      '2026-11-02T08:00:00-05:00',
    ]);
    // 08:00 is 12:00Z before the change and 13:00Z after it.
    expect(o.map((x) => new Date(x.at).toISOString().slice(11, 16))).toEqual(['12:00', '00:00', '13:00', '01:00', '13:00']);
  });

  it('moves a time that does not exist on the spring-forward day, and takes a repeated hour once', () => {
    const spring = planOccurrences({ medications: [{ drugCode: 'x', times: ['02:30'] }], measurements: [], timezone: 'America/New_York', enrolledAt: '2026-03-01T00:00:00Z', from: '2026-03-07T12:00:00Z', to: '2026-03-09T05:00:00Z' });
    expect(spring.map((x) => x.at)).toEqual(['2026-03-08T03:30:00-04:00']);
    const fall = planOccurrences({ medications: [{ drugCode: 'x', times: ['01:30'] }], measurements: [], timezone: 'America/New_York', enrolledAt: '2026-10-01T00:00:00Z', from: '2026-10-31T12:00:00Z', to: '2026-11-02T00:00:00Z' });
    expect(fall).toHaveLength(1);
  });

  it('has no DST in Shanghai, and counts everyDays from the day of enrolment', () => {
    const o = planOccurrences({
      medications: [],
      measurements: [{ type: 'weight', times: ['07:30'], everyDays: 7 }],
      timezone: 'Asia/Shanghai',
      enrolledAt: '2026-11-30T03:00:00Z', // 11:00 in Shanghai: today's 07:30 is past
      from: '2026-11-30T03:00:00Z',
      to: '2026-12-22T00:00:00Z',
    });
    expect(o.map((x) => x.at)).toEqual(['2026-12-07T07:30:00+08:00', '2026-12-14T07:30:00+08:00', '2026-12-21T07:30:00+08:00']);
    expect(o.every((x) => x.kind === 'measurement' && x.type === 'weight')).toBe(true);
  });
});

describe('program projection, outbox and reads', () => {
  const snapshot = (patientId: string, over: Partial<ProgramSnapshot> = {}): ProgramSnapshot => ({
    id: `prog-${patientId}`,
    patientId,
    condition: 'hypertension',
    doctorId: 'doc-1',
    status: 'active',
    template: { id: 'hypertension', version: 1 },
    plan: { medications: [{ drugCode: 'amlodipine-5mg', dose: '5 mg', times: ['08:00'], supplyDays: 30 }] },
    timezone: 'Asia/Shanghai',
    enrolledAt: new Date().toISOString(),
    next: [],
    adherence: { taken: 0, skipped: 0, missed: 0 },
    readings: [],
    openAlerts: [],
    supply: [{ drugCode: 'amlodipine-5mg', until: new Date(Date.now() + 10 * DAY + 3_600_000).toISOString() }],
    runs: 1,
    ...over,
  });
  const reminder = (s: ProgramSnapshot, at: string): NotificationRequest => ({
    id: `program:${s.id}:medication.reminder:amlodipine-5mg@${at}`,
    patientId: s.patientId,
    kind: 'medication.reminder',
    refs: { programId: s.id, drugCode: 'amlodipine-5mg', scheduledAt: at },
    params: { at, count: 1 },
  });

  it('projects a transition in one transaction, once per event and notification, never over a newer version', async () => {
    const patient = await createPatient(db.sql, { name: '李雷', phone: '+8613800000011', birthDate: '1955-05-05', sex: 'M', timezone: 'Asia/Shanghai' });
    const s = snapshot(patient.id);
    const at = '2026-12-01T08:00:00+08:00';
    const t: ProgramTransition = {
      version: 2,
      snapshot: s,
      events: [{ key: 'program.enrolled', at: new Date().toISOString(), type: 'program.enrolled', actor: 'doctor:doc-1', data: {} }],
      tasks: [{ id: `program:${s.id}:adherence:x`, kind: 'adherence', role: 'coordinator', status: 'open', subject: { type: 'program', id: s.id }, action: 'call', dueAt: new Date().toISOString(), tier: 0 }],
      notifications: [reminder(s, at)],
    };
    await recordProgramTransition(db.sql, t, true);
    await recordProgramTransition(db.sql, t, true); // a retry changes nothing
    await recordProgramTransition(db.sql, { ...t, version: 1, snapshot: { ...s, status: 'paused' }, events: [], tasks: [], notifications: [] }, true);
    const view = await getProgram(db.sql, s.id);
    expect(view).toMatchObject({ id: s.id, status: 'active', patientId: patient.id });
    expect(view!.timeline.map((e) => e.type)).toEqual(['program.enrolled']);
    expect(view!.supply).toEqual([{ drugCode: 'amlodipine-5mg', until: s.supply[0]!.until, remainingDays: 10 }]);
    const [task] = await db.sql<{ subject_type: string; kind: string }[]>`select subject_type, kind from tasks where id = ${t.tasks![0]!.id}`;
    expect(task).toEqual({ subject_type: 'program', kind: 'adherence' });
    const rows = await db.sql<{ id: string; via: string; title: string }[]>`select o.id, o.via, n.title from outbox o join notifications n using (id) where n.patient_id = ${patient.id}`;
    expect(rows).toEqual([{ id: t.notifications![0]!.id, via: 'dispatcher', title: '服药提醒' }]);
    // Enrolled: long prescriptions of the condition's drugs are allowed.
    expect(await enrolledConditions(db.sql, patient.id)).toEqual(new Set(['hypertension']));
  });

  it('delivers dispatcher rows once each, backs off after a failure, and leaves the workflows’ own rows alone', async () => {
    const patient = await createPatient(db.sql, { name: '韩梅梅', phone: '+8613800000012', birthDate: '1958-06-06', sex: 'F', timezone: 'Asia/Shanghai' });
    const s = snapshot(patient.id);
    const webhook = { url, secret: 'notify-secret' };
    await db.sql`update outbox set delivered_at = now() where delivered_at is null`; // the test before's row
    const a = reminder(s, '2026-12-02T08:00:00+08:00');
    const b = reminder(s, '2026-12-03T08:00:00+08:00');
    await recordProgramTransition(db.sql, { version: 1, snapshot: s, events: [], notifications: [a, b] }, true);
    const journeyOwn: NotificationRequest = { id: `journey:j-${patient.id}:appointment.reminder:PT1H`, patientId: patient.id, kind: 'appointment.reminder', refs: { journeyId: 'j-x' }, params: { start: '2026-12-01T01:30:00.000Z', offset: 'PT1H' } };
    await storeNotification(db.sql, journeyOwn, true);
    deliveries.length = 0;
    failNext = 1;
    expect(await dispatchOnce({ sql: db.sql, webhook, log })).toBe(2);
    // One failed: it waits for its backoff; the other was delivered with its id as Idempotency-Key.
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]!.key).toBe(deliveries[0]!.id);
    expect(await dispatchOnce({ sql: db.sql, webhook, log })).toBe(0);
    const failed = [a, b].find((n) => n.id !== deliveries[0]!.id)!;
    const [row] = await db.sql<{ attempts: number; wait: number }[]>`select attempts, extract(epoch from next_attempt_at - now())::int as wait from outbox where id = ${failed.id}`;
    expect(row!.attempts).toBe(1);
    expect(row!.wait).toBeGreaterThanOrEqual(retryDelaySeconds(1) - 1);
    await db.sql`update outbox set next_attempt_at = now() where id = ${failed.id}`;
    expect(await dispatchOnce({ sql: db.sql, webhook, log })).toBe(1);
    expect(deliveries.map((d) => d.id).sort()).toEqual([a.id, b.id].sort());
    // Delivered rows are never claimed again; the journey's row is its delivery activity's business.
    await db.sql`update outbox set next_attempt_at = now() - interval '1 hour'`;
    expect(await dispatchOnce({ sql: db.sql, webhook, log })).toBe(0);
    expect(deliveries.map((d) => d.id)).not.toContain(journeyOwn.id);
    expect(retryDelaySeconds(20)).toBe(300);
  });

  it('tells the payment provider of an order stored with its seat once, after a failure again, and never without a provider that wants telling', async () => {
    const patient = await createPatient(db.sql, { name: '王芳', phone: '+8613800000013', birthDate: '1970-01-01', sex: 'F', timezone: 'Asia/Shanghai' });
    const journeyId = `j-order-${patient.id}`;
    await recordTransition(db.sql, {
      version: 1,
      snapshot: { id: journeyId, patientId: patient.id, mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, phase: 'pre-visit', status: 'active', step: 'booking' },
      events: [],
    });
    await db.sql`update outbox set delivered_at = now() where delivered_at is null`; // the tests before's rows
    const told: { orderId: string; amount: number; dueBy: string }[] = [];
    let failNextTell = 1;
    const payments: PaymentProvider = {
      async refund() {},
      async requested(o) {
        if (failNextTell-- > 0) throw new Error('provider answered 503');
        told.push(o);
      },
    };
    const dueBy = new Date(Date.now() + 15 * 60_000);
    const order = { orderId: `${journeyId}-reg`, amount: 1500, dueBy: dueBy.toISOString(), journeyId };
    await db.sql.begin(async (tx) => {
      await storeOrder(tx as unknown as typeof db.sql, order, true);
      await storeOrder(tx as unknown as typeof db.sql, order, true); // a retried seat stores nothing more
    });
    await db.sql.begin((tx) => storeOrder(tx as unknown as typeof db.sql, { ...order, orderId: `${journeyId}-other` }, false)); // no provider to tell: not queued
    expect(await dispatchOnce({ sql: db.sql, payments, log })).toBe(1);
    expect(told).toEqual([]); // failed: it waits for its backoff
    const [row] = await db.sql<{ attempts: number; last_error: string }[]>`select attempts, last_error from outbox where id = ${`payment:${order.orderId}`}`;
    expect(row).toEqual({ attempts: 1, last_error: 'provider answered 503' });
    await db.sql`update outbox set next_attempt_at = now() where id = ${`payment:${order.orderId}`}`;
    expect(await dispatchOnce({ sql: db.sql, payments, log })).toBe(1);
    expect(told).toEqual([{ orderId: order.orderId, amount: 1500, dueBy: dueBy.toISOString() }]);
    await db.sql`update outbox set next_attempt_at = now() - interval '1 hour'`;
    expect(await dispatchOnce({ sql: db.sql, payments, log })).toBe(0); // told once
    expect(await findOrder(db.sql, `${journeyId}-other`)).toMatchObject({ amount: 1500, status: 'pending' });
  });

  it('holds a row for its dispatcher while a slow gateway answers (the lease is renewed), and gives a dead dispatcher’s row to the next within the lease', async () => {
    const patient = await createPatient(db.sql, { name: '李雷', phone: '+8613800000013', birthDate: '1957-07-07', sex: 'M', timezone: 'Asia/Shanghai' });
    const s = snapshot(patient.id);
    await db.sql`update outbox set delivered_at = now() where delivered_at is null`; // the tests before's rows
    // A gateway that answers after longer than the lease, or (`hang`) not at all.
    const arrivals: string[] = [];
    let hang = false;
    let answerMs = LEASE_MS + 1500;
    const slow = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        arrivals.push((JSON.parse(raw) as { id: string }).id);
        if (!hang) setTimeout(() => res.writeHead(204).end(), answerMs);
      });
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const webhook = { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/n`, secret: 'notify-secret' };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      const a = reminder(s, '2026-12-04T08:00:00+08:00');
      await recordProgramTransition(db.sql, { version: 1, snapshot: s, events: [], notifications: [a] }, true);
      const first = dispatchOnce({ sql: db.sql, webhook, log });
      await sleep(LEASE_MS + 500);
      expect(arrivals).toEqual([a.id]);
      expect(await dispatchOnce({ sql: db.sql, webhook, log })).toBe(0); // still held: renewed past its first lease
      expect(await first).toBe(1);
      expect(arrivals).toEqual([a.id]);

      // A dispatcher that dies mid-delivery (its database connections gone, its gateway call never answered):
      // nobody renews its row, and the next dispatcher delivers it, with the same key, once the lease has run out.
      hang = true;
      const b = reminder(s, '2026-12-05T08:00:00+08:00');
      await recordProgramTransition(db.sql, { version: 2, snapshot: s, events: [], notifications: [b] }, true);
      const dying = createSql(db.url, { max: 2, schema: db.schema });
      const dead = dispatchOnce({ sql: dying, webhook, log }).catch(() => 'dead');
      while (!arrivals.includes(b.id)) await sleep(20);
      const diedAt = Date.now();
      await dying.end({ timeout: 0 });
      [hang, answerMs] = [false, 0];
      let takenAfter: number | undefined;
      while (takenAfter === undefined && Date.now() - diedAt < LEASE_MS + 3000) {
        if (await dispatchOnce({ sql: db.sql, webhook, log })) takenAfter = Date.now() - diedAt;
        else await sleep(100);
      }
      // Renewed at most a second before it died, so held for at least LEASE_MS − 1 s, and free after LEASE_MS.
      expect(takenAfter).toBeGreaterThanOrEqual(LEASE_MS - 1000);
      expect(takenAfter).toBeLessThan(LEASE_MS + 1000);
      expect(arrivals.filter((id) => id === b.id)).toHaveLength(2); // at least once: the same notification again
      slow.closeAllConnections();
      expect(await dead).toBe('dead');
    } finally {
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  }, 30_000);

  it('serves the seeded templates, newest version first', async () => {
    expect((await listProgramTemplates(db.sql)).map((t) => t.id).sort()).toEqual(['diabetes-t2', 'hypertension']);
    expect(await getProgramTemplate(db.sql, { condition: 'diabetes-t2' })).toMatchObject({ id: 'diabetes-t2', thresholds: { glucose: { fastingHigh: 13.9 } } });
    expect(remainingDays(new Date(Date.now() - DAY).toISOString())).toBe(0);
  });
});
