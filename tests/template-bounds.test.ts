// Every duration of a pathway or program template is bounded, and the seeded templates pass the same
// validation as an admin's: a template whose journeys would fail (a window of a hundred years, an SLA of none) is refused.
import { describe, expect, it } from 'vitest';
import pathways from '../db/seed/pathways.json' with { type: 'json' };
import programTemplates from '../db/seed/program-templates.json' with { type: 'json' };
import { ProgramTemplateSchema } from '../api/program-schemas.js';
import { PathwayTemplateSchema } from '../api/schemas.js';

type Json = Record<string, unknown>;
const pathway = pathways[0] as Json;
const program = programTemplates[0] as Json;

/** The issues of parsing `body`, as path: message. */
function issues(schema: typeof PathwayTemplateSchema | typeof ProgramTemplateSchema, body: unknown): string[] {
  const r = schema.safeParse(body);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('seeded templates', () => {
  it.each(pathways.map((t) => [t.id, t]))('pathway %s passes the API validation', (_id, t) => {
    expect(issues(PathwayTemplateSchema, t)).toEqual([]);
  });
  it.each(programTemplates.map((t) => [t.id, t]))('program template %s passes the API validation', (_id, t) => {
    expect(issues(ProgramTemplateSchema, t)).toEqual([]);
  });
});

describe('pathway template durations', () => {
  // [field, the longest accepted, the shortest accepted]
  const BOUNDS: [string, string, string][] = [
    ['paymentWindow', 'P7D', 'PT1S'],
    ['noShowGrace', 'P1D', 'PT1S'],
    ['consultStartSla', 'P1D', 'PT1S'],
    ['pharmacistReviewSla', 'P7D', 'PT1S'],
    ['prescriptionValidity', 'P90D', 'PT1M'],
    ['bookingWindow', 'P366D', 'PT1S'],
    ['outcomeSla', 'P7D', 'PT1S'],
    ['referralResponseSla', 'P30D', 'PT1S'],
    ['deliverySla', 'P30D', 'PT1S'],
    ['examResultSla', 'P30D', 'PT1S'],
  ];
  it.each(BOUNDS)('%s: up to %s and from %s; a second more or less, a hundred years or none is refused by name', (field, max, min) => {
    expect(issues(PathwayTemplateSchema, { ...pathway, [field]: max })).toEqual([]);
    expect(issues(PathwayTemplateSchema, { ...pathway, [field]: min })).toEqual([]);
    const over = `${max}T1S`;
    const under = min === 'PT1M' ? 'PT59S' : 'PT0S';
    for (const bad of [over, under, 'P5200W']) {
      expect(issues(PathwayTemplateSchema, { ...pathway, [field]: bad }), bad).toEqual([`${field}: from ${min} to ${max}`]);
    }
  });
  it('each appointment reminder: up to P30D before the appointment', () => {
    expect(issues(PathwayTemplateSchema, { ...pathway, appointmentReminders: ['P30D', 'PT1S'] })).toEqual([]);
    expect(issues(PathwayTemplateSchema, { ...pathway, appointmentReminders: ['P1D', 'P30DT1S'] })).toEqual(['appointmentReminders.1: from PT1S to P30D']);
  });
});

describe('program template durations', () => {
  it('follow-ups every day to every year; leads, grace and education within their bounds', () => {
    expect(issues(ProgramTemplateSchema, { ...program, followUpEvery: 'P366D', followUpLead: 'P90D' })).toEqual([]);
    expect(issues(ProgramTemplateSchema, { ...program, followUpEvery: 'P367D' })).toEqual(['followUpEvery: from PT1S to P366D']);
    expect(issues(ProgramTemplateSchema, { ...program, followUpEvery: 'P400D', followUpLead: 'P91D' })).toEqual([
      'followUpEvery: from PT1S to P366D',
      'followUpLead: from PT1S to P90D',
    ]);
    expect(issues(ProgramTemplateSchema, { ...program, refillLead: 'P91D' })).toEqual(['refillLead: from PT1S to P90D']);
    expect(issues(ProgramTemplateSchema, { ...program, lateGrace: 'P8D' })).toEqual(['lateGrace: from PT1S to P7D']);
    expect(issues(ProgramTemplateSchema, { ...program, lateGrace: 'PT0S' })).toEqual(['lateGrace: from PT1S to P7D']);
    expect(issues(ProgramTemplateSchema, { ...program, education: [{ topic: 'diet', after: 'P367D' }] })).toEqual(['education.0.after: from PT1S to P366D']);
  });
});
