// Journey snapshots and timeline events as a projection writes them, for the read-model tests.
import type { JourneySnapshot, TimelineEvent } from '../../workflows/definitions.js';

/** A pre-visit journey of `patientId` at `step`, with anything else over it. */
export const journeySnapshot = (id: string, patientId: string, step: JourneySnapshot['step'], over: Partial<JourneySnapshot> = {}): JourneySnapshot => ({
  id,
  patientId,
  mode: 'offline',
  pathway: { id: 'standard-outpatient', version: 1 },
  phase: 'pre-visit',
  status: 'active',
  step,
  ...over,
});

export const timelineEvent = (type: TimelineEvent['type'], key: string = type): TimelineEvent => ({ key, at: new Date().toISOString(), type, actor: 'system', data: {} });
