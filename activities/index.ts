// Every side effect of the workflows, composed from one factory per area (journeys, slots, payments,
// notifications, triage…), each built from the same injected dependencies. Each activity is
// idempotent: its writes are keyed by workflow id + occurrence, so a retry or a replayed worker
// changes nothing twice.
import type { ActivityDeps } from './deps.js';
import { consultationActivities } from './consultations.js';
import { remoteActivities } from './remote.js';
import { examActivities } from './exams.js';
import { itemActivities } from './items.js';
import { journeyActivities } from './journeys.js';
import { notificationActivities } from './notifications.js';
import { paymentActivities } from './payments.js';
import { prescriptionActivities } from './prescriptions.js';
import { programActivities } from './programs.js';
import { DEFAULT_HOSPITAL_TIMEZONE, reconciliationActivities, sandboxSettlementChannel } from './reconciliation.js';
import { referralActivities } from './referrals.js';
import { signingActivities } from './signing.js';
import { slotActivities } from './slots.js';
import { triageActivities } from './triage.js';
import { verificationActivities } from './verification.js';

export type { ActivityDeps } from './deps.js';


export function createActivities(deps: ActivityDeps) {
  return {
    ...journeyActivities(deps),
    ...triageActivities(deps),
    ...slotActivities(deps),
    ...paymentActivities(deps),
    ...notificationActivities(deps),
    ...itemActivities(deps),
    ...prescriptionActivities(deps),
    ...examActivities(deps),
    ...referralActivities(deps),
    ...programActivities(deps),
    ...consultationActivities(deps),
    ...remoteActivities(deps),
    ...verificationActivities(deps),
    ...signingActivities(deps),
    ...reconciliationActivities({
      sql: deps.sql,
      timezone: deps.hospitalTimezone ?? DEFAULT_HOSPITAL_TIMEZONE,
      settlement: deps.settlement ?? sandboxSettlementChannel(deps.sql, deps.hospitalTimezone ?? DEFAULT_HOSPITAL_TIMEZONE),
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
