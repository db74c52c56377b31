// The lint fence around workflows/ (eslint.config.js), checked on code it must refuse and code it must let
// through: workflow code imports no Node built-ins and no I/O package; activity types may be imported.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();
/** The rule ids ESLint reports for `code`, linted as if it were the file at `filePath`. */
async function ruleIds(code: string, filePath: string): Promise<(string | null)[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => m.ruleId);
}

describe('workflows/ lint fence', () => {
  const FENCE = '@typescript-eslint/no-restricted-imports';
  it.each([
    ["import { readFileSync } from 'node:fs';", 'node:fs'],
    ["import { randomUUID } from 'crypto';", 'crypto'],
    ["import postgres from 'postgres';", 'postgres'],
    ["import { Client } from '@temporalio/client';", '@temporalio/client'],
    ["import { createSql } from '../activities/db.js';", 'activities'],
    ["import pino from 'pino';", 'pino'],
  ])('refuses %s in workflow code', async (line) => {
    expect(await ruleIds(`${line}\nexport const x = 1;\n`, 'workflows/duration.ts')).toContain(FENCE);
  });
  it('lets through the workflow SDK, other workflow modules and activity types', async () => {
    const code = "import { sleep } from '@temporalio/workflow';\nimport type { Sql } from '../activities/db.js';\nimport { durationMs } from './duration.js';\nexport const f = async (s?: Sql) => { await sleep(durationMs('PT1S')); return s; };\n";
    expect(await ruleIds(code, 'workflows/duration.ts')).toEqual([]);
  });
  it('allows the same imports outside workflows/', async () => {
    expect(await ruleIds("import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n", 'activities/db.ts')).not.toContain(FENCE);
  });
  it('refuses a floating promise anywhere', async () => {
    expect(await ruleIds('export async function f() {}\nexport function g() { f(); }\n', 'activities/db.ts')).toContain('@typescript-eslint/no-floating-promises');
  });
});
