// RFC 9457 problem details, and the one error mapper every route shares.
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import type { ZodError } from 'zod';
import { ConsultationFailureType, FailureType, ItemFailureType, MdtFailureType, ProgramFailureType, RemoteFailureType, RuleFailureType } from '../workflows/definitions.js';

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
/** A post-visit item whose workflow has ended: nothing more can be done to it (409). */
export const itemClosed = (what: string): ApiProblem => conflict('item-closed', `the ${what} has ended`);

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

type ItemFailure = (typeof ItemFailureType)[keyof typeof ItemFailureType];
type ProgramFailure = (typeof ProgramFailureType)[keyof typeof ProgramFailureType];
type ConsultationFailure = (typeof ConsultationFailureType)[keyof typeof ConsultationFailureType];
type MdtFailure = (typeof MdtFailureType)[keyof typeof MdtFailureType];
type RemoteFailure = (typeof RemoteFailureType)[keyof typeof RemoteFailureType];
const unprocessableRule: Known = { status: 422, title: 'Unprocessable' };
type Known = { status: ContentfulStatusCode; title: string };

const FAILURE_STATUS: Record<FailureType | ItemFailure | ProgramFailure | ConsultationFailure | MdtFailure | RemoteFailure | RuleFailureType, Known> = {
  [RuleFailureType.ClinicianUnverified]: unprocessableRule,
  [RuleFailureType.InsufficientPractice]: unprocessableRule,
  [RuleFailureType.PatientUnverified]: unprocessableRule,
  [RuleFailureType.GuardianRequired]: unprocessableRule,
  [RuleFailureType.InPersonOnly]: unprocessableRule,
  [RuleFailureType.SignatureMismatch]: unprocessableRule,
  [RuleFailureType.SignerNotPrescriber]: { status: 403, title: 'Forbidden' },
  [RuleFailureType.ConsentWithdrawn]: unprocessableRule,
  [FailureType.InvalidState]: { status: 409, title: 'Conflict' },
  [FailureType.SlotUnavailable]: { status: 409, title: 'Conflict' },
  [FailureType.FirstVisitOnline]: { status: 422, title: 'Unprocessable' },
  [FailureType.SlotMismatch]: { status: 422, title: 'Unprocessable' },
  [FailureType.NotBookedDoctor]: { status: 403, title: 'Forbidden' },
  [FailureType.SlotNotFound]: { status: 404, title: 'Not found' },
  // post-visit items
  [ItemFailureType.NotPrescriber]: { status: 403, title: 'Forbidden' },
  [ItemFailureType.OwnPrescription]: { status: 403, title: 'Forbidden' },
  [ItemFailureType.UnknownDose]: { status: 422, title: 'Unprocessable' },
  [ItemFailureType.DoseAnswered]: { status: 409, title: 'Conflict' },
  [ItemFailureType.NotAllowed]: { status: 403, title: 'Forbidden' },
  [ItemFailureType.InvalidAppointment]: { status: 422, title: 'Unprocessable' },
  // care programs
  [ProgramFailureType.NotResponsible]: { status: 403, title: 'Forbidden' },
  [ProgramFailureType.Discharged]: { status: 409, title: 'Conflict' },
  // online consultations
  [ConsultationFailureType.NotParticipant]: { status: 403, title: 'Forbidden' },
  [ConsultationFailureType.Closed]: { status: 409, title: 'Conflict' },
  [ConsultationFailureType.Unpaid]: { status: 409, title: 'Conflict' },
  [ConsultationFailureType.NotRateable]: { status: 409, title: 'Conflict' },
  // multidisciplinary consultations
  [MdtFailureType.NotInvited]: { status: 403, title: 'Forbidden' },
  [MdtFailureType.OpinionGiven]: { status: 409, title: 'Conflict' },
  [MdtFailureType.NotConvener]: { status: 403, title: 'Forbidden' },
  [MdtFailureType.QuorumNotMet]: { status: 409, title: 'Conflict' },
  [MdtFailureType.Closed]: { status: 409, title: 'Conflict' },
  // remote consultations
  [RemoteFailureType.NotAssigned]: { status: 403, title: 'Forbidden' },
  [RemoteFailureType.Answered]: { status: 409, title: 'Conflict' },
};

/** The failure type the server gives an update the workflow had accepted but not answered when it completed. */
const UPDATE_OUTLIVED_WORKFLOW = 'AcceptedUpdateCompletedWorkflow';

/** gRPC status UNAVAILABLE (the code is fixed by the gRPC spec): the engine cannot be reached. */
const GRPC_UNAVAILABLE = 14;

/**
 * The workflow had already completed: the server answers NOT_FOUND ("workflow execution already
 * completed", or "update was aborted by closing workflow"), which the client throws as
 * WorkflowNotFoundError, or it fails an update the workflow accepted but never answered.
 */
export function isWorkflowClosed(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  return err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === UPDATE_OUTLIVED_WORKFLOW;
}

/** Past the API's own deadline (`withDeadline`), or the engine is unreachable: the call may still take effect. */
function isEngineUnavailable(err: unknown): boolean {
  if (err instanceof ServiceError) {
    const { cause } = err;
    return isGrpcDeadlineError(err) || (isGrpcServiceError(cause) && cause.code === GRPC_UNAVAILABLE);
  }
  return err instanceof WorkflowUpdateRPCTimeoutOrCancelledError;
}

const engineUnavailable = (): ApiProblem =>
  new ApiProblem(503, 'engine-unavailable', 'Service unavailable', 'the journey engine did not answer in time; try again');

/** Only the table's own keys: a failure type such as `constructor` is not a known one. */
const isFailureType = (type: string | null | undefined): type is keyof typeof FAILURE_STATUS => !!type && Object.hasOwn(FAILURE_STATUS, type);

/**
 * Maps what the engine answered that the API knows to a problem: a refusal whose failure type is in
 * FailureType, ItemFailureType or ProgramFailureType, a closed workflow, or an engine that did not answer in time.
 * Anything else is a fault (undefined here, so errorHandler logs it and answers 500).
 */
export function fromWorkflowError(err: unknown): ApiProblem | undefined {
  if (isWorkflowClosed(err)) return conflict('journey-closed', 'the journey is closed');
  if (err instanceof WorkflowUpdateFailedError) {
    if (!(err.cause instanceof ApplicationFailure) || !isFailureType(err.cause.type)) return undefined;
    const { status, title } = FAILURE_STATUS[err.cause.type];
    return new ApiProblem(status, err.cause.type, title, err.cause.message);
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError) return conflict('already-exists', 'already started');
  if (isEngineUnavailable(err)) return engineUnavailable();
  return undefined;
}

/** postgres.js's own codes for a connection it could not make or lost, and the OS's. */
const DB_CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
]);

/**
 * The database cannot be reached (refused, timed out, lost, shutting down, out of connections): a
 * 503 the client may retry, not a fault of the request. SQLSTATE class 08 is a connection exception;
 * 57P01-57P03 an administrator or crash shutdown, or a server not yet accepting; 53300 too many
 * connections.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (DB_CONNECTION_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  return false;
}

/** Problems raised by Hono itself (body parsing, media type, size). */
const HTTP_PROBLEMS: Partial<Record<number, { type: string; title: string }>> = {
  400: { type: 'bad-request', title: 'Bad request' },
  413: { type: 'too-large', title: 'Payload too large' },
  415: { type: 'unsupported-media-type', title: 'Unsupported media type' },
};

/**
 * What the engine said underneath an error, for the log: pino's error serializer appends the cause's
 * message and stack; the update's failure type and the gRPC status code are added beside it.
 */
function causeMeta(err: Error): { failureType?: string; grpcCode?: number } {
  const cause = (err as { cause?: unknown }).cause;
  if (!(cause instanceof Error)) return {};
  return {
    ...(cause instanceof ApplicationFailure && cause.type ? { failureType: cause.type } : {}),
    ...(isGrpcServiceError(cause) ? { grpcCode: cause.code } : {}),
  };
}

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
    if (isDatabaseUnavailable(err)) {
      log.warn({ code: (err as { code?: string }).code, requestId: c.get('requestId') }, 'database unavailable');
      c.header('Retry-After', '2');
      return problemResponse(c, new ApiProblem(503, 'database-unavailable', 'Service unavailable', 'the database cannot be reached; try again shortly'));
    }
    log.error({ err, ...causeMeta(err), requestId: c.get('requestId') }, 'unhandled error');
    return problemResponse(c, new ApiProblem(500, 'internal', 'Internal server error', 'something went wrong; the request id is in X-Request-Id'));
  };
}
