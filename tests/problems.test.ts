// The error mapper: only what the engine is known to answer becomes a 4xx or a 503; anything else is
// a fault, logged with the request id and answered 500 without its internal message.
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { describe, expect, it } from 'vitest';
import { errorHandler, fromWorkflowError } from '../api/problems.js';
import { FailureType } from '../workflows/definitions.js';
import { createLogger } from '../workers/logger.js';

/** A gRPC status error as @grpc/grpc-js builds it (`callErrorFromStatus`): an Error with code, details and metadata. */
function grpcError(code: number, name: string, details: string): Error {
  return Object.assign(new Error(`${code} ${name}: ${details}`), { code, details, metadata: {} });
}

/** An update the workflow refused with this failure type, as the client throws it. */
const updateFailed = (type: string, message = `refused: ${type}`) =>
  new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type, message, nonRetryable: true }));

/** Runs `err` through the app's error handler; returns the answer and the log lines. */
async function answer(err: Error): Promise<{ status: number; body: Record<string, unknown>; text: string; requestId: string | null; logs: Record<string, unknown>[] }> {
  const lines: string[] = [];
  const app = new Hono<{ Variables: { requestId: string } }>();
  app.use(requestId({ headerName: 'X-Request-Id' }));
  app.onError(errorHandler(createLogger('info', { write: (s: string) => lines.push(s) })));
  app.get('/', () => {
    throw err;
  });
  const res = await app.request('/');
  const text = await res.text();
  expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
  return {
    status: res.status,
    body: JSON.parse(text) as Record<string, unknown>,
    text,
    requestId: res.headers.get('X-Request-Id'),
    logs: lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const TYPE = (t: string) => `https://carepath.dev/problems/${t}`;

describe('fromWorkflowError', () => {
  const KNOWN: [string, number][] = [
    [FailureType.InvalidState, 409],
    [FailureType.SlotUnavailable, 409],
    [FailureType.FirstVisitOnline, 422],
    [FailureType.SlotMismatch, 422],
    [FailureType.NotBookedDoctor, 403],
    [FailureType.SlotNotFound, 404],
  ];

  it('covers every failure type the workflows raise', () => {
    expect(KNOWN.map(([t]) => t).sort()).toEqual(Object.values(FailureType).sort());
  });

  it.each(KNOWN)('an update refused with %s keeps its status %i', async (type, status) => {
    const a = await answer(updateFailed(type, 'journey is at step booked'));
    expect(a.status).toBe(status);
    expect(a.body).toMatchObject({ type: TYPE(type), status, detail: 'journey is at step booked' });
    expect(a.logs).toEqual([]);
  });

  it.each([
    ['the workflow has completed (update sent to a closed workflow)', new WorkflowNotFoundError('workflow execution already completed', 'journey:1', undefined)],
    ['the workflow closed while the update waited to be accepted', new WorkflowNotFoundError('workflow update was aborted by closing workflow', 'journey:1', undefined)],
    [
      'the workflow completed before answering an update it had accepted',
      new WorkflowUpdateFailedError(
        'Workflow Update failed',
        ApplicationFailure.create({ type: 'AcceptedUpdateCompletedWorkflow', message: 'Workflow Update failed because the Workflow completed before the Update completed.' }),
      ),
    ],
  ])('%s → 409 journey-closed', async (_label, err) => {
    const a = await answer(err);
    expect(a.status).toBe(409);
    expect(a.body.type).toBe(TYPE('journey-closed'));
  });

  it('a workflow id already taken → 409 already-exists', async () => {
    const a = await answer(new WorkflowExecutionAlreadyStartedError('Workflow execution already started', 'journey:1', 'patientJourney'));
    expect(a.status).toBe(409);
    expect(a.body.type).toBe(TYPE('already-exists'));
  });

  it.each([
    ['the update call passed its deadline', new WorkflowUpdateRPCTimeoutOrCancelledError('Deadline exceeded', { cause: grpcError(4, 'DEADLINE_EXCEEDED', 'Deadline exceeded after 30.000s') })],
    ['a start or signal passed the API deadline', new ServiceError('Failed to start Workflow', { cause: grpcError(4, 'DEADLINE_EXCEEDED', 'Deadline exceeded after 30.000s') })],
    ['the engine is unreachable', new ServiceError('Failed to signal Workflow', { cause: grpcError(14, 'UNAVAILABLE', 'No connection established') })],
  ])('%s → 503 engine-unavailable', async (_label, err) => {
    const a = await answer(err);
    expect(a.status).toBe(503);
    expect(a.body.type).toBe(TYPE('engine-unavailable'));
  });
});

describe('faults are a logged 500 that says nothing internal', () => {
  const FAULTS: [string, Error][] = [
    ['an update failure type the API does not know', updateFailed('weird-type', 'internal: secret detail of the fault')],
    ['a failure type named like an object property', updateFailed('constructor', 'internal: secret detail of the fault')],
    ['an update failure without a failure type', new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ message: 'internal: secret detail of the fault' }))],
    ['an update failure that is not an ApplicationFailure', new WorkflowUpdateFailedError('Workflow Update failed', new CancelledFailure('internal: secret detail of the fault'))],
    ['an update failure without a cause', new WorkflowUpdateFailedError('internal: secret detail of the fault', undefined)],
    ['a gRPC INTERNAL', new ServiceError('Failed to start Workflow', { cause: grpcError(13, 'INTERNAL', 'internal: secret detail of the fault') })],
    ['a gRPC INVALID_ARGUMENT', new ServiceError('Failed to signal Workflow', { cause: grpcError(3, 'INVALID_ARGUMENT', 'internal: secret detail of the fault') })],
    ['a gRPC PERMISSION_DENIED', new ServiceError('Failed to start Workflow', { cause: grpcError(7, 'PERMISSION_DENIED', 'internal: secret detail of the fault') })],
    ['a ServiceError that is not a gRPC status', new ServiceError('Unexpected error while making gRPC request', { cause: new Error('internal: secret detail of the fault') })],
  ];

  it.each(FAULTS)('%s → 500', async (_label, err) => {
    expect(fromWorkflowError(err)).toBeUndefined();
    const a = await answer(err);
    expect(a.status).toBe(500);
    expect(a.body).toMatchObject({ type: TYPE('internal'), status: 500 });
    expect(a.text).not.toMatch(/secret|internal:|weird-type|Workflow Update|gRPC|INTERNAL/);
    // The log has what the answer leaves out, under the id the caller was given.
    expect(a.requestId).toBeTruthy();
    expect(a.logs).toHaveLength(1);
    expect(a.logs[0]).toMatchObject({ level: 50, requestId: a.requestId, msg: 'unhandled error' });
    expect(JSON.stringify(a.logs[0])).toMatch(/secret detail of the fault/);
  });

  it('logs the failure type of an unknown update failure, and the gRPC code of a service error', async () => {
    expect((await answer(updateFailed('weird-type'))).logs[0]).toMatchObject({ failureType: 'weird-type' });
    const grpc = await answer(new ServiceError('Failed to start Workflow', { cause: grpcError(13, 'INTERNAL', 'boom') }));
    expect(grpc.logs[0]).toMatchObject({ grpcCode: 13, err: { message: expect.stringContaining('13 INTERNAL: boom') } });
  });
});
