// GET /v1/stream: server-sent events, one `change` for every event appended to a timeline the caller may
// see (a journey, prescription, exam, referral or program), fed from the database's change feed so that
// every API instance streams every change whoever wrote it. Each instance runs one reader for all its
// clients (a query every 250 ms while anyone listens); a client that reconnects with Last-Event-ID is
// sent what it missed (kept a day) before the live changes. Events carry ids, never patient data: a
// client reads what changed through the API as usual.
import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { Logger } from 'pino';
import { POSITION, parsePosition, positionOf, presentPosition, pruneChanges, readChanges, type Change, type Position } from '../activities/changes.js';
import type { Sql } from '../activities/db.js';
import { auditSubject } from './audit.js';
import { authenticate, type User } from './auth.js';
import { newRouter, problems } from './openapi.js';
import { ApiProblem } from './problems.js';
import type { ApiDeps } from './types.js';

const DAY = 86_400_000;
const LastEventId = z.object({ 'last-event-id': z.string().regex(POSITION).optional().openapi({ description: 'Resume after this position (the id of the last event received)' }) });

/** What the caller may read, as the read routes decide it: staff all; a doctor theirs; a pharmacist prescriptions; a patient their own. */
export function maySee(user: User, c: Change): boolean {
  switch (user.role) {
    case 'coordinator':
    case 'admin':
      return true;
    case 'patient':
      return c.patientId === user.id;
    case 'doctor':
      return c.doctorId === user.id;
    case 'pharmacist':
      return c.kind === 'prescription';
  }
}

const after = (a: Position, b: Position): boolean => {
  const [ax, bx] = [BigInt(a.xid), BigInt(b.xid)];
  return ax !== bx ? ax > bx : BigInt(a.id) > BigInt(b.id);
};

interface Subscriber {
  deliver(changes: Change[]): void;
}

export interface FeedOptions {
  pollMs?: number;
  batch?: number;
  /** Changes older than this are deleted (one reader does it now and then). */
  retainMs?: number;
}

/** One reader of the change feed for all of this instance's clients. */
export class ChangeFeed {
  private readonly subscribers = new Set<Subscriber>();
  private cursor: Position | undefined;
  private starting: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastPrune = 0;
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly retainMs: number;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    opts: FeedOptions = {},
  ) {
    this.pollMs = opts.pollMs ?? 250;
    this.batch = opts.batch ?? 500;
    this.retainMs = opts.retainMs ?? DAY;
  }

  get listeners(): number {
    return this.subscribers.size;
  }

  /**
   * Sends `deliver` every change after `since` (or from now), in order, each once: first what it
   * missed, read from the database, then each batch the reader reads. Returns the unsubscribe.
   */
  async subscribe(since: Position | undefined, deliver: (changes: Change[]) => void): Promise<() => void> {
    await this.start();
    const upTo = this.cursor!;
    const buffered: Change[][] = [];
    let live = false;
    const sub: Subscriber = { deliver: (cs) => (live ? deliver(cs) : buffered.push(cs)) };
    this.subscribers.add(sub);
    const unsubscribe = () => {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) this.stop();
    };
    try {
      let from = since;
      while (from && !after(from, upTo)) {
        const missed = await readChanges(this.sql, from, { limit: 1000, upTo });
        if (missed.length) deliver(missed);
        if (missed.length < 1000) break;
        from = parsePosition(missed.at(-1)!.position);
      }
    } catch (err) {
      unsubscribe();
      throw err;
    }
    live = true;
    // A client ahead of this instance (it last listened to another) does not get those changes twice.
    for (const cs of buffered) deliver(since ? cs.filter((c) => after(parsePosition(c.position)!, since)) : cs);
    return unsubscribe;
  }

  private start(): Promise<void> {
    this.starting ??= presentPosition(this.sql).then(
      (p) => {
        this.cursor = p;
        this.schedule();
      },
      (err: unknown) => {
        this.starting = undefined;
        throw err;
      },
    );
    return this.starting;
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // The next listener starts from its own present, not from where this reader stopped.
    this.starting = undefined;
    this.cursor = undefined;
  }

  private schedule(delay = this.pollMs): void {
    if (this.subscribers.size === 0 && this.cursor === undefined) return;
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  private async tick(): Promise<void> {
    const cursor = this.cursor;
    if (!cursor) return;
    try {
      const changes = await readChanges(this.sql, cursor, { limit: this.batch });
      if (this.cursor !== cursor) return; // stopped (and maybe started again) meanwhile
      if (changes.length) {
        this.cursor = parsePosition(changes.at(-1)!.position)!;
        for (const s of this.subscribers) s.deliver(changes);
      }
      if (Date.now() - this.lastPrune > this.retainMs / 24) {
        this.lastPrune = Date.now();
        await pruneChanges(this.sql, this.retainMs);
      }
      this.schedule(changes.length === this.batch ? 0 : this.pollMs);
    } catch (err) {
      this.log.warn({ err }, 'change feed read failed; retrying');
      if (this.cursor === cursor) this.schedule(this.pollMs * 4);
    }
  }
}

/** A client more than this many events behind is disconnected (it reconnects with Last-Event-ID). */
const MAX_PENDING = 5000;
const PING_MS = 15_000;

/** One event of the stream, as OpenAPI 3.2's `itemSchema` would say it: `data` is JSON, of a `ready` or a `change`. */
function jsonData(schema: z.ZodType) {
  const contentSchema: Record<string, unknown> = z.toJSONSchema(schema, { target: 'draft-2020-12' });
  delete contentSchema.$schema;
  return z.string().openapi({ contentMediaType: 'application/json', contentSchema } as object);
}
const StreamEvent = z.union([
  z.object({
    event: z.literal('ready'),
    data: jsonData(z.object({ resumedAfter: z.string().nullable() })),
    retry: z.number().int().min(0),
  }),
  z.object({
    event: z.literal('change'),
    id: z.string().openapi({ description: 'The position to resume after (Last-Event-ID)' }),
    data: jsonData(
      z.object({
        kind: z.enum(['journey', 'prescription', 'exam', 'referral', 'program', 'consultation', 'mdt', 'remote']),
        id: z.string(),
        journeyId: z.string().nullable(),
        type: z.string(),
        seq: z.number().int(),
        at: z.iso.datetime({ offset: true }),
      }),
    ),
  }),
]);

export function streamRoutes(deps: ApiDeps, feed: ChangeFeed) {
  const r = newRouter();
  r.use('*', authenticate(deps.secrets.jwt));
  r.openAPIRegistry.registerPath({
    method: 'get',
    path: '/',
    tags: ['stream'],
    summary: 'Server-sent events: a `change` for every timeline event the caller may see',
    description:
      'First `ready`; then `change` events, each `{kind: journey|prescription|exam|referral|program|consultation|mdt|remote, id, journeyId, type, seq, at}` with the SSE id of its position. Reconnect with `Last-Event-ID` to receive what was missed (kept a day). Coordinators and admins see every change, a doctor those of their journeys, programs, prescriptions, exams, consultations and the MDTs they convened, a pharmacist prescriptions, a patient their own. A comment every 15 s keeps the connection open.',
    security: [{ bearerAuth: [] }],
    request: { headers: LastEventId },
    responses: {
      200: { description: 'An event stream; the schema describes one event', content: { 'text/event-stream': { schema: StreamEvent } } },
      ...problems(400, 401),
    },
  });
  r.get('/', async (c) => {
    const user = c.get('user');
    const header = c.req.header('last-event-id');
    const since = header === undefined ? undefined : parsePosition(header);
    if (header !== undefined && !since) throw new ApiProblem(400, 'invalid-request', 'Invalid request', 'Last-Event-ID is not a position of this stream');
    // Audited once, as it opens: a patient's stream shows that patient's changes only.
    if (user.role === 'patient') auditSubject(c, { patientId: user.id });
    const log = c.get('log');
    return streamSSE(c, async (stream) => {
      let writing: Promise<unknown> = Promise.resolve();
      let pending = 0;
      let closed = false;
      let close: () => void = () => {};
      const ended = new Promise<void>((resolve) => (close = resolve));
      const write = (e: { event?: string; id?: string; data: string; retry?: number }) => {
        pending += 1;
        writing = writing.then(() => (closed ? undefined : stream.writeSSE(e))).finally(() => (pending -= 1));
      };
      const unsubscribe = await feed.subscribe(since, (changes) => {
        if (closed) return;
        if (pending > MAX_PENDING) {
          log.warn({ userId: user.id }, 'stream client too far behind; disconnected');
          closed = true;
          close();
          return;
        }
        for (const ch of changes) {
          if (!maySee(user, ch)) continue;
          write({ event: 'change', id: ch.position, data: JSON.stringify({ kind: ch.kind, id: ch.id, journeyId: ch.journeyId, type: ch.type, seq: ch.seq, at: ch.at }) });
        }
      });
      stream.onAbort(() => {
        closed = true;
        close();
      });
      // Aborted before the listener was there (the client left, or the answer was replaced by a 503
      // because its audit event could not be stored): a listener added now is never called.
      if (stream.aborted) {
        closed = true;
        close();
      }
      write({ event: 'ready', data: JSON.stringify({ resumedAfter: since ? positionOf(since) : null }), retry: 2000 });
      const ping = setInterval(() => {
        if (!closed) writing = writing.then(() => stream.write(': ping\n\n'));
      }, PING_MS);
      await ended;
      clearInterval(ping);
      unsubscribe();
    });
  });
  return r;
}
