// The one pino logger. Lines carry ids; `redact` is a second guard against patient data slipping in.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'name', 'phone', 'birthDate', 'complaint', 'diagnosis', 'notes', 'advice', 'followUpOf', 'body', 'title',
  '*.name', '*.phone', '*.birthDate', '*.complaint', '*.diagnosis', '*.notes', '*.advice', '*.followUpOf', '*.body', '*.title',
  'req.headers.authorization', '*.authorization', '*.token', 'token',
];

/** A database error: its message and details can quote the rows it refused, patient data included. */
export function isDatabaseError(e: Error): boolean {
  return e.name === 'PostgresError' || typeof (e as { severity?: unknown }).severity === 'string';
}

/**
 * An error as a line may carry it (`err`): its name as `type` (every `*.name` is redacted, patients'
 * names among them, so an error's `name` would read "[redacted]"), its code, and its message and stack
 * with their causes', but none of its other fields; a database error keeps only its type and code.
 */
export function serializeError(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  const out: Record<string, unknown> = { type: e.name, ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}) };
  if (isDatabaseError(e)) return out;
  const { message, stack } = pino.stdSerializers.err(e);
  return { ...out, message, stack };
}

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { service: 'carepath' }, serializers: { err: serializeError }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination,
  );
}
