// sendText (api/routes/consultations.ts): a consultation's, an MDT's or a remote consultation's text is
// stored before its workflow counts it. A refusal that means it was never counted deletes it; any other
// failure keeps it unaccepted (never read back), so a retry refused because its own first attempt
// closed the conversation cannot delete what that attempt's projection is about to accept.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consultationMessages } from '../activities/consultations.js';
import { idFor, keyedUuid } from '../api/idempotency.js';
import { ApiProblem } from '../api/problems.js';
import { sendText } from '../api/routes/consultations.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await testDb();
});
afterAll(async () => {
  await db?.drop();
});

const stored = async (id: string) => (await db.sql<{ accepted: boolean }[]>`select accepted_at is not null as accepted from consultation_messages where id = ${id}`)[0];
const text = (consultationId: string) => ({ id: randomUUID(), consultationId, from: 'patient' as const, authorId: 'pat-1', body: '你好', attachments: [] });

describe('sendText', () => {
  it('answers the text once its workflow has accepted it', async () => {
    const c = randomUUID();
    const t = text(c);
    const m = await sendText(db.sql, t, async () => {
      await db.sql`update consultation_messages set accepted_at = now() where id = ${t.id}`;
    });
    expect(m).toMatchObject({ id: t.id, kind: 'message', from: 'patient', body: '你好' });
  });

  it.each([
    ['not-participant', 403],
    ['consultation-unpaid', 409],
    ['not-invited', 403],
    ['quorum-not-met', 409],
    ['not-convener', 403],
    ['not-assigned', 403],
  ])('deletes a text refused as %s: it was never counted', async (type, status) => {
    const t = text(randomUUID());
    await expect(sendText(db.sql, t, async () => Promise.reject(new ApiProblem(status as 403, type, 'x')))).rejects.toMatchObject({ type });
    expect(await stored(t.id)).toBeUndefined();
  });

  it.each([
    ['consultation-closed', 409],
    ['mdt-closed', 409],
    ['opinion-given', 409],
    ['remote-answered', 409],
    ['engine-unavailable', 503],
  ])('keeps a text whose refusal (%s) its own first attempt may have caused, unaccepted and never read back', async (type, status) => {
    const c = randomUUID();
    const t = text(c);
    await expect(sendText(db.sql, t, async () => Promise.reject(new ApiProblem(status as 409, type, 'x')))).rejects.toMatchObject({ type });
    expect(await stored(t.id)).toEqual({ accepted: false });
    expect(await consultationMessages(db.sql, c)).toEqual([]);
    // The first attempt's projection accepts it afterwards: it is read back then.
    await db.sql`update consultation_messages set accepted_at = now() where id = ${t.id}`;
    expect((await consultationMessages(db.sql, c)).map((m) => m.id)).toEqual([t.id]);
  });
});

describe('idFor', () => {
  const c = (idem?: { caller: string; key: string }) => ({ get: () => idem });
  it('names each kind apart under the same key, and a journey as it always was', () => {
    const idem = { caller: 'patient:p1', key: 'k-1' };
    const ids = ['consultation', 'mdt', 'message:c1', 'message:c2', 'opinion:m1'].map((k) => idFor(c(idem), k));
    expect(new Set(ids).size).toBe(5);
    expect(idFor(c(idem))).toBe(keyedUuid('patient:p1\nk-1'));
    expect(idFor(c(idem), 'mdt')).toBe(idFor(c(idem), 'mdt'));
    expect(idFor(c())).not.toBe(idFor(c()));
  });
});
