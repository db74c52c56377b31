// The codec server (/codec/decode, /codec/encode) of the API, over real HTTP on the loopback
// interface: staff only (a bearer token or the dashboard's session cookie), CORS for the Temporal
// UI's origin only, the protocol's JSON both ways, and the development exemption for the local UI.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { METADATA_ENCODING_KEY, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodecServerOptions } from '../api/codec.js';
import { createApi } from '../api/index.js';
import { signToken } from '../api/auth.js';
import { EncryptionCodec, KEY_ID_METADATA } from '../workers/codec.js';
import { DEV_PAYLOAD_KEYS } from '../workers/config.js';
import { createLogger } from '../workers/logger.js';
import { testDb, type TestDb } from './support/db.js';
import { json } from './support/http.js';

const secrets = { jwt: 'codec-test-jwt-secret', paymentWebhook: 'p', courierWebhook: 'c', labWebhook: 'l', facilityWebhook: 'f', identityWebhook: 'i' };
const UI = 'http://localhost:8233';
const codec = new EncryptionCodec(DEV_PAYLOAD_KEYS);
// Decoding payloads reads patient data: each call is audited (api/audit.ts), so the API has a database.
let db: TestDb;
const connection = Connection.lazy({ address: '127.0.0.1:1' });
const servers: ServerType[] = [];

/** The API with its codec server on a free loopback port; Temporal is never called, the database only by the audit. */
async function api(codecServer: Omit<CodecServerOptions, 'codec'>): Promise<string> {
  const app = createApi({
    temporal: new Client({ connection }),
    sql: db.sql,
    log: createLogger('silent'),
    secrets,
    codecServer: { codec, ...codecServer },
    ready: async () => ({ temporal: false, postgres: false }),
  });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

type JsonPayload = { metadata: Record<string, string>; data: string };
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers }, body: JSON.stringify(body) });

let url: string;
let coordinator: string;
const complaint = { complaint: 'MARKER-codec-server 胸闷', patientId: 'p-1' };

beforeAll(async () => {
  db = await testDb();
  url = await api({ uiOrigins: [UI] });
  coordinator = await signToken(secrets.jwt, { role: 'coordinator', id: 'coord-1' });
});
afterAll(async () => {
  for (const s of servers) s.close();
  await db?.drop();
  await connection.close().catch(() => undefined);
});

describe('codec server', () => {
  it('opens sealed payloads for staff, passes clear ones through, and seals with the active key', async () => {
    const sealed = await codec.encode([defaultPayloadConverter.toPayload(complaint)]);
    const clear = defaultPayloadConverter.toPayload('from before the codec');
    for (const role of ['coordinator', 'admin'] as const) {
      const token = await signToken(secrets.jwt, { role, id: `${role}-1` });
      const res = await post(`${url}/codec/decode?preserveStorageRefs=true`, { payloads: [...sealed, clear].map(toJson) }, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(200);
      const { payloads } = (await res.json()) as { payloads: JsonPayload[] };
      expect(payloads.map((p) => defaultPayloadConverter.fromPayload(fromJson(p)))).toEqual([complaint, 'from before the codec']);
      expect(Buffer.from(payloads[0]!.metadata[METADATA_ENCODING_KEY]!, 'base64').toString()).toBe('json/plain');
    }

    const encoded = await post(`${url}/codec/encode`, { payloads: [toJson(defaultPayloadConverter.toPayload(complaint))] }, { authorization: `Bearer ${coordinator}` });
    expect(encoded.status).toBe(200);
    const [out] = ((await encoded.json()) as { payloads: JsonPayload[] }).payloads;
    expect(Buffer.from(out!.metadata[KEY_ID_METADATA]!, 'base64').toString()).toBe('dev');
    expect(Buffer.from(out!.data, 'base64').includes(Buffer.from('MARKER'))).toBe(false);
    expect(defaultPayloadConverter.fromPayload((await codec.decode([fromJson(out!)]))[0]!)).toEqual(complaint);
  });

  it('answers 401 without a staff token, 403 to other roles, and nothing sealed leaks in either', async () => {
    const body = { payloads: (await codec.encode([defaultPayloadConverter.toPayload(complaint)])).map(toJson) };
    const none = await post(`${url}/codec/decode`, body);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const noneText = await none.text();
    expect(JSON.parse(noneText)).toMatchObject({ type: 'https://carepath.dev/problems/unauthorized', status: 401 });
    expect(noneText).not.toContain('MARKER');

    const forged = await signToken('another-secret', { role: 'admin', id: 'a' });
    expect((await post(`${url}/codec/decode`, body, { authorization: `Bearer ${forged}` })).status).toBe(401);
    expect((await post(`${url}/codec/encode`, body)).status).toBe(401);
    for (const role of ['patient', 'doctor', 'pharmacist'] as const) {
      const token = await signToken(secrets.jwt, { role, id: `${role}-1` });
      const res = await post(`${url}/codec/decode`, body, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain('MARKER');
    }
  });

  it("takes the dashboard's session cookie, as the Temporal UI sends it with cross-origin credentials", async () => {
    const body = { payloads: (await codec.encode([defaultPayloadConverter.toPayload(complaint)])).map(toJson) };
    const res = await post(`${url}/codec/decode`, body, { origin: UI, cookie: `cp_session=${coordinator}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const patient = await signToken(secrets.jwt, { role: 'patient', id: 'p-1' });
    expect((await post(`${url}/codec/decode`, body, { origin: UI, cookie: `cp_session=${patient}` })).status).toBe(403);
  });

  it("answers the UI origin's preflight without credentials, and no other origin", async () => {
    const preflight = (origin: string) =>
      fetch(`${url}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,authorization' },
      });
    const ok = await preflight(UI);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase().split(',')).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-namespace']));
    const other = await preflight('https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // A 401 to the UI carries the CORS headers, so the UI can tell the user why.
    const refused = await post(`${url}/codec/decode`, { payloads: [] }, { origin: UI });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(UI);
  });

  it('refuses malformed bodies (400) and payloads that do not open (422, naming the key id only)', async () => {
    const auth = { authorization: `Bearer ${coordinator}` };
    expect((await post(`${url}/codec/decode`, { payloads: [{ data: 'not base64!' }] }, auth)).status).toBe(400);
    expect((await post(`${url}/codec/decode`, { payloads: 'none' }, auth)).status).toBe(400);
    expect((await post(`${url}/codec/decode`, [], auth)).status).toBe(400);
    // No body at all (no JSON, no Content-Type): refused, never an empty answer.
    for (const path of ['decode', 'encode']) {
      const bare = await fetch(`${url}/codec/${path}`, { method: 'POST', headers: auth });
      expect([400, 415], `POST /codec/${path} without a body`).toContain(bare.status);
      expect(bare.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    // Protobuf JSON of no payloads, as the CLI sends it.
    expect(await json(await post(`${url}/codec/decode`, {}, auth), 200)).toEqual({ payloads: [] });
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(complaint)]);
    const other = new EncryptionCodec({ activeKeyId: 'dev', keys: [{ id: 'dev', key: Buffer.alloc(32, 9) }] });
    const [foreign] = await other.encode([defaultPayloadConverter.toPayload(complaint)]);
    const res = await post(`${url}/codec/decode`, { payloads: [toJson(sealed!), toJson(foreign!)] }, auth);
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ type: 'https://carepath.dev/problems/undecodable-payload', detail: expect.stringContaining('key "dev"') });
  });

  it('lets the local UI of development decode with no token only when told to, from its origin, over loopback', async () => {
    const body = { payloads: (await codec.encode([defaultPayloadConverter.toPayload(complaint)])).map(toJson) };
    const trusting = await api({ uiOrigins: [UI], trustLocalUi: true });
    expect((await post(`${trusting}/codec/decode`, body, { origin: UI })).status).toBe(200);
    // Not from the UI (curl, another page): still 401.
    expect((await post(`${trusting}/codec/decode`, body)).status).toBe(401);
    expect((await post(`${trusting}/codec/decode`, body, { origin: 'http://localhost:9999' })).status).toBe(401);
    // A token that is there is checked all the same.
    const patient = await signToken(secrets.jwt, { role: 'patient', id: 'p-1' });
    expect((await post(`${trusting}/codec/decode`, body, { origin: UI, authorization: `Bearer ${patient}` })).status).toBe(403);
    // Without the exemption (production, or configured keys), the UI's own request is a 401.
    expect((await post(`${url}/codec/decode`, body, { origin: UI })).status).toBe(401);
  });

  it('is in the OpenAPI document, staff-only, with its request and response schemas', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>> };
    for (const path of ['/codec/decode', '/codec/encode']) {
      const op = doc.paths[path]?.post;
      expect(op?.security).toEqual([{ bearerAuth: [] }]);
      expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '413']));
    }
    expect(Object.keys(doc.paths['/codec/decode']!.post!.responses)).toContain('422');
  });
});
