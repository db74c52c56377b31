// Triage over the seeded rule data: the examples DESIGN.md requires, in Chinese and English.
import { describe, expect, it } from 'vitest';
import triageRules from '../db/seed/triage-rules.json' with { type: 'json' };
import { classify, type TriageRuleSet } from '../activities/triage.js';

const rules = triageRules as TriageRuleSet;

describe('triage rules', () => {
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
    const t = classify(complaint, rules);
    expect(t.department).toBe(department);
    expect(t.urgency).not.toBe('emergency');
  });

  it.each([
    '胸痛伴呼吸困难',
    '突然胸口痛，喘不上气',
    'chest pain with shortness of breath',
    'Chest pain and I am breathless',
    '口角歪斜，说话不清',
    'face drooping and slurred speech',
    '伤口大出血止不住',
    'heavy bleeding after a fall',
    '老人突然昏迷',
    'he passed out and is unresponsive',
    '我不想活了',
    'I want to kill myself',
  ])('red flag: %s → emergency', (complaint) => {
    const t = classify(complaint, rules);
    expect(t.urgency).toBe('emergency');
    expect(t.advice).toMatch(/emergency/i);
  });

  it('does not raise a red flag on chest pain alone, but marks it urgent', () => {
    expect(classify('胸痛两天', rules)).toMatchObject({ department: 'cardiology', urgency: 'urgent' });
  });

  it('matches English keywords at word starts only', () => {
    // "ear" must not be found inside "heart" or "year".
    expect(classify('my heart races every year', rules).department).not.toBe('ent');
    expect(classify('earache since Monday', rules).department).toBe('ent');
  });
});
