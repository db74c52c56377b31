// The one pino logger. Lines carry ids; `redact` is a second guard against patient data slipping in.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'name', 'phone', 'birthDate', 'complaint', 'diagnosis', 'notes', 'advice', 'followUpOf', 'body', 'title',
  '*.name', '*.phone', '*.birthDate', '*.complaint', '*.diagnosis', '*.notes', '*.advice', '*.followUpOf', '*.body', '*.title',
  'req.headers.authorization', '*.authorization', '*.token', 'token',
];

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { service: 'carepath' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
