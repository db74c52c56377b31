// The error mapper for the post-visit items' refusals: every ItemFailureType the workflows raise
// keeps its status (403, 409, 422) and its type; none is a 500.
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { fromWorkflowError, itemClosed } from '../api/problems.js';
import { ItemFailureType } from '../workflows/definitions.js';

const updateFailed = (type: string, message: string) =>
  new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type, message, nonRetryable: true }));

describe('fromWorkflowError for post-visit items', () => {
  const KNOWN: Record<(typeof ItemFailureType)[keyof typeof ItemFailureType], number> = {
    [ItemFailureType.NotPrescriber]: 403,
    [ItemFailureType.OwnPrescription]: 403,
    [ItemFailureType.UnknownDose]: 422,
    [ItemFailureType.DoseAnswered]: 409,
    [ItemFailureType.NotAllowed]: 403,
    [ItemFailureType.InvalidAppointment]: 422,
  };

  it.each(Object.entries(KNOWN))('an update refused with %s is %i with that type', (type, status) => {
    const p = fromWorkflowError(updateFailed(type, `refused: ${type}`));
    expect(p).toMatchObject({ status, type, detail: `refused: ${type}` });
  });

  it('an item that has ended is 409 item-closed, naming the item', () => {
    expect(itemClosed('exam')).toMatchObject({ status: 409, type: 'item-closed', detail: 'the exam has ended' });
  });
});
