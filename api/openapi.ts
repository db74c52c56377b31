// Router factory and helpers for declaring routes once: the same declaration validates the request
// and documents it in /openapi.json.
import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { canNameSomething, Problem } from './schemas.js';
import { notFound, problemResponse, validationProblem } from './problems.js';
import type { AppEnv } from './types.js';

export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return problemResponse(c, validationProblem(result.error, result.target));
    },
  });
}

export const jsonBody = <T extends z.ZodType>(schema: T, description = 'JSON body') => ({
  required: true,
  content: { 'application/json': { schema } },
  description,
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

const PROBLEM_TEXT: Record<number, string> = {
  400: 'Invalid request (problem+json with errors)',
  401: 'Missing, invalid or expired token, or bad signature',
  403: 'The caller may not do this',
  404: 'Not found (or not visible to the caller)',
  409: 'The current state refuses the request',
  413: 'Body over 64 KiB',
  422: 'A business rule refuses the request',
  503: 'The journey engine did not answer in time; retry',
};

/** problem+json responses for the given statuses. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { content: { 'application/problem+json': { schema: Problem } }, description: PROBLEM_TEXT[s] ?? 'Problem' }]),
  );
}

export const bearer = [{ bearerAuth: [] }];

/** An `:id` that cannot name anything (too long, NUL) is a 404 like any other unknown id. */
export function opaqueIds(what: string): MiddlewareHandler {
  return async (c, next) => {
    const id = c.req.param('id');
    if (id !== undefined && !canNameSomething(id)) return problemResponse(c, notFound(what));
    await next();
  };
}
