// Triage activity: classifies a complaint with the stored rule set (db/seed/triage-rules.json, the source
// of truth, stored in `triage_rule_sets`). The engine is activities/triage-engine.ts; docs/triage.md
// explains the rules. It advises; it never diagnoses.
import type { Triage } from '../workflows/definitions.js';
import type { Sql } from './db.js';
import type { ActivityDeps } from './deps.js';
import { classifyWith, compile, type CompiledRuleSet, type TriageRuleSet } from './triage-engine.js';

export type { TriageRuleSet } from './triage-engine.js';

/** The engine's answer as the journey keeps it: the decision and its evidence, not every concept found. */
export function classify(complaint: string, rules: CompiledRuleSet): Triage {
  const { found: _found, ...triage } = classifyWith(rules, complaint);
  return triage;
}

/** Stores the seed's rule set under its version (the seed is the source of truth: a new seed replaces it). */
export async function storeRules(sql: Sql, set: TriageRuleSet): Promise<void> {
  await sql`
    insert into triage_rule_sets (version, rules) values (${set.version}, ${sql.json(set as never)})
    on conflict (version) do update set rules = excluded.rules, stored_at = now()`;
}

let compiled: { key: string; rules: Promise<CompiledRuleSet> } | undefined;

/**
 * The newest stored rule set, compiled once per version and time it was stored. Each call asks only
 * which that is; the rules themselves (77 KB of JSON) are read and compiled when it changed, once for
 * all the calls that ask meanwhile (a burst of creations does not compile it fifty times).
 */
export async function loadRules(sql: Sql): Promise<CompiledRuleSet> {
  const [row] = await sql<{ version: number; stored_at: Date }[]>`
    select version, stored_at from triage_rule_sets order by version desc limit 1`;
  if (!row) throw new Error('no triage rules stored: run the seed');
  const key = `${row.version}@${row.stored_at.toISOString()}`;
  if (compiled?.key !== key) {
    const rules = sql<{ rules: TriageRuleSet }[]>`select rules from triage_rule_sets where version = ${row.version}`.then(([stored]) => {
      if (!stored) throw new Error('no triage rules stored: run the seed');
      return compile(stored.rules);
    });
    compiled = { key, rules };
    // A failed read is not kept: the next call reads again.
    rules.catch(() => {
      if (compiled?.rules === rules) compiled = undefined;
    });
  }
  return compiled.rules;
}

/** Triage activities: classify a complaint with the stored rules. */
export function triageActivities(deps: ActivityDeps) {
  return {
    async triage(r: { complaint: string }): Promise<Triage> {
      return classify(r.complaint, await loadRules(deps.sql));
    },
  };
}
