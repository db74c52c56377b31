// RFC 9457 problem details, and the one error mapper every route shares.
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import type { ZodError } from 'zod';
import { FailureType } from '../workflows/definitions.js';

const TYPE_BASE = 'https://carepath.dev/problems/';

export interface FieldError {
  path: string;
  message: string;
}

/** A refusal the API answers with deliberately; anything else thrown is a 500. */
export class ApiProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
  ) {
    super(detail ?? title);
  }
}

export const notFound = (what = 'resource'): ApiProblem => new ApiProblem(404, 'not-found', 'Not found', `${what} not found`);
export const forbidden = (detail = 'your role may not do this'): ApiProblem => new ApiProblem(403, 'forbidden', 'Forbidden', detail);
export const conflict = (type: string, detail: string): ApiProblem => new ApiProblem(409, type, 'Conflict', detail);
export const unprocessable = (type: string, detail: string): ApiProblem => new ApiProblem(422, type, 'Unprocessable', detail);

export function problemResponse(c: Context, p: ApiProblem): Response {
  const body = {
    type: TYPE_BASE + p.type,
    title: p.title,
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    ...(p.errors ? { errors: p.errors } : {}),
  };
  return c.body(JSON.stringify(body), p.status, { 'content-type': 'application/problem+json' });
}

export function validationProblem(error: ZodError, where: string): ApiProblem {
  const errors = error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  return new ApiProblem(400, 'validation', 'Invalid request', `the request ${where} does not match the schema`, errors);
}

const FAILURE_STATUS: Record<FailureType, ContentfulStatusCode> = {
  [FailureType.InvalidState]: 409,
  [FailureType.SlotUnavailable]: 409,
  [FailureType.FirstVisitOnline]: 422,
  [FailureType.SlotMismatch]: 422,
  [FailureType.NotBookedDoctor]: 403,
  [FailureType.SlotNotFound]: 404,
};

/** Maps what a workflow refused (an update's ApplicationFailure) to a problem. */
export function fromWorkflowError(err: unknown): ApiProblem | undefined {
  if (err instanceof WorkflowUpdateFailedError) {
    const type = err.cause instanceof ApplicationFailure ? (err.cause.type as FailureType | undefined | null) : undefined;
    const status = type ? FAILURE_STATUS[type] : undefined;
    if (type && status) return new ApiProblem(status, type, status === 409 ? 'Conflict' : status === 404 ? 'Not found' : status === 403 ? 'Forbidden' : 'Unprocessable', err.cause!.message);
    // Any other refusal of an update (e.g. the journey completed meanwhile) is the state refusing it.
    return conflict(FailureType.InvalidState, 'the journey refused this in its current state');
  }
  if (err instanceof WorkflowNotFoundError) return conflict('journey-closed', 'the journey is closed');
  if (err instanceof WorkflowExecutionAlreadyStartedError) return conflict('already-exists', 'already started');
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || err instanceof ServiceError) {
    return new ApiProblem(503, 'engine-unavailable', 'Service unavailable', 'the journey engine did not answer in time; try again');
  }
  return undefined;
}

/** Problems raised by Hono itself (body parsing, media type, size). */
const HTTP_PROBLEMS: Partial<Record<number, { type: string; title: string }>> = {
  400: { type: 'bad-request', title: 'Bad request' },
  413: { type: 'too-large', title: 'Payload too large' },
  415: { type: 'unsupported-media-type', title: 'Unsupported media type' },
};

export function errorHandler(log: Logger) {
  return (err: Error, c: Context): Response => {
    if (err instanceof ApiProblem) return problemResponse(c, err);
    const mapped = fromWorkflowError(err);
    if (mapped) return problemResponse(c, mapped);
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      const known = HTTP_PROBLEMS[status] ?? { type: 'bad-request', title: 'Bad request' };
      const detail = status === 400 ? 'the request body is not valid JSON' : err.message;
      return problemResponse(c, new ApiProblem(status, known.type, known.title, detail));
    }
    log.error({ err: { message: err.message, name: err.name, stack: err.stack }, requestId: c.get('requestId') }, 'unhandled error');
    return problemResponse(c, new ApiProblem(500, 'internal', 'Internal server error', 'something went wrong; the request id is in X-Request-Id'));
  };
}
