// The journeys read model on the real PostgreSQL: versioned snapshots, append-only timeline with
// idempotent events, tasks that stay closed, and one consistent read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJourney, recordTransition } from '../activities/journeys.js';
import { createPatient } from '../activities/reference.js';
import { completeTask } from '../activities/tasks.js';
import type { JourneySnapshot, TaskChange } from '../workflows/definitions.js';
import { safeLogMeta } from '../workers/wiring.js';
import { testDb, type TestDb } from './support/db.js';
import { journeySnapshot, timelineEvent } from './support/read-model.js';

let db: TestDb;
let patientId: string;
beforeAll(async () => {
  db = await testDb();
  patientId = (await createPatient(db.sql, { name: 'R', phone: '+8613800000005', birthDate: '1975-03-03', sex: 'F', timezone: 'Asia/Shanghai' })).id;
});
afterAll(async () => {
  await db?.drop();
});

const snapshot = (id: string, step: JourneySnapshot['step']): JourneySnapshot => journeySnapshot(id, patientId, step);
const event = timelineEvent;

describe('recordTransition', () => {
  it('never lets an older projection replace a newer snapshot, and keeps every event once', async () => {
    const id = 'rm-1';
    await recordTransition(db.sql, { version: 1, snapshot: snapshot(id, 'triage'), events: [event('journey.started')] });
    await recordTransition(db.sql, { version: 3, snapshot: snapshot(id, 'awaiting-payment'), events: [event('appointment.booked')] });
    await recordTransition(db.sql, { version: 2, snapshot: snapshot(id, 'booking'), events: [event('triage.completed')] }); // late
    await recordTransition(db.sql, { version: 3, snapshot: snapshot(id, 'awaiting-payment'), events: [event('appointment.booked')] }); // retried
    const j = (await getJourney(db.sql, id))!;
    expect(j.step).toBe('awaiting-payment');
    expect(j.timeline.map((e) => [e.seq, e.type])).toEqual([
      [1, 'journey.started'],
      [2, 'appointment.booked'],
      [3, 'triage.completed'],
    ]);
  });

  it('keeps a closed task closed whatever order its projections arrive in, and moves its due time with its tier', async () => {
    const id = 'rm-2';
    const task: TaskChange = { id: 'journey:rm-2:consult-start-sla', kind: 'escalation', role: 'coordinator', status: 'open', subject: { type: 'journey', id: 'rm-2' }, action: 'late', dueAt: '2026-12-01T01:30:00.000Z', tier: 1 };
    await recordTransition(db.sql, { version: 1, snapshot: snapshot(id, 'booked'), events: [], tasks: [task] });
    await recordTransition(db.sql, { version: 2, snapshot: snapshot(id, 'booked'), events: [], tasks: [{ ...task, tier: 2, dueAt: '2026-12-01T02:00:00.000Z' }] });
    expect((await getJourney(db.sql, id))!.openTasks).toMatchObject([{ tier: 2, dueAt: '2026-12-01T02:00:00.000Z' }]);
    await recordTransition(db.sql, { version: 4, snapshot: snapshot(id, 'booked'), events: [], tasks: [{ ...task, status: 'done' }] });
    await recordTransition(db.sql, { version: 3, snapshot: snapshot(id, 'booked'), events: [], tasks: [task] }); // late "open"
    expect((await getJourney(db.sql, id))!.openTasks).toEqual([]);
  });

  it('records task.closed only for a task that was still open (one acknowledged by hand has its task.completed)', async () => {
    const id = 'rm-3';
    const task = (tier: number): TaskChange => ({
      id: `journey:rm-3:consult-start-sla:${tier}`, kind: 'escalation', role: 'coordinator', status: 'open',
      subject: { type: 'journey', id }, action: 'late', dueAt: '2026-12-01T01:30:00.000Z', tier,
    });
    await recordTransition(db.sql, { version: 1, snapshot: snapshot(id, 'checked-in'), events: [], tasks: [task(1), task(2)] });
    expect(await completeTask(db.sql, { id: task(1).id, by: 'coordinator:c1', note: 'seen' })).toMatchObject({ status: 'done', closedBy: 'coordinator:c1' });
    expect(await completeTask(db.sql, { id: task(1).id, by: 'coordinator:c1', note: 'again' })).toBeUndefined();
    const closed = (tier: number) => ({ ...event('task.closed'), key: `task.closed:${task(tier).id}`, data: { taskId: task(tier).id, status: 'done' } });
    await recordTransition(db.sql, {
      version: 2, snapshot: snapshot(id, 'in-consultation'), events: [event('consultation.started'), closed(1), closed(2)],
      tasks: [{ ...task(1), status: 'done' }, { ...task(2), status: 'done' }],
    });
    const j = (await getJourney(db.sql, id))!;
    expect(j.timeline.map((e) => [e.type, e.data.taskId ?? null])).toEqual([
      ['task.completed', task(1).id],
      ['consultation.started', null],
      ['task.closed', task(2).id],
    ]);
    expect(j.openTasks).toEqual([]);
  });

  it('refuses to rewrite or remove a timeline event', async () => {
    await expect(db.sql`update timeline set type = 'x' where journey_id = 'rm-1'`).rejects.toThrow(/append-only/);
    await expect(db.sql`delete from timeline where journey_id = 'rm-1'`).rejects.toThrow(/append-only/);
  });
});

describe('runtime log metadata', () => {
  it('keeps database error details (which can quote rejected rows) out of the logs', () => {
    const pg = Object.assign(new Error('invalid input syntax for type json'), {
      name: 'PostgresError',
      code: '22P02',
      severity: 'ERROR',
      where: 'JSON data, line 1: {"text":"Type 2 diabetes \\ud800"}',
    });
    const meta = safeLogMeta({ workflowId: 'journey:1', error: pg });
    expect(JSON.stringify(meta)).not.toContain('diabetes');
    expect(meta).toEqual({ workflowId: 'journey:1', error: { type: 'PostgresError', code: '22P02' } });
    expect(safeLogMeta({ error: new Error('webhook answered 503') })).toEqual({ error: { type: 'Error', message: 'webhook answered 503' } });
  });
});
