// Reads off the engine: GET /v1/journeys/{id} and GET /v1/journeys (a page of the list, as an admin)
// from the read model, against a Temporal query (`snapshot`) of the same open journey on its worker.
// One at a time, in turn.
import { snapshotQuery, journeyWorkflowId } from '../../workflows/definitions.js';
import { json } from '../../tests/support/http.js';
import { row, type Row } from '../report.js';
import { pct, time } from '../stats.js';
import type { World } from '../world.js';

export async function reads(w: World, journeyId: string, n: number): Promise<Row[]> {
  const handle = w.t.client.workflow.getHandle(journeyWorkflowId(journeyId));
  const detail = async () => json(await w.t.call('GET', `/v1/journeys/${journeyId}`, { token: w.admin }), 200);
  const list = async () => json(await w.t.call('GET', '/v1/journeys', { token: w.admin }), 200);
  const query = () => handle.query(snapshotQuery);
  const health = async () => (await w.t.call('GET', '/healthz')).text();
  const d: number[] = [];
  const l: number[] = [];
  const q: number[] = [];
  const hz: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const [a, b, c, e] = [await time(detail), await time(list), await time(query), await time(health)];
    if (i < 3) continue; // warm-up
    d.push(a);
    l.push(b);
    q.push(c);
    hz.push(e);
  }
  const items = ((await list()).items as unknown[]).length;
  const read = (id: string, measure: string, xs: number[]) =>
    row({
      id,
      measure,
      unit: 'ms',
      today: pct(xs, 0.5),
      baseline: pct(q, 0.5),
      baselineWhat: 'workflow query, p50',
      goal: { of: 'ratio', op: '<=', value: 0.3 },
      detail: { n, p99: pct(xs, 0.99), queryP99: pct(q, 0.99), ...(id === 'read-list' ? { items } : {}) },
    });
  return [
    read('read-detail', 'GET /v1/journeys/{id}: p50', d),
    read('read-list', `GET /v1/journeys (${items} items): p50`, l),
    // Not a goal: what any answer over HTTP costs here, with no database, no token and no audit.
    row({ id: 'read-http-floor', measure: 'HTTP alone: GET /healthz: p50', unit: 'ms', today: pct(hz, 0.5), baseline: pct(q, 0.5), baselineWhat: 'workflow query, p50', goal: null, detail: { n, p99: pct(hz, 0.99) } }),
  ];
}
