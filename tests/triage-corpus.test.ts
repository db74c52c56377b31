// The labelled corpus (tests/triage/corpus.json) through the triage engine on the seeded rules. It fails
// when a red flag is missed, when a negated or past mention is sent to emergency, or when department
// accuracy on the other complaints falls below the threshold of docs/triage.md. The figures are printed.
import { describe, expect, it } from 'vitest';
import triageRules from '../db/seed/triage-rules.json' with { type: 'json' };
import { compile, type TriageRuleSet } from '../activities/triage-engine.js';
import { entries, report, score } from './triage/score.js';

/** docs/triage.md: department accuracy on complaints without a red flag, at least. */
const DEPARTMENT_THRESHOLD = 0.95;

describe('triage corpus', () => {
  const s = score(compile(triageRules as unknown as TriageRuleSet));

  it('holds at least 300 complaints with every red-flag group in several phrasings', () => {
    expect(entries.length).toBeGreaterThanOrEqual(300);
    const groups = new Map<string, number>();
    for (const e of entries) for (const t of e.tags) if (t.startsWith('red-flag:')) groups.set(t, (groups.get(t) ?? 0) + 1);
    expect([...groups.keys()].sort()).toEqual(
      ['anaphylaxis', 'chest-pain-breathless', 'gi-bleeding', 'heavy-bleeding', 'pregnancy-bleeding', 'seizure', 'stroke', 'suicide', 'unconscious'].map((g) => `red-flag:${g}`),
    );
    for (const n of groups.values()) expect(n).toBeGreaterThanOrEqual(8);
  });

  it('catches every red flag, sends no negated or past mention to emergency, and finds the department', () => {
    console.log(`triage corpus (${entries.length} complaints)\n${report(s)}`);
    const missed = s.misses.filter((m) => m.why !== 'department').map((m) => `${m.why}: ${m.entry.text}`);
    expect(missed).toEqual([]);
    expect(s.redFlags.caught).toBe(s.redFlags.total);
    expect(s.negatedToEmergency.sent).toBe(0);
    expect(s.department.right / s.department.total).toBeGreaterThanOrEqual(DEPARTMENT_THRESHOLD);
  });
});
