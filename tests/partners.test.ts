// The real payment provider's and courier's adapters against a local HTTP listener standing in for the
// partner: each request signed over its exact body with the partner's secret, keyed by the order or
// delivery id; a partner that fails, answers too late or is not there makes the call throw (and the
// activity retry), and a retry carries the same key and body.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { httpCourier, httpPaymentProvider } from '../activities/partners.js';
import { verifySignature } from '../activities/signature.js';
import { freePort } from './support/ports.js';

const SECRET = 'partner-secret';
interface Call {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
}
let calls: Call[];
/** What the partner answers next (status), or `hang` to never answer. */
let answers: (number | 'hang')[];
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      calls.push({ method: req.method!, path: req.url!, headers: req.headers, raw });
      const answer = answers.shift() ?? 202;
      if (answer !== 'hang') res.writeHead(answer, { 'content-type': 'application/json' }).end('{"accepted":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/partner/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  calls = [];
  answers = [];
});

const signedBy = (c: Call) => verifySignature(SECRET, c.raw, c.headers['x-signature'] as string);

it('asks the payment provider for a refund and a prepay order, signed and keyed', async () => {
  const provider = httpPaymentProvider({ url, secret: SECRET });
  await provider.refund({ orderId: 'j1-reg', amount: 1500, reason: 'late-payment' });
  await provider.requested!({ orderId: 'j1-reg', amount: 1500, dueBy: '2026-12-01T10:00:00.000Z' });
  expect(calls.map((c) => [c.method, c.path, c.headers['idempotency-key'], c.headers['content-type']])).toEqual([
    ['POST', '/partner/refunds', 'refund:j1-reg', 'application/json'],
    ['POST', '/partner/orders', 'j1-reg', 'application/json'],
  ]);
  expect(calls.map((c) => JSON.parse(c.raw))).toEqual([
    { orderId: 'j1-reg', amount: 1500, reason: 'late-payment' },
    { orderId: 'j1-reg', amount: 1500, currency: 'CNY', dueBy: '2026-12-01T10:00:00.000Z' },
  ]);
  expect(calls.every(signedBy)).toBe(true);
  expect(verifySignature('another-secret', calls[0]!.raw, calls[0]!.headers['x-signature'] as string)).toBe(false);
});

it('orders the courier once per delivery id', async () => {
  await httpCourier({ url: url.replace(/\/$/, ''), secret: SECRET }).order({ deliveryId: 'rx-1-d2', prescriptionId: 'rx-1' });
  expect(calls).toHaveLength(1);
  expect(calls[0]).toMatchObject({ method: 'POST', path: '/partner/deliveries', headers: { 'idempotency-key': 'rx-1-d2' } });
  expect(JSON.parse(calls[0]!.raw)).toEqual({ deliveryId: 'rx-1-d2', prescriptionId: 'rx-1' });
  expect(signedBy(calls[0]!)).toBe(true);
});

it('throws on a non-2xx and a retry sends the same key and the same bytes', async () => {
  const courier = httpCourier({ url, secret: SECRET });
  answers = [503, 400];
  await expect(courier.order({ deliveryId: 'rx-2-d1', prescriptionId: 'rx-2' })).rejects.toThrow('courier answered 503 (deliveries, rx-2-d1)');
  await expect(courier.order({ deliveryId: 'rx-2-d1', prescriptionId: 'rx-2' })).rejects.toThrow('courier answered 400 (deliveries, rx-2-d1)');
  await courier.order({ deliveryId: 'rx-2-d1', prescriptionId: 'rx-2' });
  expect(calls).toHaveLength(3);
  expect(new Set(calls.map((c) => c.headers['idempotency-key']))).toEqual(new Set(['rx-2-d1']));
  expect(new Set(calls.map((c) => c.raw)).size).toBe(1);
  expect(new Set(calls.map((c) => c.headers['x-signature'])).size).toBe(1);
});

it('gives up on a partner that does not answer in time', async () => {
  answers = ['hang'];
  const started = Date.now();
  await expect(httpPaymentProvider({ url, secret: SECRET, timeoutMs: 300 }).refund({ orderId: 'j2-reg', amount: 100, reason: 'cancelled' })).rejects.toThrow(
    /^payment provider unreachable \(refunds, refund:j2-reg\): TimeoutError$/,
  );
  expect(Date.now() - started).toBeLessThan(2000);
  expect(calls).toHaveLength(1);
});

it('throws when nothing listens at the partner address', async () => {
  const port = await freePort();
  await expect(httpCourier({ url: `http://127.0.0.1:${port}`, secret: SECRET }).order({ deliveryId: 'rx-3-d1', prescriptionId: 'rx-3' })).rejects.toThrow(
    'courier unreachable (deliveries, rx-3-d1): TypeError ECONNREFUSED',
  );
});
