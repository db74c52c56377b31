// The start of a patient journey as data: the snapshot it starts with, and what its triage makes of it.
// Pure, with no workflow API, so that the journey's workflow and `POST /v1/journeys` build the same
// first transition: the API writes it before it answers, and the workflow writes it again in its first
// task, where the read model keeps whichever came first (the same version, the same event keys).
import { SYSTEM, actorName, type JourneyInput, type JourneySnapshot, type TimelineEvent, type TimelineType, type Transition, type Triage } from './definitions.js';

/** The version of a journey's first projection: its start and its triage. */
export const JOURNEY_START_VERSION = 1;

/** Makes one timeline event (the workflow's own `event`, or one stamped with the API's clock). */
export type EventMaker = (type: TimelineType, actor: string, data?: Record<string, unknown>) => TimelineEvent;

/** The snapshot of a journey before its triage. */
export function initialSnapshot(input: JourneyInput): JourneySnapshot {
  return {
    id: input.journeyId,
    patientId: input.patientId,
    mode: input.mode,
    pathway: { id: input.pathway.id, version: input.pathway.version },
    phase: 'pre-visit',
    status: 'active',
    step: 'triage',
    ...(input.guardian ? { guardian: input.guardian } : {}),
    ...(input.referredFrom ? { referredFrom: input.referredFrom } : {}),
  };
}

/** `journey.started`: the mode, the pathway, and ids and codes only. */
export function startedEvent(input: JourneyInput, event: EventMaker): TimelineEvent {
  return event('journey.started', actorName(input.startedBy), {
    mode: input.mode,
    pathway: { id: input.pathway.id, version: input.pathway.version },
    followUp: input.followUpOf !== undefined,
    ...(input.guardian ? { guardian: input.guardian.relation } : {}),
    ...(input.referredFrom ? { referredFrom: input.referredFrom } : {}),
  });
}

/**
 * Applies the triage to `snapshot`: a red flag closes the journey as redirected (the patient is sent to
 * emergency care), anything else moves it to booking. Returns the events that say so.
 */
export function applyTriage(snapshot: JourneySnapshot, triage: Triage, event: EventMaker): TimelineEvent[] {
  snapshot.triage = triage;
  const events = [event('triage.completed', SYSTEM, { department: triage.department, urgency: triage.urgency })];
  if (triage.urgency === 'emergency') {
    snapshot.status = 'redirected';
    snapshot.phase = 'closed';
    snapshot.step = 'done';
    events.push(event('journey.redirected', SYSTEM, { reason: 'red-flag' }));
  } else {
    snapshot.step = 'booking';
  }
  return events;
}

/** The first transition of a journey triaged at the door, its events stamped `at`. */
export function startTransition(input: JourneyInput & { triage: Triage }, at: string): Transition {
  const event: EventMaker = (type, actor, data = {}) => ({ key: type, at, type, actor, data });
  const snapshot = initialSnapshot(input);
  const events = [startedEvent(input, event), ...applyTriage(snapshot, input.triage, event)];
  return { version: JOURNEY_START_VERSION, snapshot, events };
}
