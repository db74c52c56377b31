// Load: CLIENTS concurrent clients, each a patient of its own, for SECONDS, each looping over the mix
// create (POST /v1/journeys) → book (a random slot of a pool that fills up) → pay (signed payment
// webhook) → read (GET /v1/journeys/{id}) → check in. Every request is timed. An error is a 5xx or a
// network error; a full slot's 409 is expected (that client starts over); any other 4xx is unexpected.
import { row, type Row } from '../report.js';
import { pct } from '../stats.js';
import { COMPLAINT, FEE, type Patient, type World } from '../world.js';

type Op = 'create' | 'book' | 'pay' | 'read' | 'check-in';
interface Sample {
  op: Op;
  ms: number;
  status: number; // 0: network error
}

export async function load(w: World, patients: Patient[], o: { seconds: number; slots: number; capacity: number }): Promise<Row[]> {
  const slots: string[] = [];
  for (let i = 0; i < o.slots; i += 8) {
    const batch = Array.from({ length: Math.min(8, o.slots - i) }, (_, k) => w.slot(2 * 3_600_000 + (i + k) * 60_000, o.capacity));
    slots.push(...(await Promise.all(batch)).map((s) => s.id));
  }
  const samples: Sample[] = [];
  const deadline = Date.now() + o.seconds * 1000;
  /** The request, timed; its status and JSON body (undefined unless 2xx with a body). */
  const request = async (op: Op, send: () => Promise<Response>): Promise<{ status: number; body?: any }> => {
    const t0 = performance.now();
    let status: number;
    let body: any;
    try {
      const res = await send();
      status = res.status;
      const text = await res.text();
      if (status < 300 && text) body = JSON.parse(text);
    } catch {
      status = 0;
    }
    samples.push({ op, ms: performance.now() - t0, status });
    return { status, body };
  };
  const client = async (p: Patient) => {
    while (Date.now() < deadline) {
      const created = await request('create', () => w.t.call('POST', '/v1/journeys', { token: p.token, body: { patientId: p.id, mode: 'offline', complaint: COMPLAINT } }));
      if (created.status !== 201 || Date.now() >= deadline) continue;
      const id = created.body.id as string;
      const slotId = slots[Math.floor(Math.random() * slots.length)]!;
      const booked = await request('book', () => w.t.call('POST', `/v1/journeys/${id}/appointment`, { token: p.token, body: { slotId } }));
      if (booked.status !== 200 || Date.now() >= deadline) continue;
      const payment = { orderId: booked.body.payment.orderId, status: 'paid', amount: FEE, paidAt: new Date().toISOString(), channel: 'wechat' };
      if ((await request('pay', () => w.t.payWebhook(payment))).status !== 204 || Date.now() >= deadline) continue;
      if ((await request('read', () => w.t.call('GET', `/v1/journeys/${id}`, { token: p.token }))).status !== 200 || Date.now() >= deadline) continue;
      await request('check-in', () => w.t.call('POST', `/v1/journeys/${id}/check-in`, { token: p.token }));
    }
  };
  const t0 = performance.now();
  await Promise.all(patients.map(client));
  const seconds = (performance.now() - t0) / 1000;
  const ms = samples.map((s) => s.ms);
  const errors = samples.filter((s) => s.status === 0 || s.status >= 500).length;
  const expected = samples.filter((s) => s.op === 'book' && s.status === 409).length;
  const unexpected = samples.filter((s) => s.status >= 400 && s.status < 500).length - expected;
  const ops: Op[] = ['create', 'book', 'pay', 'read', 'check-in'];
  const perOp = Object.fromEntries(
    ops.map((op) => {
      const xs = samples.filter((s) => s.op === op).map((s) => s.ms);
      return [op, { n: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99) }];
    }),
  );
  const statuses: Record<string, number> = {};
  for (const s of samples) statuses[`${s.op} ${s.status}`] = (statuses[`${s.op} ${s.status}`] ?? 0) + 1;
  const detail = {
    clients: patients.length,
    seconds,
    requests: samples.length,
    perSecond: samples.length / seconds,
    p50: pct(ms, 0.5),
    p99: pct(ms, 0.99),
    max: pct(ms, 1),
    errors,
    expected4xx: expected,
    unexpected4xx: unexpected,
    checkedIn: samples.filter((s) => s.op === 'check-in' && s.status === 200).length,
    perOp,
    statuses,
  };
  const what = `${patients.length} clients × ${o.seconds} s`;
  return [
    row({ id: 'load-p50', measure: `load, ${what}: API p50 (${samples.length} requests)`, unit: 'ms', today: detail.p50, baseline: null, baselineWhat: '', goal: null, detail }),
    row({
      id: 'load-p99',
      measure: `load, ${what}: API p99`,
      unit: 'ms',
      today: detail.p99,
      baseline: null,
      baselineWhat: 'absolute goal',
      goal: { of: 'today', op: '<', value: 2000 },
      extraCondition: errors === 0 && unexpected === 0,
    }),
    row({
      id: 'load-errors',
      measure: `load, ${what}: errors (5xx, network) / unexpected 4xx / expected 409 slot-full`,
      unit: '',
      today: errors,
      baseline: null,
      baselineWhat: `${unexpected} unexpected 4xx, ${expected} expected 409`,
      goal: { of: 'today', op: '<=', value: 0 },
      extraCondition: unexpected === 0,
    }),
  ];
}
