// The triage engine: reads a complaint the way a triage nurse would, with the rule set of
// db/seed/triage-rules.json (data a clinician can read and extend; docs/triage.md explains it).
//
// 1. Normalise (full-width to half-width, lower case, English contractions spelt out, the set's rewrites).
// 2. Segment: @node-rs/jieba cuts Chinese into words (the lexicon's own terms are in its dictionary),
//    English is cut into words; clauses end at punctuation and at the set's termination words.
// 3. Find concepts: every term of every concept, longest match first. A Chinese term must not straddle a
//    word boundary (便血 is not in 方便血压); a Chinese term typed with a homophone (胸们 for 胸闷) matches
//    by pinyin when one character is right; an English word a letter or two off (chset, diabetis) matches
//    when it is not itself a word the set knows. A one-character term (血) is a whole word (not in 验血); a
//    gapped term does not start inside another concept's word (血…不停 is not in 血压一直不停).
// 4. Context, in the manner of NegEx / ConText: negation and history triggers before a concept (没有, 否认,
//    no, denies, history of, 以前) or after it (好了, 过, years ago) take it out of play within their scope
//    (the clause, at most `window` words); pseudo-triggers (不舒服, 不知道是不是, not sure) trigger nothing;
//    a word of recency in the clause (刚才, 又, now, suddenly) overrides history; a past year (in 2019) is
//    a history trigger; a near miss (差点, nearly) negates the word right after it.
// 5. Patient: age (岁, 个月, years old, 3-month-old, kid (9)), child and pregnancy words, weeks of
//    pregnancy without the word (im 12 weeks, 34 wks,).
// 6. Decide: the first red-flag rule whose every group has a concept in play wins (emergency, and the
//    advice says why; a concept explained by a harmless cause the patient states, black stools on iron,
//    is not in play); then the urgent rules; then the department whose concepts weigh most; a child
//    goes to the set's child department.
import { Jieba } from '@node-rs/jieba';
import { dict } from '@node-rs/jieba/dict.js';
import { distance } from 'fastest-levenshtein';
import { pinyin } from 'pinyin-pro';
import type { Triage, TriageEvidence, Urgency } from '../workflows/definitions.js';

type Lang = 'zh' | 'en';

export interface TriageRuleSet {
  version: number;
  fallback: { department: string; urgency: Urgency };
  /** Departments for children: below this age in years, or named a child, a patient goes to `department`. */
  child: { department: string; ageUnderYears: number };
  /** Advice per urgency, in Chinese and English; `{department}` and `{why}` are filled in. */
  advice: Record<Urgency, Record<Lang, string>>;
  /** Department names for the advice. */
  departments: Record<string, Record<Lang, string>>;
  /** Plain replacements made before anything else (中过风 → 中风过), as [from, to]. */
  rewrites: [string, string][];
  context: {
    /** How many words a trigger reaches, at most, within its clause. */
    window: number;
    negation: { before: string[]; after: string[] };
    history: { before: string[]; after: string[] };
    /** Words that look like triggers and are not (不舒服, not sure): they trigger nothing. */
    pseudo: string[];
    /** Words that end a trigger's scope (但是, but), as punctuation does. */
    termination: string[];
    /** Words that say "now" (刚才, 又, suddenly): history does not apply in their clause. */
    recency: string[];
    /**
     * Near misses (差点, nearly, almost): the event right after them did not happen (差点昏过去 is not a
     * faint). They reach only the next word, so "almost every day I faint" is still a faint.
     */
    near?: string[];
  };
  /**
   * Concepts: terms in Chinese or English. `…` between two parts allows a few words between them
   * (胸口…疼: 胸口一阵阵地疼); an English word ending in `*` matches any ending (suicid*).
   * `explainedBy`: concepts that, present and not negated, give a known harmless cause (black stools
   * and iron tablets): the concept then takes no part in the rules, and still counts for its department.
   */
  concepts: Record<string, { department?: string; weight?: number; terms: string[]; explainedBy?: string[] }>;
  /**
   * Concepts that describe the patient rather than a symptom: a child, a newborn (age 0 when no age is
   * given), pregnancy; and concepts of a parent speaking of herself (生完孩子, 要个孩子), which say the
   * patient is not the child the complaint mentions.
   */
  patient: { child: string; infant: string; pregnant: string; adult: string[] };
  rules: TriageRuleSpec[];
  /** English words that are never read as a typo of a lexicon word (bowl is not bowel). */
  notTypos: string[];
}

export interface TriageRuleSpec {
  id: string;
  urgency: Exclude<Urgency, 'routine'>;
  department: string;
  /** Every group needs one of its concepts in play. */
  all: string[][];
  when?: { child?: boolean; adult?: boolean; pregnant?: boolean; ageUnderMonths?: number };
  why: Record<Lang, string>;
}

// ---------------------------------------------------------------------------------------------------
// Text

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;
const WORD = /^[a-z0-9]+$/;
/** Punctuation and line breaks end a clause; so does a space between two Chinese characters. */
const CLAUSE_END = /^[。！？；，,.!?;:：\n…~～]+$/;
/** An emoji ends a clause as punctuation does ("end it all 😞 刀都准备好了"). */
const EMOJI = /\p{Extended_Pictographic}/u;

function contractions(s: string): string {
  return s
    .replace(/[’‘`]/g, "'")
    .replace(/\bcan'?t\b/g, 'can not')
    .replace(/\bcannot\b/g, 'can not')
    .replace(/\bwon'?t\b/g, 'will not')
    .replace(/\b(do|does|did|is|are|was|were|has|have|had|could|would|should)n'?t\b/g, '$1 not')
    .replace(/\bi'm\b/g, 'i am');
}

export function normalise(text: string, rewrites: [string, string][] = []): string {
  let s = contractions(text.normalize('NFKC').toLowerCase());
  for (const [from, to] of rewrites) s = s.split(from).join(to);
  return s.replace(/[ \t\r]+/g, ' ').trim();
}

interface Token {
  text: string;
  start: number;
  end: number;
  kind: 'cjk' | 'word' | 'space' | 'break' | 'other';
}

function tokenKind(t: string, prev: string | undefined, next: string | undefined): Token['kind'] {
  if (CJK.test(t)) return 'cjk';
  if (WORD.test(t)) return 'word';
  if (CLAUSE_END.test(t) || EMOJI.test(t)) return 'break';
  if (/^\s+$/.test(t)) return prev && next && CJK.test(prev.slice(-1)) && CJK.test(next[0]!) ? 'break' : 'space';
  return 'other';
}

// ---------------------------------------------------------------------------------------------------
// Compiled rule set

interface Term {
  concept: string;
  source: string;
  lang: Lang;
  /** Chinese: the parts; English: per part, its words. */
  parts: string[] | { word: string; prefix: boolean }[][];
  /** Chinese: each part's syllables, for homophones. */
  syllables?: string[][];
}

interface Match {
  concept: string;
  start: number;
  end: number;
  /** Words of the text it covers. */
  text: string;
  fuzzy: boolean;
  /** What lies between the parts of a gapped term (胸口…疼), where a negation still counts (嘴唇不肿). */
  gaps?: [number, number][];
}

type Status = 'present' | 'negated' | 'history';

export interface CompiledRuleSet {
  set: TriageRuleSet;
  jieba: Jieba;
  terms: Term[];
  known: Set<string>;
  triggers: Term[];
  /** The lexicon's one-part Chinese terms (血压, 吐了) and their concepts. */
  lexicon: Map<string, Set<string>>;
}

const isCjkTerm = (t: string) => CJK.test(t);

function compileTerm(concept: string, source: string, rewrites: [string, string][]): Term {
  // Parts split before normalising: NFKC turns the ellipsis into three dots.
  const raw = source.split('…').map((p) => normalise(p, rewrites)).filter(Boolean);
  if (raw.some(isCjkTerm)) {
    return { concept, source, lang: 'zh', parts: raw, syllables: raw.map((p) => pinyin(p, { toneType: 'none', type: 'array' })) };
  }
  return {
    concept,
    source,
    lang: 'en',
    parts: raw
      .map((p) => p.split(/[^a-z0-9*]+/).filter(Boolean).map((w) => ({ word: w.replace(/\*$/, ''), prefix: w.endsWith('*') })))
      .filter((p) => p.length > 0),
  };
}

const TRIGGER_KINDS = ['negation-before', 'negation-after', 'history-before', 'history-after', 'pseudo', 'termination', 'recency', 'near'] as const;
type TriggerKind = (typeof TRIGGER_KINDS)[number];

export function compile(set: TriageRuleSet): CompiledRuleSet {
  const terms: Term[] = [];
  for (const [concept, c] of Object.entries(set.concepts)) for (const t of c.terms) terms.push(compileTerm(concept, t, set.rewrites));
  const c = set.context;
  const lists: Record<TriggerKind, string[]> = {
    'negation-before': c.negation.before,
    'negation-after': c.negation.after,
    'history-before': c.history.before,
    'history-after': c.history.after,
    pseudo: c.pseudo,
    termination: c.termination,
    recency: c.recency,
    near: c.near ?? [],
  };
  const triggers = TRIGGER_KINDS.flatMap((k) => lists[k].map((t) => compileTerm(k, t, set.rewrites)));
  const known = new Set<string>(set.notTypos);
  for (const t of [...terms, ...triggers]) {
    if (t.lang === 'en') for (const part of t.parts as { word: string }[][]) for (const w of part) known.add(w.word);
  }
  // The lexicon's Chinese words join jieba's dictionary, so that 黑便 or 说话不清楚 stay one word.
  const words = new Set<string>();
  // Only Chinese parts: an English part of a mixed term (ot…到想死) would cut English words (n|ot).
  for (const t of [...terms, ...triggers]) if (t.lang === 'zh') for (const p of t.parts as string[]) if (isCjkTerm(p)) words.add(p);
  const jieba = Jieba.withDict(dict);
  jieba.loadDict(Buffer.from([...words].map((w) => `${w} 200000`).join('\n')));
  const lexicon = new Map<string, Set<string>>();
  for (const t of terms) {
    if (t.lang !== 'zh' || t.parts.length !== 1) continue;
    const w = (t.parts as string[])[0]!;
    lexicon.set(w, (lexicon.get(w) ?? new Set()).add(t.concept));
  }
  return { set, jieba, terms, known, triggers, lexicon };
}

// ---------------------------------------------------------------------------------------------------
// Matching

interface Text {
  s: string;
  tokens: Token[];
  /** Index of the token each character belongs to. */
  tokenAt: number[];
  /** The English words, with their token index. */
  words: { w: string; i: number }[];
  pinyin: string[];
}

function analyse(c: CompiledRuleSet, s: string): Text {
  const pieces = c.jieba.cut(s, false);
  const tokens: Token[] = [];
  let at = 0;
  for (let k = 0; k < pieces.length; k++) {
    const p = pieces[k]!;
    tokens.push({ text: p, start: at, end: at + p.length, kind: tokenKind(p, pieces[k - 1], pieces[k + 1]) });
    at += p.length;
  }
  const tokenAt: number[] = [];
  tokens.forEach((t, i) => {
    for (let k = t.start; k < t.end; k++) tokenAt[k] = i;
  });
  const words = tokens.flatMap((t, i) => (t.kind === 'word' ? [{ w: t.text, i }] : []));
  const py = pinyin(s, { toneType: 'none', type: 'array', nonZh: 'consecutive' });
  // pinyin-pro keeps non-Chinese runs together; map it back to one entry per character.
  const perChar: string[] = [];
  let k = 0;
  for (const p of py) {
    if (CJK.test(s[k] ?? '')) {
      perChar.push(p);
      k++;
    } else {
      for (let n = 0; n < p.length; n++) perChar.push('');
      k += p.length;
    }
  }
  return { s, tokens, tokenAt, words, pinyin: perChar };
}

/** A Chinese match must not start or end inside a word that reaches beyond it. */
function aligned(t: Text, start: number, end: number): boolean {
  const first = t.tokens[t.tokenAt[start]!]!;
  const last = t.tokens[t.tokenAt[end - 1]!]!;
  if (first === last) return true;
  return first.start === start && last.end === end;
}

/** The English parts of a mixed term (stop…不了) start and end where words do. */
function latinAligned(t: Text, parts: string[], start: number, gaps: [number, number][]): boolean {
  // Each part starts where the gap before it ends (or right after the part before, with no gap).
  let at = start;
  let gap = 0;
  for (const part of parts) {
    const to = at + part.length;
    if (!isCjkTerm(part) && (t.tokens[t.tokenAt[at]!]!.start !== at || t.tokens[t.tokenAt[to - 1]!]!.end !== to)) return false;
    const g = gaps[gap];
    if (g && g[0] === to) {
      at = g[1];
      gap++;
    } else at = to;
  }
  return true;
}

/** The match is exactly one word of the segmentation. */
function wholeWord(t: Text, start: number, end: number): boolean {
  const tok = t.tokens[t.tokenAt[start]!]!;
  return tok.start === start && tok.end === end;
}

/** Characters between two parts of a gapped Chinese term, at most, within one clause. */
const ZH_GAP = 6;
const EN_GAP = 3;

function clauseBreakBetween(t: Text, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const tok = t.tokens[t.tokenAt[k]!]!;
    if (tok.kind === 'break') return true;
  }
  return false;
}

/** What may follow a word inside a longer one without changing it (吐了, 疼得). */
const PARTICLES = /^[了着过的得地]+$/;

/**
 * The first part of a gapped term ends inside a word that is another concept's term and not the part
 * with a particle: 血…不停 is not in 血压一直不停 (血压 is blood pressure), 吐…血 is in 吐了半碗血.
 */
function firstPartInsideOtherWord(c: CompiledRuleSet, t: Text, term: Term, start: number): boolean {
  const first = (term.parts as string[])[0]!;
  const end = start + first.length;
  const tok = t.tokens[t.tokenAt[end - 1]!]!;
  if (tok.end <= end || tok.start !== start) return false;
  const concepts = c.lexicon.get(tok.text);
  if (!concepts || concepts.has(term.concept)) return false;
  return !PARTICLES.test(tok.text.slice(first.length));
}

function matchZh(c: CompiledRuleSet, t: Text, term: Term, out: Match[]) {
  const parts = term.parts as string[];
  const first = parts[0]!;
  const find = (index: number, from: number, exactOnly: boolean): { at: number; fuzzy: boolean }[] => {
    const part = parts[index]!;
    const found: { at: number; fuzzy: boolean }[] = [];
    for (let at = t.s.indexOf(part, from); at >= 0; at = t.s.indexOf(part, at + 1)) found.push({ at, fuzzy: false });
    if (exactOnly || part.length < 2) return found;
    // Homophones typed through pinyin input: same syllables, at least one character right.
    const want = term.syllables![index]!;
    if (want.length !== part.length) return found;
    for (let at = from; at + part.length <= t.s.length; at++) {
      if (t.s.startsWith(part, at)) continue;
      let same = 0;
      let ok = true;
      for (let n = 0; n < part.length && ok; n++) {
        if (t.pinyin[at + n] !== want[n]) ok = false;
        else if (t.s[at + n] === part[n]) same++;
      }
      if (ok && same > 0) found.push({ at, fuzzy: true });
    }
    return found;
  };
  for (const start of find(0, 0, false)) {
    let end = start.at + first.length;
    let fuzzy = start.fuzzy;
    let ok = true;
    const gaps: [number, number][] = [];
    for (let index = 1; index < parts.length; index++) {
      const part = parts[index]!;
      const next = find(index, end, false).find((f) => f.at - end <= ZH_GAP && !clauseBreakBetween(t, end, f.at));
      if (!next) {
        ok = false;
        break;
      }
      fuzzy ||= next.fuzzy;
      if (next.at > end) gaps.push([end, next.at]);
      end = next.at + part.length;
    }
    if (!ok) continue;
    // An English part of a mixed term (stop…不了, ot…到想死) is whole words: not the "ot" of "not".
    if (!latinAligned(t, parts, start.at, gaps)) continue;
    if (parts.length === 1 && !aligned(t, start.at, end)) continue;
    // A one-character term (血, 眼, 喘) is a whole word, not a character inside one (验血, 眼前, 哮喘).
    if (parts.length === 1 && first.length === 1 && !wholeWord(t, start.at, end)) continue;
    if (parts.length > 1 && (!aligned(t, start.at, start.at + first.length) || !aligned(t, end - parts.at(-1)!.length, end))) continue;
    if (parts.length > 1 && firstPartInsideOtherWord(c, t, term, start.at)) continue;
    out.push({ concept: term.concept, start: start.at, end, text: t.s.slice(start.at, end), fuzzy, ...(gaps.length ? { gaps } : {}) });
  }
}

/** Two letters swapped (chset, chest): one typo, though Levenshtein counts two. */
function transposed(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const diff = [...a].flatMap((ch, i) => (ch === b[i] ? [] : [i]));
  return diff.length === 2 && diff[1] === diff[0]! + 1 && a[diff[0]!] === b[diff[1]!] && a[diff[1]!] === b[diff[0]!];
}

function wordMatches(c: CompiledRuleSet, w: string, spec: { word: string; prefix: boolean }, fuzzyOk: boolean): 'exact' | 'fuzzy' | undefined {
  if (spec.prefix ? w.startsWith(spec.word) : w === spec.word) return 'exact';
  if (!fuzzyOk || c.known.has(w) || spec.word.length < 5 || w[0] !== spec.word[0]) return undefined;
  // A misspelt prefix is about as long as the prefix (not "should" for shoulder*).
  if (spec.prefix && w.length < spec.word.length - 1) return undefined;
  const allowed = spec.word.length >= 8 ? 2 : 1;
  if (transposed(w.slice(0, spec.prefix ? spec.word.length : undefined), spec.word)) return 'fuzzy';
  const against = spec.prefix ? w.slice(0, spec.word.length + 1) : w;
  const d = spec.prefix ? Math.min(distance(against, spec.word), distance(w.slice(0, spec.word.length), spec.word)) : distance(w, spec.word);
  return d <= allowed ? 'fuzzy' : undefined;
}

function matchEn(c: CompiledRuleSet, t: Text, term: Term, out: Match[], fuzzyOk: boolean) {
  const parts = term.parts as { word: string; prefix: boolean }[][];
  for (let i = 0; i < t.words.length; i++) {
    let k = i;
    let fuzzy = false;
    let ok = true;
    const gaps: [number, number][] = [];
    for (let p = 0; p < parts.length && ok; p++) {
      const part = parts[p]!;
      // The first word of a later part may come up to EN_GAP words later, in the same clause.
      let placed = false;
      for (let gap = 0; gap <= (p === 0 ? 0 : EN_GAP) && !placed; gap++) {
        const s = k + gap;
        if (s + part.length > t.words.length) break;
        if (p > 0 && clauseBreakBetween(t, t.tokens[t.words[k - 1]!.i]!.end, t.tokens[t.words[s]!.i]!.start)) break;
        let partFuzzy = false;
        let good = true;
        for (let n = 0; n < part.length && good; n++) {
          const m = wordMatches(c, t.words[s + n]!.w, part[n]!, fuzzyOk);
          if (!m) good = false;
          else if (m === 'fuzzy') partFuzzy = true;
          // Words of one part are adjacent: nothing but spaces between them.
          if (good && n > 0 && t.words[s + n]!.i - t.words[s + n - 1]!.i > 2) good = false;
        }
        if (good) {
          placed = true;
          fuzzy ||= partFuzzy;
          if (gap > 0) gaps.push([t.tokens[t.words[k - 1]!.i]!.end, t.tokens[t.words[s]!.i]!.start]);
          k = s + part.length;
        }
      }
      if (!placed) ok = false;
    }
    if (!ok) continue;
    const start = t.tokens[t.words[i]!.i]!.start;
    const end = t.tokens[t.words[k - 1]!.i]!.end;
    out.push({ concept: term.concept, start, end, text: t.s.slice(start, end), fuzzy, ...(gaps.length ? { gaps } : {}) });
  }
}

/**
 * Longest first, exact before fuzzy; a match inside one already taken is dropped (抽筋 inside 腿抽筋),
 * and so is one that overlaps a taken match of the same concept. Matches of different concepts that
 * only overlap both stay ("crushing chest" and "chest pain").
 */
function choose(matches: Match[], strict = false): Match[] {
  const sorted = [...matches].sort((a, b) => b.end - b.start - (a.end - a.start) || Number(a.fuzzy) - Number(b.fuzzy) || a.start - b.start);
  const taken: Match[] = [];
  for (const m of sorted) {
    // The same words in two lists ("years ago": history before and after; 见红: bleeding and vaginal
    // bleeding) stay for both.
    const same = (o: Match) => o.start === m.start && o.end === m.end && o.concept !== m.concept;
    const clash = taken.some(
      (o) => !same(o) && ((o.start <= m.start && m.end <= o.end) || ((strict || o.concept === m.concept) && m.start < o.end && o.start < m.end)),
    );
    if (!clash) taken.push(m);
  }
  return taken.sort((a, b) => a.start - b.start);
}

function findAll(c: CompiledRuleSet, t: Text, terms: Term[], fuzzyOk: boolean): Match[] {
  const out: Match[] = [];
  for (const term of terms) {
    if (term.lang === 'zh') {
      if (fuzzyOk) matchZh(c, t, term, out);
      else matchZhExact(t, term, out);
    } else matchEn(c, t, term, out, fuzzyOk);
  }
  return out;
}

function matchZhExact(t: Text, term: Term, out: Match[]) {
  const part = (term.parts as string[]).join('');
  for (let at = t.s.indexOf(part); at >= 0; at = t.s.indexOf(part, at + 1)) {
    if ((term.parts as string[]).length === 1 && !aligned(t, at, at + part.length) && term.concept !== 'termination') continue;
    // A one-character trigger (不, 没, 过) only where a word starts: not the 过 of 醒过来.
    if (part.length === 1 && t.tokens[t.tokenAt[at]!]!.start !== at) continue;
    out.push({ concept: term.concept, start: at, end: at + part.length, text: part, fuzzy: false });
  }
}

// ---------------------------------------------------------------------------------------------------
// Context

interface Found {
  concept: string;
  text: string;
  start: number;
  end: number;
  status: Status;
}

function clauseOf(t: Text, pos: number, breaks: number[]): [number, number] {
  let from = 0;
  let to = t.s.length;
  for (const b of breaks) {
    if (b <= pos) from = Math.max(from, b);
    else to = Math.min(to, b);
  }
  return [from, to];
}

/**
 * A year before this one (in 2019, back in 2015, 2019年) says the past, before or after the concept:
 * "had a seizure once in 2019". Years are read as history triggers of both kinds.
 */
export function pastYears(s: string, now = new Date().getFullYear()): Match[] {
  const out: Match[] = [];
  for (const m of s.matchAll(/(?:\b(?:back )?in |\b)((?:19|20)\d{2})(?:\s*年|\b)/g)) {
    const year = Number(m[1]);
    if (year >= now || year < 1900) continue;
    // A bare number is a year only with "in" before it or 年 after it (not 2000 mg).
    if (!/^(?:back )?in /.test(m[0]) && !m[0].includes('年')) continue;
    const start = m.index!;
    const end = start + m[0].length;
    for (const concept of ['history-before', 'history-after']) out.push({ concept, start, end, text: m[0], fuzzy: false });
  }
  return out;
}

/** How many words an after-trigger (好了, resolved) reaches back: a close word, not the clause (胸痛 … 准备好了). */
const AFTER_REACH = 4;

/** Content words (Chinese words, English words) between two positions. */
function wordsBetween(t: Text, from: number, to: number): number {
  let n = 0;
  for (const tok of t.tokens) if (tok.start >= from && tok.end <= to && (tok.kind === 'cjk' || tok.kind === 'word')) n++;
  return n;
}

function context(c: CompiledRuleSet, t: Text, concepts: Match[]): Found[] {
  // Triggers never inside a concept's own words (不 in 不想活, not in "can not breathe").
  const inGap = (tr: Match, m: Match) => (m.gaps ?? []).some(([a, b]) => tr.start >= a && tr.end <= b);
  const triggers = choose([...findAll(c, t, c.triggers, false), ...pastYears(t.s)], true).filter(
    (tr) => !concepts.some((m) => tr.start < m.end && m.start < tr.end && !inGap(tr, m)),
  );
  const breaks: number[] = [];
  for (const tok of t.tokens) if (tok.kind === 'break') breaks.push(tok.start, tok.end);
  for (const tr of triggers) if (tr.concept === 'termination') breaks.push(tr.start, tr.end);
  // An English comma goes on (a list: "no fever, chills or cough") when "or"/"nor" follows in the sentence.
  const listBreaks = new Set<number>();
  for (const tok of t.tokens) {
    if (tok.kind === 'break' && tok.text === ',') {
      const rest = t.s.slice(tok.end).split(/[.;!?。；！？\n]/)[0]!;
      if (/\b(or|nor)\b/.test(rest)) listBreaks.add(tok.start).add(tok.end);
    }
  }
  const scopeBreaks = breaks.filter((b) => !listBreaks.has(b));
  const window = c.set.context.window;
  return concepts.map((m) => {
    const [from, to] = clauseOf(t, m.start, scopeBreaks);
    const [cFrom, cTo] = clauseOf(t, m.start, breaks);
    let status: Status = 'present';
    const inClause = triggers.filter((tr) => tr.start >= Math.min(from, cFrom) && tr.end <= Math.max(to, cTo));
    const recent = triggers.some((tr) => tr.concept === 'recency' && tr.start >= cFrom && tr.end <= cTo);
    if (triggers.some((tr) => tr.concept === 'negation-before' && inGap(tr, m))) status = 'negated';
    for (const tr of inClause) {
      const before = tr.end <= m.start && tr.start >= from && wordsBetween(t, tr.end, m.start) < window;
      // "过" after a verb (晕倒过) reaches only the concept right before it; other after-triggers the clause.
      const after = tr.start >= m.end && tr.end <= cTo && wordsBetween(t, m.end, tr.start) < (tr.text.length === 1 ? 1 : AFTER_REACH);
      if (tr.concept === 'negation-before' && before) status = 'negated';
      if (tr.concept === 'negation-after' && after) status = 'negated';
      // 差点昏过去, nearly fainted: only the word right after.
      if (tr.concept === 'near' && tr.end <= m.start && tr.start >= cFrom && wordsBetween(t, tr.end, m.start) === 0) status = 'negated';
      if (status === 'present' && !recent && ((tr.concept === 'history-before' && before) || (tr.concept === 'history-after' && after))) status = 'history';
    }
    return { concept: m.concept, text: m.text, start: m.start, end: m.end, status };
  });
}

// ---------------------------------------------------------------------------------------------------
// Patient

const ZH_DIGITS: Record<string, number> = { 零: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };

function zhNumber(s: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  if (s === '半') return 0.5;
  if (s === '十') return 10;
  const m = /^([一二两三四五六七八九])?十([一二三四五六七八九])?$/.exec(s);
  if (m) return (m[1] ? ZH_DIGITS[m[1]]! : 1) * 10 + (m[2] ? ZH_DIGITS[m[2]]! : 0);
  if (s.length === 1 && s in ZH_DIGITS) return ZH_DIGITS[s];
  return undefined;
}

const NUM = '(\\d+(?:\\.\\d+)?|[一二两三四五六七八九十半]{1,3})';

/** The patient's age in months, when the complaint says it. */
export function ageInMonths(s: string, childNamed: boolean): number | undefined {
  const years = new RegExp(`${NUM}\\s*(?:周岁|岁半?|years?[ -]old|yrs?[ -]old|y/?o\\b|-year-old)`).exec(s);
  if (years) {
    const n = zhNumber(years[1]!);
    if (n !== undefined) return n * 12 + (years[0].includes('岁半') ? 6 : 0);
  }
  const months = new RegExp(`${NUM}\\s*(?:个多月|个月大|个月的|个月|months?[ -]old|-month-old|month old)`).exec(s);
  if (months && (childNamed || /大|old/.test(months[0]))) return zhNumber(months[1]!);
  const weeks = new RegExp(`${NUM}\\s*(?:周大|weeks?[ -]old|-week-old)`).exec(s);
  if (weeks) return (zhNumber(weeks[1]!) ?? 0) / 4.3;
  const days = new RegExp(`(?:出生|刚生|生下来|才生)\\s*${NUM}\\s*天|${NUM}\\s*(?:天大|days?[ -]old|-day-old)`).exec(s);
  if (days) return 0;
  // An age in brackets after a person: "kid (9)", "my brother (17)", "女儿(6)".
  const bracket = new RegExp(`(?:${PERSON})\\s*\\(\\s*(\\d{1,2})\\s*(?:y|yo|yrs?|years?|岁)?\\s*\\)`).exec(s);
  if (bracket) return Number(bracket[1]) * 12;
  return undefined;
}

const PERSON = [
  '\\b(?:kid|son|daughter|boy|girl|child|brother|sister|mom|mum|mother|dad|father|husband|wife|grandma|grandpa|grandmother|grandfather|friend|he|she|patient)',
  '孩子|儿子|女儿|闺女|宝宝|小孩|弟弟|妹妹|哥哥|姐姐|老公|老婆|爸|妈|爷爷|奶奶|外公|外婆',
].join('|');

/**
 * Weeks of pregnancy without the word "pregnant": "im 12 weeks", "she's 20 wks", "12 weeks along",
 * "34 wks," opening the message. A number of weeks after "for", or before "ago", "old", "of", "post…",
 * is a duration or an age, not a pregnancy; a bare number opening the message counts from 13 weeks
 * (fewer are more often how long a symptom has lasted). Between 3 and 42 weeks.
 */
export function pregnancyWeeks(s: string): string | undefined {
  const W = String.raw`(\d{1,2})(?:\s*\+\s*\d)?\s*(?:weeks?|wks?|w)\b`;
  const NOT_AFTER = String.raw`(?!\s*(?:ago|old|of|post|after|out|into|since|before|later|from|in\b|back|late|early|behind))`;
  const patterns: [RegExp, number][] = [
    [new RegExp(String.raw`\b(?:i am|im|she is|she's|shes|wife is|wife's|girlfriend is|partner is)\s+(?:about\s+|almost\s+|nearly\s+|only\s+|just\s+)?${W}${NOT_AFTER}`), 3],
    [new RegExp(String.raw`\b${W}\s*(?:pregnant|preg|along|gestation|pg)\b`), 3],
    [new RegExp(String.raw`^${W}\s*[,.;:!，。；]`), 13],
  ];
  for (const [re, min] of patterns) {
    const m = re.exec(s);
    if (m && Number(m[1]) >= min && Number(m[1]) <= 42) return m[0].replace(/[\s,.;:!，。；]+$/, '');
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Deciding

export interface TriageResult extends Triage {
  /** Every concept found, with its status (for the corpus report and for tests). */
  found: { concept: string; text: string; status: Status }[];
}

/** How much a concept in the past counts toward a department, against one in the present. */
const HISTORY_WEIGHT = 0.4;

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? '');
}

export function classifyWith(c: CompiledRuleSet, complaint: string): TriageResult {
  const set = c.set;
  const s = normalise(complaint, set.rewrites);
  const lang: Lang = CJK.test(s) ? 'zh' : 'en';
  const t = analyse(c, s);
  const concepts = choose(findAll(c, t, c.terms, true));
  // Who the patient is (a child, pregnant) is not in the past: only a negation takes it away.
  const patientConcepts = new Set([set.patient.child, set.patient.infant, set.patient.pregnant]);
  const found = context(c, t, concepts).map((f) => (f.status === 'history' && patientConcepts.has(f.concept) ? { ...f, status: 'present' as const } : f));
  // Weeks of pregnancy said without "pregnant" ("im 12 weeks", "34 wks,"), unless pregnancy is negated.
  const weeks = pregnancyWeeks(s);
  if (weeks && !found.some((f) => f.concept === set.patient.pregnant)) {
    const start = s.indexOf(weeks);
    found.push({ concept: set.patient.pregnant, text: weeks, start, end: start + weeks.length, status: 'present' });
    found.sort((a, b) => a.start - b.start);
  }
  const present = found.filter((f) => f.status === 'present');
  const inPlay = (concept: string) => present.filter((f) => f.concept === concept);
  // A concept explained by a harmless cause the patient states (black stools, iron tablets) is not a red flag.
  const explained = (concept: string) => (set.concepts[concept]?.explainedBy ?? []).some((e) => inPlay(e).length > 0);
  const inRule = (concept: string) => (explained(concept) ? [] : inPlay(concept));

  const adultSpeaking = set.patient.adult.some((a) => inPlay(a).length > 0);
  const childNamed = !adultSpeaking && (inPlay(set.patient.child).length > 0 || inPlay(set.patient.infant).length > 0);
  let months = ageInMonths(s, childNamed);
  // A newborn named without an age: the youngest there is.
  if (months === undefined && inPlay(set.patient.infant).length > 0) months = 0;
  const child = months !== undefined ? months < set.child.ageUnderYears * 12 : childNamed;
  const pregnant = inPlay(set.patient.pregnant).length > 0;

  const excluded: TriageEvidence[] = found.filter((f) => f.status !== 'present').map((f) => ({ concept: f.concept, words: f.text, status: f.status }));
  const name = (d: string) => set.departments[d]?.[lang] ?? d;
  const evidence = (concepts: string[], forRule = false): TriageEvidence[] =>
    present
      .filter((f) => concepts.includes(f.concept) && !(forRule && explained(f.concept)))
      .map((f) => ({ concept: f.concept, words: f.text, status: 'present' as const }));

  for (const rule of set.rules) {
    const w = rule.when ?? {};
    if (w.child !== undefined && w.child !== child) continue;
    if (w.adult !== undefined && w.adult === child) continue;
    if (w.pregnant !== undefined && w.pregnant !== pregnant) continue;
    if (w.ageUnderMonths !== undefined && !(months !== undefined && months < w.ageUnderMonths)) continue;
    if (!rule.all.every((group) => group.some((concept) => inRule(concept).length > 0))) continue;
    const department = child ? set.child.department : rule.department;
    return {
      department,
      urgency: rule.urgency,
      advice: fill(set.advice[rule.urgency][lang], { department: name(department), why: rule.why[lang] }),
      rule: rule.id,
      matched: evidence(rule.all.flat(), true),
      ...(excluded.length ? { excluded } : {}),
      found,
    };
  }

  // No rule: the department whose concepts weigh most; ties go to the first mentioned.
  const score = new Map<string, { weight: number; first: number }>();
  for (const f of found) {
    const d = set.concepts[f.concept]?.department;
    if (!d || f.status === 'negated') continue;
    // A past illness still says where the patient belongs (以前查出来有早搏，最近又频繁了), with less weight.
    const weight = (set.concepts[f.concept]!.weight ?? 1) * (f.status === 'history' ? HISTORY_WEIGHT : 1);
    const cur = score.get(d) ?? { weight: 0, first: f.start };
    score.set(d, { weight: cur.weight + weight, first: Math.min(cur.first, f.start) });
  }
  const best = [...score.entries()].sort((a, b) => b[1].weight - a[1].weight || a[1].first - b[1].first)[0];
  const department = child ? set.child.department : (best?.[0] ?? set.fallback.department);
  const urgency = set.fallback.urgency;
  const supporting = Object.entries(set.concepts)
    .filter(([, v]) => v.department === best?.[0])
    .map(([k]) => k);
  return {
    department,
    urgency,
    advice: fill(set.advice[urgency][lang], { department: name(department), why: '' }),
    rule: child ? 'child' : best ? `department:${best[0]}` : 'fallback',
    matched: child ? evidence([set.patient.child, set.patient.infant, ...supporting]) : evidence(supporting),
    ...(excluded.length ? { excluded } : {}),
    found,
  };
}
