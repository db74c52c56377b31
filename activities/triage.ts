// Triage over rule data (db/seed/triage-rules.json, stored in `triage_rules`): keywords in Chinese
// and English choose a department; red-flag rules set urgency `emergency`. It advises; it never diagnoses.
import type { Triage, Urgency } from '../workflows/definitions.js';
import type { Sql } from './db.js';
import type { ActivityDeps } from './deps.js';
import triageSeed from '../db/seed/triage-rules.json' with { type: 'json' };

export interface TriageRule {
  id: string;
  department: string;
  urgency: Urgency;
  priority: number;
  /** Every group must match; a group matches when any of its keywords occurs. */
  groups: string[][];
  advice?: string;
}

export interface TriageRuleSet {
  emergencyAdvice: string;
  rules: TriageRule[];
  fallback: { department: string; urgency: Urgency };
}

const URGENCY_RANK: Record<Urgency, number> = { emergency: 2, urgent: 1, routine: 0 };

/** ASCII keywords match at the start of a word (so `ear` is not found in `heart`); CJK anywhere. */
function occurs(text: string, keyword: string): boolean {
  const k = keyword.toLowerCase();
  if (!/^[\x20-\x7e]+$/.test(k)) return text.includes(k);
  let at = text.indexOf(k);
  while (at >= 0) {
    if (at === 0 || !/[a-z0-9]/.test(text[at - 1]!)) return true;
    at = text.indexOf(k, at + 1);
  }
  return false;
}

export function classify(complaint: string, set: TriageRuleSet): Triage {
  const text = complaint.toLowerCase().replace(/\s+/g, ' ');
  const matched = set.rules
    .filter((r) => r.groups.every((g) => g.some((k) => occurs(text, k))))
    .sort((a, b) => URGENCY_RANK[b.urgency] - URGENCY_RANK[a.urgency] || b.priority - a.priority);
  const best = matched[0];
  if (best?.urgency === 'emergency') {
    return { department: best.department, urgency: 'emergency', advice: best.advice ?? set.emergencyAdvice };
  }
  const department = best?.department ?? set.fallback.department;
  const urgency = best?.urgency ?? set.fallback.urgency;
  return {
    department,
    urgency,
    advice:
      best?.advice ??
      (urgency === 'urgent'
        ? `Please book the earliest ${department} appointment today. If symptoms get worse, go to an emergency department.`
        : `Please book a ${department} appointment. This is guidance on where to go, not a diagnosis.`),
  };
}

export async function loadRules(sql: Sql, emergencyAdvice: string, fallback: TriageRuleSet['fallback']): Promise<TriageRuleSet> {
  const rows = await sql<{ id: string; department: string; urgency: Urgency; priority: number; keyword_groups: string[][]; advice: string }[]>`
    select id, department, urgency, priority, keyword_groups, advice from triage_rules`;
  return {
    emergencyAdvice,
    fallback,
    rules: rows.map((r) => ({ id: r.id, department: r.department, urgency: r.urgency, priority: r.priority, groups: r.keyword_groups, ...(r.advice ? { advice: r.advice } : {}) })),
  };
}

/** Replaces the stored rules with the given set (the seed is the source of truth). */
export async function storeRules(sql: Sql, set: TriageRuleSet): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`delete from triage_rules`;
    for (const r of set.rules) {
      await tx`
        insert into triage_rules (id, department, urgency, keyword_groups, advice, priority)
        values (${r.id}, ${r.department}, ${r.urgency}, ${tx.json(r.groups)}, ${r.advice ?? (r.urgency === 'emergency' ? set.emergencyAdvice : '')}, ${r.priority})`;
    }
  });
}

/** Triage activities: classify a complaint with the stored rules. */
export function triageActivities(deps: ActivityDeps) {
  return {
    async triage(r: { complaint: string }): Promise<Triage> {
      const rules = await loadRules(deps.sql, triageSeed.emergencyAdvice, triageSeed.fallback as { department: string; urgency: 'routine' });
      return classify(r.complaint, rules);
    },
  };
}
