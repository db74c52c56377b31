// Each test file gets its own PostgreSQL schema on the machine's server, migrated from db/.
import { randomBytes } from 'node:crypto';
import { createSql, migrate, type Sql } from '../../activities/db.js';
import { seedReferenceData } from '../../activities/seed.js';

export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  sql: Sql;
  schema: string;
  url: string;
  drop(): Promise<void>;
}

export async function testDb(opts: { max?: number } = {}): Promise<TestDb> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = createSql(TEST_DATABASE_URL, { max: 1 });
  await admin.unsafe(`create schema ${schema}`);
  await admin.end();
  const sql = createSql(TEST_DATABASE_URL, { max: opts.max ?? 10, schema });
  await migrate(sql);
  await seedReferenceData(sql);
  return {
    sql,
    schema,
    url: TEST_DATABASE_URL,
    async drop() {
      await sql.end({ timeout: 5 });
      const a = createSql(TEST_DATABASE_URL, { max: 1 });
      await a.unsafe(`drop schema ${schema} cascade`);
      await a.end();
    },
  };
}
