// Facilities: the hospitals, community clinics and labs CarePath refers patients to. Referrals to a
// facility are POSTed to its `webhookUrl` (the facility adapter); one without a URL is handed over by
// hand. The API writes and reads them here, and the facility adapter reads them from here too.
import { randomUUID } from 'node:crypto';
import { iso, type Sql } from './db.js';

export type FacilityKind = 'hospital' | 'community' | 'lab';

export interface Facility {
  id: string;
  name: string;
  kind: FacilityKind;
  webhookUrl?: string;
  createdAt: string;
}

interface FacilityRow {
  id: string;
  name: string;
  kind: FacilityKind;
  webhook_url: string | null;
  created_at: Date;
}

const facilityView = (r: FacilityRow): Facility => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  ...(r.webhook_url ? { webhookUrl: r.webhook_url } : {}),
  createdAt: iso(r.created_at)!,
});

export async function createFacility(sql: Sql, f: Omit<Facility, 'id' | 'createdAt'>, id: string = randomUUID()): Promise<Facility> {
  const [row] = await sql<FacilityRow[]>`
    insert into facilities (id, name, kind, webhook_url) values (${id}, ${f.name}, ${f.kind}, ${f.webhookUrl ?? null})
    returning *`;
  return facilityView(row!);
}

export async function getFacility(sql: Sql, id: string): Promise<Facility | undefined> {
  const [row] = await sql<FacilityRow[]>`select * from facilities where id = ${id}`;
  return row ? facilityView(row) : undefined;
}

/** Every facility, by name (a hospital's list of partners is short; capped all the same). */
export async function listFacilities(sql: Sql, f: { kind?: FacilityKind; limit?: number } = {}): Promise<Facility[]> {
  const rows = await sql<FacilityRow[]>`
    select * from facilities where true ${f.kind ? sql`and kind = ${f.kind}` : sql``}
    order by name, id limit ${f.limit ?? 500}`;
  return rows.map(facilityView);
}
