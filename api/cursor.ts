// Page cursors: opaque to clients (base64url JSON), checked on the way back in. A cursor this API did
// not give out is a 400 naming `query.cursor`, never a 500.
import type { z } from '@hono/zod-openapi';
import { ApiProblem } from './problems.js';

export const encodeCursor = (position: unknown): string => Buffer.from(JSON.stringify(position)).toString('base64url');

/** The position `raw` encodes, as `schema` says it must look. */
export function decodeCursor<T>(raw: string, schema: z.ZodType<T>): T {
  try {
    return schema.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
  } catch {
    throw new ApiProblem(400, 'validation', 'Invalid request', 'cursor is not one this API gave out', [{ path: 'query.cursor', message: 'invalid cursor' }]);
  }
}
