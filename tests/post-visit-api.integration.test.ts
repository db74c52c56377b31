// The post-visit API over HTTP on the real components (dev server, PostgreSQL, a worker): the drug
// and facility catalogue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';

let stack: Stack;
let admin: string;
let coordinator: string;
let doctor: string;
let pharmacist: string;
let patient: string;

interface Problem {
  type: string;
  status: number;
  errors?: { path: string; message: string }[];
}

async function json<T = Record<string, any>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return (text ? JSON.parse(text) : undefined) as T;
}
async function problem(res: Response, status: number): Promise<Problem> {
  const p = await json<Problem>(res, status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return p;
}

beforeAll(async () => {
  stack = await startStack();
  admin = await stack.token('admin', 'admin-1');
  coordinator = await stack.token('coordinator', 'coord-1');
  doctor = await stack.token('doctor', 'doc-1');
  pharmacist = await stack.token('pharmacist', 'pharm-1');
  patient = await stack.token('patient', 'pat-1');
});
afterAll(async () => {
  await stack?.stop();
});

describe('GET /v1/drugs', () => {
  interface Drug { code: string; name: string; nameEn: string; form: string; class: string; unitPrice: number; maxDays: number; chronic: boolean; condition?: string }
  const search = async (query: string, token = doctor): Promise<Drug[]> => (await json<{ items: Drug[] }>(await stack.call('GET', `/v1/drugs${query}`, { token }), 200)).items;

  it('finds a drug by its Chinese name, its English name in any case, or its code, with every catalogue field', async () => {
    const amlodipine = { code: 'amlodipine-5mg', name: '氨氯地平片', nameEn: 'Amlodipine 5 mg tablet', form: 'tablet', class: 'ordinary', unitPrice: 150, maxDays: 30, chronic: true, condition: 'hypertension' };
    expect(await search(`?query=${encodeURIComponent('氨氯地平')}`)).toEqual([amlodipine]);
    expect(await search('?query=amlodipine')).toEqual([amlodipine]);
    expect(await search('?query=AMLODIPINE')).toEqual([amlodipine]);
    expect(await search('?query=amlodipine-5')).toEqual([amlodipine]);
    expect((await search(`?query=${encodeURIComponent('二甲双胍')}`)).map((d) => [d.code, d.chronic, d.maxDays])).toEqual([['metformin-500mg', true, 30]]);
  });

  it('lists controlled drugs with their class (so a search finds them), and filters by class', async () => {
    const morphine = await search(`?query=${encodeURIComponent('吗啡')}`);
    expect(morphine).toEqual([{ code: 'morphine-10mg', name: '吗啡片', nameEn: 'Morphine 10 mg tablet', form: 'tablet', class: 'narcotic', unitPrice: 300, maxDays: 3, chronic: false }]);
    expect((await search(`?query=${encodeURIComponent('地西泮')}`)).map((d) => d.class)).toEqual(['psychotropic']);
    const narcotics = await search('?class=narcotic');
    expect(narcotics.length).toBeGreaterThanOrEqual(3);
    expect(new Set(narcotics.map((d) => d.class))).toEqual(new Set(['narcotic']));
    expect(narcotics.map((d) => d.code)).toEqual(expect.arrayContaining(['morphine-10mg', 'oxycodone-5mg', 'fentanyl-patch-25ug']));
    expect(await search(`?query=${encodeURIComponent('吗啡')}&class=ordinary`)).toEqual([]);
    // No query, or an empty one: the whole catalogue, by English name.
    const all = await search('');
    expect(all.length).toBeGreaterThan(20);
    expect(all.map((d) => d.nameEn)).toEqual([...all.map((d) => d.nameEn)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(await search('?query=')).toEqual(all);
    // LIKE wildcards are matched literally: '%' finds the one drug whose name has a percent sign.
    expect((await search('?query=%25')).map((d) => d.nameEn)).toEqual(['Hydrocortisone cream 1%']);
    expect(await search('?query=_')).toEqual([]);
  });

  it('answers every clinician; a patient is 403, no token 401; bad queries 400', async () => {
    for (const token of [doctor, pharmacist, coordinator, admin]) expect((await search('?query=metformin', token)).map((d) => d.code)).toEqual(['metformin-500mg']);
    await problem(await stack.call('GET', '/v1/drugs?query=metformin', { token: patient }), 403);
    await problem(await stack.call('GET', '/v1/drugs'), 401);
    expect((await problem(await stack.call('GET', '/v1/drugs?class=opioid', { token: doctor }), 400)).errors?.map((e) => e.path)).toEqual(['query.class']);
    expect((await problem(await stack.call('GET', `/v1/drugs?query=${'x'.repeat(101)}`, { token: doctor }), 400)).errors?.map((e) => e.path)).toEqual(['query.query']);
    expect((await problem(await stack.call('GET', '/v1/drugs?query=a%00b', { token: doctor }), 400)).errors?.map((e) => e.path)).toEqual(['query.query']);
    expect((await problem(await stack.call('GET', '/v1/drugs?name=x', { token: doctor }), 400)).type).toMatch(/validation$/);
  });
});

describe('/v1/facilities', () => {
  it('an admin adds facilities (201, webhookUrl optional); every clinician lists them by name; the URL only admins see', async () => {
    const hospital = await json(await stack.call('POST', '/v1/facilities', {
      token: admin, body: { name: '瑞金医院 Ruijin Hospital', kind: 'hospital', webhookUrl: 'https://ruijin.example/carepath/referrals' },
    }), 201);
    expect(hospital).toEqual({ id: expect.any(String), name: '瑞金医院 Ruijin Hospital', kind: 'hospital', webhookUrl: 'https://ruijin.example/carepath/referrals', createdAt: expect.any(String) });
    expect(Math.abs(Date.parse(hospital.createdAt) - Date.now())).toBeLessThan(60_000);
    const clinic = await json(await stack.call('POST', '/v1/facilities', { token: admin, body: { name: 'A community clinic', kind: 'community' } }), 201);
    expect(clinic).toEqual({ id: expect.any(String), name: 'A community clinic', kind: 'community', createdAt: expect.any(String) });
    const lab = await json(await stack.call('POST', '/v1/facilities', { token: admin, body: { name: 'Lab on the corner', kind: 'lab', webhookUrl: 'http://127.0.0.1:9/lab' } }), 201);

    const listed = (await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities', { token: admin }), 200)).items;
    expect(listed.map((f) => f.id)).toEqual([clinic.id, lab.id, hospital.id]); // by name
    expect(listed.find((f) => f.id === hospital.id)).toEqual(hospital);
    for (const token of [doctor, pharmacist, coordinator]) {
      const items = (await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities', { token }), 200)).items;
      expect(items.find((f) => f.id === hospital.id)).toEqual({ id: hospital.id, name: hospital.name, kind: 'hospital', createdAt: hospital.createdAt });
      expect(items.every((f) => f.webhookUrl === undefined)).toBe(true);
    }
    expect((await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities?kind=lab', { token: doctor }), 200)).items.map((f) => f.id)).toEqual([lab.id]);
  });

  it('refuses other roles (403), no token (401), and bad bodies (400): URL scheme, unknown fields, text limits', async () => {
    const body = { name: 'X hospital', kind: 'hospital' };
    for (const token of [coordinator, doctor, pharmacist, patient]) await problem(await stack.call('POST', '/v1/facilities', { token, body }), 403);
    await problem(await stack.call('POST', '/v1/facilities', { body }), 401);
    await problem(await stack.call('GET', '/v1/facilities', { token: patient }), 403);
    const paths = async (b: unknown) => (await problem(await stack.call('POST', '/v1/facilities', { token: admin, body: b }), 400)).errors?.map((e) => e.path);
    for (const url of ['ftp://files.example/x', 'javascript:alert(1)', 'not a url', 'http://', `https://x.example/${'a'.repeat(2000)}`]) {
      expect(await paths({ ...body, webhookUrl: url }), url).toEqual(['json.webhookUrl']);
    }
    expect(await paths({ ...body, kind: 'pharmacy' })).toEqual(['json.kind']);
    expect(await paths({ ...body, name: ' ' })).toEqual(['json.name']);
    expect(await paths({ ...body, name: 'x'.repeat(201) })).toEqual(['json.name']);
    expect(await paths({ ...body, name: 'a\u0000b' })).toEqual(['json.name']);
    expect(await paths({ ...body, id: 'mine' })).toHaveLength(1);
    const before = (await json<{ items: any[] }>(await stack.call('GET', '/v1/facilities', { token: admin }), 200)).items.length;
    expect(before).toBe(3); // nothing refused was stored
  });

  it('documents the catalogue routes in /openapi.json', async () => {
    const doc = (await (await stack.call('GET', '/openapi.json')).json()) as any;
    expect(doc.paths['/v1/drugs']?.get).toBeDefined();
    expect(doc.paths['/v1/facilities']?.get).toBeDefined();
    expect(doc.paths['/v1/facilities']?.post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/FacilityInput');
    expect(Object.keys(doc.components.schemas.Drug.properties)).toEqual(expect.arrayContaining(['code', 'name', 'nameEn', 'form', 'class', 'unitPrice', 'maxDays', 'chronic']));
  });
});
