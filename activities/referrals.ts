// Referrals: the facility adapter, which POSTs a referral to its facility's webhook (facilities.ts),
// signed like notifications, once per referral (`referral_sends` is its outbox). The patient's
// details are read here, from the database, when it is sent: they never travel through workflow
// input or history.
import { consentOf } from './consent.js';
import type { Sql } from './db.js';
import { activityLog, type ActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';
import { signedPost } from './signature.js';

/** What the facility receives. */
export interface ReferralPayload {
  referralId: string;
  journeyId: string;
  patient: { name: string; birthDate: string; sex: 'F' | 'M' | 'O' };
  department: string;
  reason: string;
  urgency: 'routine' | 'urgent';
  /** The diagnosis the referring doctor recorded in the journey's outcome. */
  diagnosis: { code?: string; text: string } | null;
}

/** `withheld`: not sent, because the patient has withdrawn consent to share their record. */
export type SendOutcome = 'posted' | 'already-sent' | 'recorded' | 'withheld';

/**
 * Sends the referral to its facility once: POSTs it, signed, to the facility's webhook (with the
 * referral id as `Idempotency-Key`), or, for a facility without one, records it as handed over. A
 * non-2xx answer or an unreachable URL is recorded in `last_error` and thrown, so the activity retries;
 * once sent, a retry sends nothing. (A worker that dies between the facility's 2xx and the record
 * would send it once more, with the same key.)
 * Every attempt that would send first reads the patient's record-sharing consent: withdrawn, nothing
 * is sent, now or later (`withheld`, recorded in `last_error`), and the workflow cancels the referral.
 */
export async function sendReferral(sql: Sql, secret: string, referralId: string): Promise<{ via: 'webhook' | 'none'; outcome: SendOutcome; facilityId: string }> {
  const [r] = await sql<
    {
      journey_id: string;
      facility_id: string;
      department: string;
      reason: string;
      urgency: 'routine' | 'urgent';
      webhook_url: string | null;
      patient_id: string;
      name: string;
      birth_date: string;
      sex: 'F' | 'M' | 'O';
      diagnosis: { code?: string; text: string } | null;
    }[]
  >`
    select r.journey_id, r.facility_id, r.patient_id, r.snapshot ->> 'department' as department, r.snapshot ->> 'reason' as reason,
           r.snapshot ->> 'urgency' as urgency, f.webhook_url, p.name, to_char(p.birth_date, 'YYYY-MM-DD') as birth_date, p.sex,
           j.snapshot #> '{outcome,diagnosis}' as diagnosis
    from referrals r
      join facilities f on f.id = r.facility_id
      join patients p on p.id = r.patient_id
      join journeys j on j.id = r.journey_id
    where r.id = ${referralId}`;
  // The workflow projects the referral before it sends: until then, retry.
  if (!r) throw new Error(`referral ${referralId} is not recorded yet`);
  const via = r.webhook_url ? 'webhook' : 'none';
  const result = (outcome: SendOutcome) => ({ via, outcome, facilityId: r.facility_id }) as const;

  await sql`insert into referral_sends (referral_id, facility_id) values (${referralId}, ${r.facility_id}) on conflict (referral_id) do nothing`;
  const [pending] = await sql`
    update referral_sends set attempts = attempts + 1 where referral_id = ${referralId} and sent_at is null returning referral_id`;
  if (!pending) return result('already-sent');
  if (!(await consentOf(sql, r.patient_id, 'record-sharing')).granted) {
    await sql`update referral_sends set last_error = 'withheld: record-sharing consent withdrawn' where referral_id = ${referralId}`;
    return result('withheld');
  }
  if (!r.webhook_url) {
    // No webhook: coordinators hand it over by other means; it counts as sent.
    await sql`update referral_sends set sent_at = now() where referral_id = ${referralId}`;
    return result('recorded');
  }

  const payload: ReferralPayload = {
    referralId,
    journeyId: r.journey_id,
    patient: { name: r.name, birthDate: r.birth_date, sex: r.sex },
    department: r.department,
    reason: r.reason,
    urgency: r.urgency,
    diagnosis: r.diagnosis,
  };
  const body = JSON.stringify(payload);
  let error: string | undefined;
  try {
    const status = await signedPost(r.webhook_url, secret, referralId, body);
    if (status < 200 || status > 299) error = `facility answered ${status}`;
  } catch (e) {
    error = `facility unreachable: ${(e as Error).message}`;
  }
  if (error) {
    await sql`update referral_sends set last_error = ${error} where referral_id = ${referralId}`;
    throw new Error(`referral ${referralId}: ${error}`);
  }
  await sql`update referral_sends set sent_at = now(), last_error = null where referral_id = ${referralId}`;
  return result('posted');
}

/** Referral activities: the facility adapter. */
export function referralActivities(deps: ActivityDeps) {
  return {
    /** `withheld`: the patient withdrew record-sharing consent before it went; nothing was sent. */
    async sendReferral(r: { referralId: string }): Promise<{ via: 'webhook' | 'none'; withheld?: true }> {
      const sent = await whileHeartbeating(() => sendReferral(deps.sql, deps.facilityWebhookSecret, r.referralId));
      activityLog(deps).info({ referralId: r.referralId, facilityId: sent.facilityId, outcome: sent.outcome }, sent.outcome === 'withheld' ? 'referral withheld: record-sharing consent withdrawn' : 'referral sent');
      return sent.outcome === 'withheld' ? { via: sent.via, withheld: true } : { via: sent.via };
    },
  };
}
