// The triage engine on the seeded rules: DESIGN.md's examples, negation and history, children and
// infants, typos, word boundaries, and the explanation a journey keeps. The labelled corpus is in
// triage-corpus.test.ts.
import { describe, expect, it } from 'vitest';
import triageRules from '../db/seed/triage-rules.json' with { type: 'json' };
import { classify, loadRules, storeRules } from '../activities/triage.js';
import { testDb } from './support/db.js';
import { ageInMonths, classifyWith, compile, normalise, pastYears, pregnancyWeeks, type TriageRuleSet } from '../activities/triage-engine.js';

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

  it('keeps chest pain alone urgent, not an emergency, for an adult, unless it is severe', () => {
    expect(triage('胸痛两天')).toMatchObject({ department: 'cardiology', urgency: 'urgent', rule: 'urgent-chest-pain' });
    expect(triage('胸口有点闷 不厉害')).toMatchObject({ urgency: 'urgent', rule: 'urgent-chest-pain' });
    for (const severe of ['胸口疼得厉害', 'crushing chest pain', 'severe chest pain', 'my chest hurts so bad, worst pain ever']) {
      expect(triage(severe), severe).toMatchObject({ department: 'cardiology', urgency: 'emergency', rule: 'red-flag-chest-pain-severe' });
    }
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

  it('reads a near miss (差点, nearly) as something that did not happen, for the next word only', () => {
    expect(triage('血糖低，差点昏过去，吃了块糖就好了')).toMatchObject({ urgency: 'routine' });
    expect(status('nearly passed out when i stood up')).toEqual({ 'passed out': 'negated' });
    expect(status('almost fainted at the gym')).toEqual({ fainted: 'negated' });
    // "almost" before other words is not about the faint.
    expect(triage('almost every day i pass out').urgency).toBe('emergency');
  });

  it('reads a past year (in 2019, 2015年) as history, before or after the concept', () => {
    expect(status('had a seizure in 2019, on keppra')).toEqual({ seizure: 'history' });
    expect(triage('had a seizure in 2019, on keppra, need a refill')).toMatchObject({ urgency: 'routine', department: 'neurology' });
    expect(status('2015年脑梗，现在恢复得挺好')).toEqual({ 脑梗: 'history' });
    expect(pastYears('seizure in 2019', 2026).map((m) => m.text)).toEqual(['in 2019', 'in 2019']);
    // This year is not the past, and a bare number is not a year (2000 mg).
    expect(pastYears('seizure in 2026', 2026)).toEqual([]);
    expect(pastYears('took 2000 mg', 2026)).toEqual([]);
  });

  it('sets a red flag aside when the patient states a harmless cause, unless it is negated', () => {
    expect(triage('在吃补铁的药，医生说大便会发黑，现在确实黑了')).toMatchObject({ urgency: 'routine', department: 'gastroenterology' });
    expect(triage('black poop since starting ferrous sulfate')).toMatchObject({ urgency: 'routine', department: 'gastroenterology' });
    expect(triage('poop is black like tar, not on any iron or pepto')).toMatchObject({ urgency: 'emergency', rule: 'red-flag-gi-bleeding' });
    expect(triage('大便跟沥青一样黑，没吃过铁剂').urgency).toBe('emergency');
    // Iron explains black stools, not vomiting blood.
    expect(triage('在吃补铁的药，今天吐血了').urgency).toBe('emergency');
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

  it('reads an age in brackets after a person', () => {
    expect(ageInMonths(normalise('kid (9) scraped his elbow'), false)).toBe(108);
    expect(ageInMonths(normalise('my brother (17) is shaking'), false)).toBe(204);
    expect(ageInMonths(normalise('two things (1) headache'), false)).toBeUndefined();
    expect(triage('kid (9) scraped his elbow, bleeding stopped').department).toBe('pediatrics');
  });

  it('reads weeks of pregnancy said without "pregnant", and not a duration', () => {
    expect(pregnancyWeeks(normalise('im 12 weeks and just passed a clot'))).toBe('im 12 weeks');
    expect(pregnancyWeeks(normalise("she's 28 wks, belly pain"))).toBe("she's 28 wks");
    expect(pregnancyWeeks(normalise('34 wks, belly is rock hard'))).toBe('34 wks');
    expect(pregnancyWeeks(normalise('20 weeks along, spotting'))).toBe('20 weeks along');
    for (const duration of ['cough for 12 weeks', '3 weeks, cough getting worse', 'i am 3 weeks out from knee surgery', 'my baby is 6 weeks old', 'im 2 weeks late'])
      expect(pregnancyWeeks(normalise(duration))).toBeUndefined();
    expect(triage('im 12 weeks and just passed a big clot with bright red blood')).toMatchObject({ urgency: 'emergency', rule: 'red-flag-pregnancy-bleeding' });
    expect(triage('34 wks, belly is rock hard and hurts nonstop')).toMatchObject({ urgency: 'emergency', department: 'gynecology' });
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

  it('takes a one-character term only as a whole word', () => {
    // 血 (blood) is a word in 血一直冒, not in 验血 or 血常规.
    expect(triage('血一直冒，按不住').urgency).toBe('emergency');
    expect(triage('怀孕了，想验血查个血常规')).toMatchObject({ urgency: 'routine', department: 'gynecology' });
  });

  it('does not start a gapped term inside another concept’s word', () => {
    // 血…止不住 is not in 血压高得止不住 (blood pressure); 吐…血 is in 吐了半碗血 (吐 with a particle).
    expect(triage('血压高得止不住')).toMatchObject({ urgency: 'routine', department: 'cardiology' });
    expect(triage('血糖一直不停地升高')).toMatchObject({ urgency: 'routine', department: 'endocrinology' });
    expect(triage('吐了半碗血').urgency).toBe('emergency');
  });

  it('matches the English part of a mixed term as whole words, without cutting English words', () => {
    // "ot…到想死" (overtime) must not cut "not" into n|ot, nor match inside it.
    expect(status('not pregnant')).toEqual({ pregnant: 'negated' });
    expect(triage('super heavy period, not pregnant, cramps but manageable').urgency).toBe('routine');
    expect(triage('OT 到想死啊哈哈，想开张病假纸，有少少伤风')).toMatchObject({ urgency: 'routine', department: 'general-medicine' });
    expect(triage('手指切到，血一直喷，按了十几分钟都 stop 不了').urgency).toBe('emergency');
    // Nor the "ot" of "shot": this 想死 is no overtime joke.
    expect(triage('打完 shot 之后好想死').urgency).toBe('emergency');
  });
});

describe('triage: the stored rule set', () => {
  it('compiles the newest stored set once, and takes a newer one (or the same version stored again) at the next call', async () => {
    const db = await testDb();
    try {
      const seeded = triageRules as unknown as TriageRuleSet;
      const vague = 'zzz';
      expect(classify(vague, await loadRules(db.sql)).department).toBe(seeded.fallback.department);
      const first = await loadRules(db.sql);
      expect(await loadRules(db.sql)).toBe(first); // compiled once: the same object while nothing changed
      // A newer version whose fallback is another department: the next call classifies with it.
      const newer: TriageRuleSet = { ...seeded, version: seeded.version + 1, fallback: { ...seeded.fallback, department: 'cardiology' } };
      await storeRules(db.sql, newer);
      const second = await loadRules(db.sql);
      expect(second).not.toBe(first);
      expect(classify(vague, second).department).toBe('cardiology');
      // The same version stored again (a new seed): compiled again, once for calls that come together.
      await storeRules(db.sql, newer);
      const together = await Promise.all([loadRules(db.sql), loadRules(db.sql), loadRules(db.sql)]);
      expect(together[0]).not.toBe(second);
      expect(new Set(together).size).toBe(1);
    } finally {
      await db.drop();
    }
  });
});
