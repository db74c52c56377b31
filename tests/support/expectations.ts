// Expectations shared by the workflow and integration tests.
import type { TimelineType } from '../../workflows/definitions.js';

/** The timeline of a journey that goes from complaint to outcome with two reminders, in order. */
export const HAPPY_PATH_TIMELINE: TimelineType[] = [
  'journey.started',
  'triage.completed',
  'appointment.booked',
  'payment.requested',
  'payment.received',
  'reminder.sent',
  'reminder.sent',
  'journey.checked-in',
  'queue.near-turn',
  'consultation.started',
  'outcome.recorded',
  'journey.completed',
];
