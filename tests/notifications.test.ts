// Notification delivery on the real PostgreSQL and a real local HTTP listener: stored once, signed,
// retried on failure, and never delivered twice for the same id.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notify } from '../activities/notifications.js';
import { createPatient } from '../activities/reference.js';
import { verifySignature } from '../activities/signature.js';
import { createLogger, REDACT_PATHS } from '../workers/logger.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
let server: Server;
let url: string;
let failNext = 0;
const deliveries: { raw: string; signature: string; idempotencyKey: string }[] = [];

beforeAll(async () => {
  db = await testDb();
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (failNext > 0) {
        failNext -= 1;
        res.writeHead(503).end();
        return;
      }
      deliveries.push({ raw, signature: String(req.headers['x-signature']), idempotencyKey: String(req.headers['idempotency-key']) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/n`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await db?.drop();
});

describe('notify', () => {
  it('stores once, retries a failed delivery, and never delivers the same id twice', async () => {
    const patient = await createPatient(db.sql, { name: '王芳', phone: '+8613800000003', birthDate: '1960-02-02', sex: 'F', timezone: 'Asia/Shanghai' });
    const webhook = { url, secret: 'notify-secret' };
    const req = {
      id: 'journey:j1:appointment.reminder:PT1H',
      patientId: patient.id,
      kind: 'appointment.reminder' as const,
      refs: { journeyId: 'j1' },
      params: { start: '2026-12-01T01:30:00.000Z', offset: 'PT1H' },
    };
    failNext = 1;
    await expect(notify(db.sql, webhook, req)).rejects.toThrow(/503/);
    expect(deliveries).toHaveLength(0);
    await notify(db.sql, webhook, req); // the activity's retry
    await notify(db.sql, webhook, req); // a replayed worker or a duplicate call
    expect(deliveries).toHaveLength(1);
    const d = deliveries[0]!;
    expect(verifySignature('notify-secret', d.raw, d.signature)).toBe(true);
    expect(d.idempotencyKey).toBe(req.id);
    const body = JSON.parse(d.raw) as Record<string, unknown>;
    expect(body).toMatchObject({ id: req.id, patientId: patient.id, kind: 'appointment.reminder', refs: { journeyId: 'j1' } });
    expect(Object.keys(body).sort()).toEqual(['at', 'body', 'id', 'kind', 'patientId', 'refs', 'title']);
    // Rendered in the patient's timezone (01:30Z is 09:30 in Shanghai); no name, no phone.
    expect(body.body).toContain('09:30');
    expect(d.raw).not.toContain('王芳');
    expect(d.raw).not.toContain('13800000003');
    const inbox = await db.sql`select id from notifications where patient_id = ${patient.id}`;
    expect(inbox).toHaveLength(1);
    const [outbox] = await db.sql<{ attempts: number; delivered_at: Date | null }[]>`select attempts, delivered_at from outbox where id = ${req.id}`;
    expect(outbox!.attempts).toBe(2);
    expect(outbox!.delivered_at).not.toBeNull();
  });

  it('keeps notifications in the inbox only when no webhook is configured', async () => {
    const patient = await createPatient(db.sql, { name: 'X', phone: '+8613800000004', birthDate: '1990-01-01', sex: 'M', timezone: 'Europe/Berlin' });
    await notify(db.sql, undefined, { id: 'n-inbox-only', patientId: patient.id, kind: 'journey.cancelled', refs: { journeyId: 'j2' }, params: { reason: 'patient' } });
    expect(await db.sql`select 1 from notifications where id = 'n-inbox-only'`).toHaveLength(1);
    expect(await db.sql`select 1 from outbox where id = 'n-inbox-only'`).toHaveLength(0);
  });
});

describe('logging', () => {
  it('redacts patient data even when it slips into a log line', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (s: string) => lines.push(s) });
    log.info({ journeyId: 'j1', name: '张三', phone: '+8613800000001', complaint: '胸痛', patient: { name: '张三', diagnosis: 'I10' } }, 'x');
    const line = lines.join('');
    expect(line).toContain('"journeyId":"j1"');
    for (const secret of ['张三', '13800000001', '胸痛', 'I10']) expect(line).not.toContain(secret);
    expect(REDACT_PATHS).toContain('*.complaint');
  });
});
