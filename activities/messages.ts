// Notification texts from message templates (data, not code): activities/messages/<language>.json holds,
// per notification kind, a few variants of a title and a body with named placeholders ({amount},
// {time}, {place}, ...), plus the localized names of departments, reason codes, delivery statuses and
// measurement types.
// This module only chooses a variant and fills it in; every word a patient reads is in those files.
// activities/messages/README.md explains them for translators.
import { z } from 'zod';
import type { Mode, NotificationKind, NotificationRequest } from '../workflows/definitions.js';
import en from './messages/en.json' with { type: 'json' };
import zhCN from './messages/zh-CN.json' with { type: 'json' };

export const LANGUAGES = ['zh-CN', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export const DEFAULT_LANGUAGE: Language = 'zh-CN';

/** A stored language, or the default for anything else (an unknown value never breaks a notification). */
export const asLanguage = (v: unknown): Language => (LANGUAGES.includes(v as Language) ? (v as Language) : DEFAULT_LANGUAGE);

const Template = z.strictObject({ title: z.string().min(1), body: z.string().min(1) });
export type Template = z.infer<typeof Template>;
const Catalogue = z.strictObject({
  language: z.enum(LANGUAGES),
  /** The Intl locale for month and weekday names and for numbers. */
  locale: z.string(),
  /** `dateTime` for a moment (`{time}`), `date` for the same moment without the clock (`{date}`). */
  formats: z.strictObject({ money: z.string(), dateTime: z.string(), date: z.string() }),
  /** Where a journey's appointment takes place, by its mode. */
  places: z.strictObject({ offline: z.string(), online: z.string() }),
  names: z.strictObject({
    departments: z.record(z.string(), z.string()),
    reasons: z.record(z.string(), z.string()),
    deliveryStatuses: z.record(z.string(), z.string()),
    /** What a chronic-care program asks the patient to measure (`bp`, `glucose`, `weight`). */
    measurements: z.record(z.string(), z.string()),
  }),
  /** Used only when no variant of a kind can be filled (never for the kinds of today: a test checks it). */
  fallback: Template,
  notifications: z.record(z.string(), z.record(z.string(), Template)),
});
export type Catalogue = z.infer<typeof Catalogue>;

/** The placeholders a template may use; a misspelt one would never be filled, so a file that has one is refused. */
export const PLACEHOLDERS = {
  dateTime: ['year', 'month', 'monthName', 'day', 'weekday', 'hour', 'minute'],
  date: ['year', 'month', 'monthName', 'day', 'weekday'],
  money: ['amount'],
  places: ['department', 'doctor'],
  notifications: ['amount', 'dueBy', 'time', 'date', 'place', 'department', 'doctor', 'exam', 'facility', 'queueNumber', 'ahead', 'count', 'reason', 'status', 'measurement'],
} as const;

export const placeholdersOf = (template: string): string[] => [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!);

/** Parses a message file and refuses unknown placeholders (a misspelt `{amonut}` would silently never be filled). */
export function checkCatalogue(file: unknown, language: Language): Catalogue {
  const c = Catalogue.parse(file);
  const errors: string[] = [];
  const check = (where: string, template: string, allowed: readonly string[]): void => {
    for (const name of placeholdersOf(template)) if (!allowed.includes(name)) errors.push(`${where}: unknown placeholder {${name}}`);
  };
  if (c.language !== language) errors.push(`language is ${c.language}, expected ${language}`);
  check('formats.dateTime', c.formats.dateTime, PLACEHOLDERS.dateTime);
  check('formats.date', c.formats.date, PLACEHOLDERS.date);
  check('formats.money', c.formats.money, PLACEHOLDERS.money);
  for (const [mode, t] of Object.entries(c.places)) check(`places.${mode}`, t, PLACEHOLDERS.places);
  check('fallback', c.fallback.title + c.fallback.body, []);
  for (const [kind, vs] of Object.entries(c.notifications)) {
    for (const [v, t] of Object.entries(vs)) check(`${kind}.${v}`, t.title + t.body, PLACEHOLDERS.notifications);
  }
  if (errors.length) throw new Error(`activities/messages/${language}.json: ${errors.join('; ')}`);
  return c;
}

/** Parsed and checked once, when the worker starts: a broken file stops the start, not a notification. */
export const CATALOGUES: Readonly<Record<Language, Catalogue>> = Object.freeze({
  'zh-CN': checkCatalogue(zhCN, 'zh-CN'),
  en: checkCatalogue(en, 'en'),
});

/** What the database says about the thing a notification concerns (read by the notify activity). */
export interface NotificationFacts {
  /** The journey's booked appointment: start, department code, the doctor's name, the mode. */
  appointment?: { start: string; department: string; doctor: string; mode: Mode };
  /** The exam's catalogue name, e.g. `血常规 (Complete blood count)`. */
  exam?: { name: string };
  /** The referred facility's name and the department code the referral is for. */
  referral?: { facility: string; department?: string };
}

export interface RenderContext {
  language: Language;
  timezone: string;
  refs?: Record<string, string>;
  facts?: NotificationFacts;
}

type Subject = 'journey' | 'prescription' | 'exam' | 'referral' | 'consultation';
const subjectOf = (refs: Record<string, string> = {}): Subject =>
  refs.consultationId ? 'consultation' : refs.examId ? 'exam' : refs.prescriptionId ? 'prescription' : refs.referralId ? 'referral' : 'journey';

/** `0` → `now`, `1` → `one`, more → none: the variant suffixes for counts (English needs the singular). */
const countSuffix = (n: unknown): string | undefined => (n === 0 ? 'now' : n === 1 ? 'one' : undefined);

/**
 * The variants to try, most specific first; `default` always ends the list. The first one that exists
 * in the language's file and whose placeholders can all be filled is used, so a variant that needs
 * a fact the database did not have (the appointment's place, the exam's name) falls back to a plainer one.
 */
export function variants(kind: NotificationKind, p: NotificationRequest['params'], refs: Record<string, string> = {}, facts: NotificationFacts = {}): string[] {
  const subject = subjectOf(refs);
  const mode = facts.appointment?.mode;
  const list: (string | undefined)[] = [];
  switch (kind) {
    case 'payment.due':
    case 'payment.refunded':
    case 'journey.no-show':
    case 'journey.referred-offline':
      list.push(subject);
      break;
    case 'appointment.reminder':
      list.push(subject === 'journey' ? mode : subject);
      break;
    case 'queue.near-turn': {
      const n = countSuffix(p.ahead);
      if (mode && n) list.push(`${mode}-${n}`);
      list.push(mode, n);
      break;
    }
    case 'journey.cancelled':
      list.push(String(p.reason), `${String(p.reason)}-before-booking`);
      break;
    case 'prescription.expired':
      list.push(String(p.reason));
      break;
    case 'delivery.update':
      list.push(String(p.status));
      break;
    case 'medication.reminder':
      // A program's dose is always one medicine (`count: 1`): it reads as a prescription's single dose.
      list.push(p.count === 1 ? 'one' : undefined);
      break;
    case 'measurement.reminder':
      // Names the measurement; an unknown type has no name, so `default` (no name) is used.
      list.push('measurement');
      break;
    case 'education':
      // One variant per topic, with the topic's own title and body; an unknown topic reads `default`.
      list.push(typeof p.topic === 'string' ? p.topic : undefined);
      break;
    case 'report.ready':
    case 'exam.scheduled':
    case 'exam.cancelled':
    case 'referral.accepted':
    case 'referral.declined':
      list.push(subject);
      break;
    case 'consultation.replied':
      list.push(countSuffix(p.count));
      break;
    case 'consultation.closed':
      // Which way it ended (`rounds-used`, or its time up: `default`); the notification's occurrence says it too.
      list.push(typeof p.end === 'string' ? p.end : undefined);
      break;
    case 'mdt.concluded':
    case 'mdt.convened':
    case 'remote.received':
    case 'remote.returned':
    case 'prescription.approved':
    case 'prescription.rejected':
    case 'prescription.cancelled':
    case 'followup.due':
    case 'refill.due':
      break;
  }
  return [...new Set([...list.filter((v): v is string => v !== undefined && v !== 'default'), 'default'])];
}

// ---- formatting -------------------------------------------------------------------------

const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** A time in the patient's timezone, in the language's pattern (`2026年12月1日（周二）14:30`, `Tue 1 Dec 2026, 14:30`). */
export function formatTime(iso: string, timezone: string, c: Catalogue): string {
  return formatMoment(iso, timezone, c, c.formats.dateTime, { dateStyle: 'medium', timeStyle: 'short' });
}

/** The day of a time in the patient's timezone, in the language's pattern (`2026年12月1日（周二）`, `Tue 1 Dec 2026`). */
export function formatDate(iso: string, timezone: string, c: Catalogue): string {
  return formatMoment(iso, timezone, c, c.formats.date, { dateStyle: 'medium' });
}

function formatMoment(iso: string, timezone: string, c: Catalogue, pattern: string, otherwise: Intl.DateTimeFormatOptions): string {
  const at = new Date(iso);
  const parts = (locale: string, o: Intl.DateTimeFormatOptions): Record<string, string> =>
    Object.fromEntries(new Intl.DateTimeFormat(locale, { timeZone: timezone, ...o }).formatToParts(at).map((x) => [x.type, x.value]));
  const n = parts('en-US', { year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const names = parts(c.locale, { weekday: 'short', month: 'short' });
  const values: Record<string, string | undefined> = {
    year: n.year,
    month: n.month,
    day: n.day,
    hour: n.hour,
    minute: n.minute,
    weekday: names.weekday,
    monthName: names.month,
  };
  return fill(pattern, values) ?? new Intl.DateTimeFormat(c.locale, { timeZone: timezone, ...otherwise }).format(at);
}

/** Fen as money: `¥12.50`, `CNY 12.50`. */
export function formatMoney(fen: number, c: Catalogue): string {
  const amount = new Intl.NumberFormat(c.locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(fen / 100);
  return fill(c.formats.money, { amount }) ?? amount;
}

/** `血常规 (Complete blood count)`: the Chinese part for zh-CN, the part in brackets for en; otherwise the whole name. */
export function localName(name: string, language: Language): string {
  const m = /^(.+?)\s*[(（]([^()（）]+)[)）]\s*$/.exec(name.trim());
  if (!m) return name.trim();
  return language === 'en' ? m[2]!.trim() : m[1]!.trim();
}

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;
/** The template with every placeholder filled, or undefined when any value is missing. */
export function fill(template: string, values: Record<string, string | undefined>): string | undefined {
  let missing = false;
  const text = template.replace(PLACEHOLDER, (_, name: string) => {
    const v = values[name];
    if (v === undefined || v === '') missing = true;
    return v ?? '';
  });
  return missing ? undefined : text;
}

/** The placeholders' values: only what the params and the database facts give, localized; never a code. */
function placeholderValues(p: NotificationRequest['params'], ctx: RenderContext, c: Catalogue): Record<string, string | undefined> {
  const facts = ctx.facts ?? {};
  const subject = subjectOf(ctx.refs);
  const time = (v: unknown): string | undefined => (isTime(v) ? formatTime(v, ctx.timezone, c) : undefined);
  // Own keys only: a code such as `constructor` is unknown, not Object.prototype's.
  const name = (map: Record<string, string>, code: unknown): string | undefined => (typeof code === 'string' && Object.hasOwn(map, code) ? map[code] : undefined);
  const a = facts.appointment;
  const department = name(c.names.departments, subject === 'referral' ? facts.referral?.department : a?.department);
  const place = a && department ? fill(c.places[a.mode], { department, doctor: a.doctor }) : undefined;
  // The moment the notification is about: the workflow's own param first, else the booked appointment.
  const moment = p.start ?? p.scheduledAt ?? p.appointmentAt ?? p.at ?? (subject === 'journey' ? a?.start : undefined);
  return {
    amount: typeof p.amount === 'number' && Number.isFinite(p.amount) ? formatMoney(p.amount, c) : undefined,
    dueBy: time(p.dueBy),
    time: time(moment),
    date: isTime(moment) ? formatDate(moment, ctx.timezone, c) : undefined,
    place,
    department,
    doctor: a?.doctor,
    exam: facts.exam ? localName(facts.exam.name, ctx.language) : undefined,
    facility: facts.referral?.facility,
    queueNumber: isCount(p.queueNumber) ? String(p.queueNumber) : undefined,
    ahead: isCount(p.ahead) ? String(p.ahead) : undefined,
    count: isCount(p.count) ? String(p.count) : undefined,
    reason: name(c.names.reasons, p.reason),
    status: name(c.names.deliveryStatuses, p.status),
    measurement: name(c.names.measurements, p.type),
  };
}

/**
 * Title and body in the patient's language and timezone, from the language's templates. Built only
 * from the params (times, amounts, counts, codes turned into names or chosen variants) and the facts
 * (department, doctor, exam, facility names): never a complaint, a diagnosis, a drug's name or an
 * exam result.
 */
export function render(kind: NotificationKind, params: NotificationRequest['params'], ctx: RenderContext): Template {
  const c = CATALOGUES[ctx.language] ?? CATALOGUES[DEFAULT_LANGUAGE];
  const templates = c.notifications[kind] ?? {};
  const values = placeholderValues(params, ctx, c);
  for (const v of variants(kind, params, ctx.refs, ctx.facts)) {
    const t = Object.hasOwn(templates, v) ? templates[v] : undefined;
    if (!t) continue;
    const title = fill(t.title, values);
    const body = fill(t.body, values);
    if (title !== undefined && body !== undefined) return { title, body };
  }
  return c.fallback;
}
