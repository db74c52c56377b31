// The triage engine on the seeded rules: DESIGN.md's examples, negation and history, children and
// infants, typos, word boundaries, and the explanation a journey keeps. The labelled corpus is in
// triage-corpus.test.ts.
import { describe, expect, it } from 'vitest';
import triageRules from '../db/seed/triage-rules.json' with { type: 'json' };
import { classify } from '../activities/triage.js';
import { ageInMonths, classifyWith, compile, normalise, type TriageRuleSet } from '../activities/triage-engine.js';

const rules = compile(triageRules as unknown as TriageRuleSet);
const triage = (complaint: string) => classify(complaint, rules);
const status = (complaint: string) => Object.fromEntries(classifyWith(rules, complaint).found.map((f) => [f.text, f.status]));

describe('triage: departments (DESIGN.md examples)', () => {
  it.each([
    ['高血压三年，最近控制不好', 'cardiology'],
    ['my blood pressure is high', 'cardiology'],
    ['糖尿病复查', 'endocrinology'],
    ['空腹血糖偏高', 'endocrinology'],
    ['diabetes follow-up', 'endocrinology'],
    ['手臂出现皮疹', 'dermatology'],
    ['itchy rash on my arm', 'dermatology'],
    ['咳嗽两周', 'respiratory'],
    ['dry cough for two weeks', 'respiratory'],
    ['宝宝发烧咳嗽', 'pediatrics'],
    ['头痛三天', 'neurology'],
    ['something feels off', 'general-medicine'],
  ])('%s → %s', (complaint, department) => {
    const t = triage(complaint);
    expect(t.department).toBe(department);
    expect(t.urgency).toBe('routine');
  });

  it('says which concepts chose the department, and in the language of the complaint', () => {
    expect(triage('最近血压高，头也有点晕')).toMatchObject({
      department: 'cardiology',
      rule: 'department:cardiology',
      matched: [{ concept: 'hypertension', words: '血压高', status: 'present' }],
    });
    expect(triage('最近血压高').advice).toContain('心血管内科');
    expect(triage('my blood pressure is high').advice).toContain('Cardiology');
    expect(triage('something feels off')).toMatchObject({ rule: 'fallback', matched: [] });
  });
});

describe('triage: red flags', () => {
  it.each([
    ['胸痛伴呼吸困难', 'red-flag-chest-pain-breathless', 'cardiology'],
    ['胸闷气短出冷汗', 'red-flag-chest-pain-breathless', 'cardiology'],
    ['chest pain with shortness of breath', 'red-flag-chest-pain-breathless', 'cardiology'],
    ['嘴歪了说话不清楚', 'red-flag-stroke', 'neurology'],
    ['face drooping and slurred speech', 'red-flag-stroke', 'neurology'],
    ['拉黑便', 'red-flag-gi-bleeding', 'gastroenterology'],
    ['吐血了', 'red-flag-gi-bleeding', 'gastroenterology'],
    ['伤口大出血止不住', 'red-flag-heavy-bleeding', 'general-medicine'],
    ['老人突然昏迷', 'red-flag-unconscious', 'neurology'],
    ['he passed out and is unresponsive', 'red-flag-unconscious', 'neurology'],
    ['孩子发烧抽筋', 'red-flag-seizure', 'pediatrics'],
    ['我不想活了', 'red-flag-suicide', 'psychiatry'],
    ['活着没意思，想一了百了', 'red-flag-suicide', 'psychiatry'],
    ['I want to kill myself', 'red-flag-suicide', 'psychiatry'],
    ['吃了海鲜嗓子发紧喘不上气', 'red-flag-allergic-airway', 'general-medicine'],
    ['怀孕8周下面出血肚子疼', 'red-flag-pregnancy-bleeding', 'gynecology'],
  ])('%s → %s', (complaint, rule, department) => {
    const t = triage(complaint);
    expect(t).toMatchObject({ urgency: 'emergency', rule, department });
    expect(t.matched!.length).toBeGreaterThan(0);
  });

  it('says why in the advice, in the complaint’s language', () => {
    const zh = triage('胸闷气短出冷汗');
    expect(zh.advice).toContain('120');
    expect(zh.advice).toContain('心肌梗死');
    expect(zh.matched!.map((m) => m.words)).toEqual(['胸闷', '气短', '出冷汗']);
    const en = triage('crushing chest pain and sweating');
    expect(en.advice).toMatch(/emergency department now/);
    expect(en.advice).toContain('heart attack');
  });

  it('keeps chest pain alone urgent, not an emergency, for an adult', () => {
    expect(triage('胸痛两天')).toMatchObject({ department: 'cardiology', urgency: 'urgent', rule: 'urgent-chest-pain' });
  });
});

describe('triage: negation and history', () => {
  it.each([
    ['没有胸痛也不气短，就是最近血压高', 'cardiology'],
    ["I'm not suicidal, just can't sleep", 'psychiatry'],
    ['denies chest pain, cough for a week', 'respiratory'],
    ['去年中过风，现在血压控制得还行想开点药', 'cardiology'],
    ['无发热无咳嗽，皮肤起疹子', 'dermatology'],
    ['没吐血，就是胃有点反酸', 'gastroenterology'],
    ['no chest pain or shortness of breath, my knee hurts', 'orthopedics'],
  ])('%s: no red flag, %s', (complaint, department) => {
    expect(triage(complaint)).toMatchObject({ urgency: 'routine', department });
  });

  it('still flags the present red flag beside a negated one', () => {
    const t = triage('没有胸痛，但是突然说话不清楚嘴也歪了');
    expect(t).toMatchObject({ urgency: 'emergency', rule: 'red-flag-stroke' });
    expect(t.excluded).toEqual([{ concept: 'chest-pain', words: '胸痛', status: 'negated' }]);
  });

  it('reads the scope of a trigger: a clause, not the rest of the complaint', () => {
    expect(status('没有发烧，咳嗽三天')).toEqual({ 发烧: 'negated', 咳嗽: 'present' });
    expect(status('no fever, chills or cough')).toEqual({ fever: 'negated', chills: 'negated', cough: 'negated' });
    expect(status('no fever, cough for 3 days')).toEqual({ fever: 'negated', cough: 'present' });
    // A negation between the parts of a term: 嘴唇不肿.
    expect(status('嘴唇不肿')).toEqual({ 嘴唇不肿: 'negated' });
  });

  it('does not take words inside a symptom, or pseudo-triggers, for negations', () => {
    expect(status('胃不舒服，没有吐血')).toEqual({ 胃不舒服: 'present', 吐血: 'negated' });
    expect(triage('胃不舒服，吐血').urgency).toBe('emergency');
    expect(triage('不知道是不是中风，嘴有点歪').urgency).toBe('emergency');
    expect(triage("not sure if i'm suicidal").urgency).toBe('emergency');
  });

  it('puts history aside unless the clause says it is happening now', () => {
    expect(status('以前晕倒过一次')).toEqual({ 晕倒: 'history' });
    expect(status('history of seizures')).toEqual({ seizures: 'history' });
    expect(status('had a heart attack 3 yrs ago')).toEqual({ 'heart attack': 'history' });
    expect(triage('以前晕倒过，今天又晕倒了').urgency).toBe('emergency');
    // 过 after a word that is not the symptom (醒过来) is not history.
    expect(status('半夜心慌醒过来')).toEqual({ 心慌: 'present' });
  });
});

describe('triage: patients', () => {
  it.each([
    ['宝宝3个月', 3],
    ['宝宝两个月发烧', 2],
    ['我65岁', 780],
    ['孩子三岁半', 42],
    ['my 5 year old', 60],
    ['a 6-week-old baby', 6 / 4.3],
    ['咳嗽3个月', undefined],
  ])('reads the age in %s', (text, months) => {
    const childNamed = /宝宝|孩子|baby/.test(text);
    const got = ageInMonths(normalise(text), childNamed);
    if (months === undefined) expect(got).toBeUndefined();
    else expect(got).toBeCloseTo(months, 5);
  });

  it('makes a fever urgent in an infant under three months, and routine pediatrics after', () => {
    expect(triage('宝宝两个月 发烧38度')).toMatchObject({ urgency: 'urgent', department: 'pediatrics', rule: 'urgent-infant-fever' });
    expect(triage('新生儿发热')).toMatchObject({ urgency: 'urgent', department: 'pediatrics' });
    expect(triage('宝宝8个月 发烧38度')).toMatchObject({ urgency: 'routine', department: 'pediatrics', rule: 'child' });
    expect(triage('my 10 year old has a rash')).toMatchObject({ urgency: 'routine', department: 'pediatrics' });
    // Someone who just had a child is not one.
    expect(triage('生完孩子以后心情很低落 老是想哭').department).toBe('psychiatry');
  });
});

describe('triage: how patients type', () => {
  it('reads misspelt English and Chinese homophones', () => {
    expect(triage('chset pain and sweating').urgency).toBe('emergency');
    expect(triage('diabetis check').department).toBe('endocrinology');
    expect(triage('胸们气短').urgency).toBe('emergency');
    expect(triage('头腾好几天').department).toBe('neurology');
  });

  it('matches words, not letters inside other words', () => {
    expect(triage('my heart races every year').department).not.toBe('ent');
    expect(triage('earache since Monday').department).toBe('ent');
    // 便血 is not in 方便血压, and a bowl is not a bowel.
    expect(status('方便血压')).toEqual({ 血压: 'present' });
    expect(Object.keys(status('a bowl of soup'))).toEqual([]);
  });
});
