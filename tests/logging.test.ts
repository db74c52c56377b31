// Log lines through the real logger: errors keep their name (as `type`) while patient data stays out,
// in the Temporal runtime's lines (through runtimeLogSink and safeLogMeta) and in the application's own.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../workers/logger.js';
import { runtimeLogSink } from '../workers/wiring.js';

function capture() {
  const lines: string[] = [];
  const log = createLogger('info', { write: (s: string) => lines.push(s) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

const PATIENT = { name: '张三', phone: '+8613800000001', complaint: '胸痛三天' };
const SECRETS = ['张三', '13800000001', '胸痛'];

describe('runtime log lines', () => {
  it("keep an activity failure's error name, code and message, and no patient data", () => {
    const { log, lines, parsed } = capture();
    const err = Object.assign(new TypeError('cannot read properties of undefined'), { code: 'E_X' });
    runtimeLogSink(log)({ level: 'WARN', message: 'Activity failed', meta: { activityType: 'notify', error: err, patient: PATIENT }, timestampNanos: 0n });
    const [line] = parsed();
    expect(line).toMatchObject({ level: 40, source: 'temporal', msg: 'Activity failed', activityType: 'notify', error: { type: 'TypeError', code: 'E_X', message: 'cannot read properties of undefined' } });
    for (const secret of SECRETS) expect(lines.join('')).not.toContain(secret);
  });

  it("keep a database error's name and code, not its message (which can quote rows)", () => {
    const { log, lines, parsed } = capture();
    const pg = Object.assign(new Error('invalid input syntax for type json: 张三'), { name: 'PostgresError', code: '22P02', severity: 'ERROR' });
    runtimeLogSink(log)({ level: 'ERROR', message: 'Activity failed', meta: { error: pg }, timestampNanos: 0n });
    expect(parsed()[0]).toMatchObject({ level: 50, error: { type: 'PostgresError', code: '22P02' } });
    expect(lines.join('')).not.toContain('张三');
  });
});

describe('application log lines', () => {
  it("keep an error's name under err.type, with its message and causes, while a patient's name is redacted", () => {
    const { log, lines, parsed } = capture();
    log.error({ err: new RangeError('outer', { cause: new SyntaxError('inner') }), patient: PATIENT, journeyId: 'j1' }, 'unhandled error');
    const [line] = parsed();
    expect(line).toMatchObject({ journeyId: 'j1', err: { type: 'RangeError', message: 'outer: inner' }, patient: { name: '[redacted]' } });
    expect(line!.err.stack).toContain('RangeError: outer');
    for (const secret of SECRETS) expect(lines.join('')).not.toContain(secret);
  });

  it("keep only a database error's name and code, and leave its other fields out", () => {
    const { log, lines, parsed } = capture();
    const pg = Object.assign(new Error('duplicate key value violates unique constraint'), { name: 'PostgresError', code: '23505', severity: 'ERROR', detail: 'Key (phone)=(+8613800000001) already exists.' });
    log.warn({ err: pg }, 'change feed read failed; retrying');
    expect(parsed()[0]!.err).toEqual({ type: 'PostgresError', code: '23505' });
    expect(lines.join('')).not.toContain('13800000001');
  });
});
