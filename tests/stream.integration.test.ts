// GET /v1/stream over HTTP on the real stack: a journey started through the API reaches a coordinator's
// stream live, and its patient's, but not another patient's or a doctor's it is not booked with; the
// events carry ids only; a client that reconnects with Last-Event-ID gets exactly what it missed, in
// order; no token is 401 and a Last-Event-ID that is not a position is 400.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { json, waitFor } from './support/http.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

interface SseEvent {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

/** An SSE client on fetch: the events parsed as they arrive, until `close()`. */
async function listen(token: string, lastEventId?: string): Promise<{ events: SseEvent[]; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(`${stack.url}/v1/stream`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]));
        if (fields.data !== undefined) events.push({ event: fields.event ?? 'message', ...(fields.id ? { id: fields.id } : {}), data: JSON.parse(fields.data) as Record<string, unknown> });
      }
    }
  })();
  await waitFor(async () => (events.some((e) => e.event === 'ready') ? true : undefined), 5000);
  return { events, close: () => abort.abort() };
}

const changesOf = (events: SseEvent[], id: string) => events.filter((e) => e.event === 'change' && e.data.journeyId === id);

it('streams each change to those who may see it, ids only, and resumes after the last event received', async () => {
  const admin = await stack.token('admin', 'admin-1');
  const patient = async () => {
    const p = await json(await stack.call('POST', '/v1/patients', { token: admin, body: { name: '流患者', phone: '+8613800000031', birthDate: '1980-02-02', sex: 'F' } }), 201);
    return { id: p.id as string, token: await stack.token('patient', p.id) };
  };
  const [a, b] = [await patient(), await patient()];
  const coordinator = await listen(await stack.token('coordinator', 'coord-1'));
  const mine = await listen(a.token);
  const other = await listen(b.token);
  const doctor = await listen(await stack.token('doctor', 'doc-unbooked'));

  const journey = await json(await stack.call('POST', '/v1/journeys', { token: a.token, body: { patientId: a.id, mode: 'offline', complaint: '咳嗽三天' } }), 201);
  const expected = (journey.timeline as { type: string; seq: number }[]).map((e) => [e.type, e.seq]);
  await waitFor(async () => (changesOf(coordinator.events, journey.id).length >= expected.length && changesOf(mine.events, journey.id).length >= expected.length ? true : undefined), 5000);
  for (const events of [coordinator.events, mine.events]) {
    const got = changesOf(events, journey.id);
    expect(got.map((e) => [e.data.type, e.data.seq])).toEqual(expected);
    expect(got.every((e) => e.data.kind === 'journey' && e.data.id === journey.id && /^\d+-\d+$/.test(e.id!))).toBe(true);
    // Ids and event types only: no complaint, no name.
    expect(Object.keys(got[0]!.data).sort()).toEqual(['at', 'id', 'journeyId', 'kind', 'seq', 'type']);
  }
  await new Promise((r) => setTimeout(r, 500));
  expect(changesOf(other.events, journey.id)).toEqual([]);
  expect(changesOf(doctor.events, journey.id)).toEqual([]);

  // Away after the journey's events; back with Last-Event-ID: exactly the changes made meanwhile, in order.
  const last = changesOf(coordinator.events, journey.id).at(-1)!.id!;
  coordinator.close();
  const cancelled = await json(await stack.call('POST', `/v1/journeys/${journey.id}/cancel`, { token: a.token, body: { reason: '不需要了' } }), 200);
  const second = await json(await stack.call('POST', '/v1/journeys', { token: b.token, body: { patientId: b.id, mode: 'offline', complaint: '头痛' } }), 201);
  const back = await listen(await stack.token('coordinator', 'coord-1'), last);
  const missed = [
    ...(cancelled.timeline as { type: string; seq: number }[]).slice(expected.length).map((e) => [journey.id, e.type, e.seq]),
    ...(second.timeline as { type: string; seq: number }[]).map((e) => [second.id, e.type, e.seq]),
  ];
  await waitFor(async () => (back.events.filter((e) => e.event === 'change').length >= missed.length ? true : undefined), 5000);
  const resumed = back.events.filter((e) => e.event === 'change' && (e.data.journeyId === journey.id || e.data.journeyId === second.id));
  expect(resumed.map((e) => [e.data.journeyId, e.data.type, e.data.seq])).toEqual(missed);
  for (const l of [mine, other, doctor, back]) l.close();
});

it('refuses a caller without a token (401) and a Last-Event-ID that is not a position (400)', async () => {
  const none = await fetch(`${stack.url}/v1/stream`);
  expect(none.status).toBe(401);
  const bad = await fetch(`${stack.url}/v1/stream`, { headers: { authorization: `Bearer ${await stack.token('coordinator', 'c')}`, 'last-event-id': 'yesterday' } });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { detail: string }).detail).toMatch(/Last-Event-ID/);
});
