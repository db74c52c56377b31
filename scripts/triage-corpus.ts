// Prints the triage engine's figures on the labelled corpus and every complaint it gets wrong:
// `npm run triage:corpus`. The corpus test (tests/triage-corpus.test.ts) holds the thresholds.
import { compile, type TriageRuleSet } from '../activities/triage-engine.js';
import rules from '../db/seed/triage-rules.json' with { type: 'json' };
import { report, score } from '../tests/triage/score.js';

const s = score(compile(rules as unknown as TriageRuleSet));
for (const m of s.misses) {
  const found = m.got.found.map((f) => `${f.concept}:${f.text}${f.status === 'present' ? '' : `(${f.status})`}`).join(' ');
  console.log(`[${m.why}] ${m.entry.text}\n    want ${m.entry.department}/${m.entry.urgency}, got ${m.got.department}/${m.got.urgency} by ${m.got.rule}; ${found}`);
}
console.log(report(s));
