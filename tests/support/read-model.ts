// Journey snapshots and timeline events as a projection writes them, for the read-model tests.
import type { Sql } from '../../activities/db.js';
import type { JourneySnapshot, TimelineEvent } from '../../workflows/definitions.js';

/**
 * Runs `fn` while someone alters every prescription's stored content (its first item's quantity) as
 * it becomes paid: the tampering the check before dispensing must catch.
 */
export async function whileAlteredWhenPaid<T>(sql: Sql, fn: () => Promise<T>): Promise<T> {
  await sql.unsafe(`
    create function alter_when_paid() returns trigger language plpgsql as $$
    begin
      if new.status = 'paid' then new.snapshot := jsonb_set(new.snapshot, '{items,0,quantity}', '60'); end if;
      return new;
    end $$;
    create trigger alter_when_paid before update on prescriptions for each row execute function alter_when_paid();`);
  try {
    return await fn();
  } finally {
    await sql.unsafe('drop trigger alter_when_paid on prescriptions; drop function alter_when_paid();');
  }
}

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
