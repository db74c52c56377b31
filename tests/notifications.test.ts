// Notification delivery on the real PostgreSQL and a real local HTTP listener: stored once, signed,
// retried on failure, and never delivered twice for the same id. Notification texts: every kind in
// zh-CN and en from the message templates, with the facts a patient needs and no internal code, and
// the patient's language chosen from the database.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFacility } from '../activities/facilities.js';
import { recordItemTransition } from '../activities/items.js';
import { recordTransition } from '../activities/journeys.js';
import { CATALOGUES, LANGUAGES, checkCatalogue, render, type Language, type NotificationFacts } from '../activities/messages.js';
import { listNotifications, notify, storeNotification } from '../activities/notifications.js';
import { createClinician, createPatient } from '../activities/reference.js';
import { verifySignature } from '../activities/signature.js';
import { createSlot } from '../activities/slots.js';
import { DEPARTMENTS, PatientInput } from '../api/schemas.js';
import programTemplates from '../db/seed/program-templates.json' with { type: 'json' };
import { IN_PERSON_REASONS, type JourneySnapshot, type MeasurementType, type NotificationKind, type NotificationRequest } from '../workflows/definitions.js';
import { createLogger, REDACT_PATHS } from '../workers/logger.js';
import { testDb, type TestDb } from './support/db.js';

let db: TestDb;
let server: Server;
let url: string;
let failNext = 0;
const deliveries: { raw: string; signature: string; idempotencyKey: string }[] = [];

beforeAll(async () => {
  db = await testDb();
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (failNext > 0) {
        failNext -= 1;
        res.writeHead(503).end();
        return;
      }
      deliveries.push({ raw, signature: String(req.headers['x-signature']), idempotencyKey: String(req.headers['idempotency-key']) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/n`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r) ?? r(undefined));
  await db?.drop();
});

describe('notify', () => {
  it('stores once, retries a failed delivery, and never delivers the same id twice', async () => {
    const patient = await createPatient(db.sql, { name: '王芳', phone: '+8613800000003', birthDate: '1960-02-02', sex: 'F', timezone: 'Asia/Shanghai' });
    const webhook = { url, secret: 'notify-secret' };
    const req = {
      id: 'journey:j1:appointment.reminder:PT1H',
      patientId: patient.id,
      kind: 'appointment.reminder' as const,
      refs: { journeyId: 'j1' },
      params: { start: '2026-12-01T01:30:00.000Z', offset: 'PT1H' },
    };
    failNext = 1;
    await expect(notify(db.sql, webhook, req)).rejects.toThrow(/503/);
    expect(deliveries).toHaveLength(0);
    await notify(db.sql, webhook, req); // the activity's retry
    await notify(db.sql, webhook, req); // a replayed worker or a duplicate call
    expect(deliveries).toHaveLength(1);
    const d = deliveries[0]!;
    expect(verifySignature('notify-secret', d.raw, d.signature)).toBe(true);
    expect(d.idempotencyKey).toBe(req.id);
    const body = JSON.parse(d.raw) as Record<string, unknown>;
    expect(body).toMatchObject({ id: req.id, patientId: patient.id, kind: 'appointment.reminder', refs: { journeyId: 'j1' } });
    expect(Object.keys(body).sort()).toEqual(['at', 'body', 'id', 'kind', 'patientId', 'refs', 'title']);
    // Rendered in the patient's timezone (01:30Z is 09:30 in Shanghai); no name, no phone.
    expect(body.body).toContain('09:30');
    expect(d.raw).not.toContain('王芳');
    expect(d.raw).not.toContain('13800000003');
    const inbox = await db.sql`select id from notifications where patient_id = ${patient.id}`;
    expect(inbox).toHaveLength(1);
    const [outbox] = await db.sql<{ attempts: number; delivered_at: Date | null }[]>`select attempts, delivered_at from outbox where id = ${req.id}`;
    expect(outbox!.attempts).toBe(2);
    expect(outbox!.delivered_at).not.toBeNull();
  });

  it('keeps notifications in the inbox only when no webhook is configured', async () => {
    const patient = await createPatient(db.sql, { name: 'X', phone: '+8613800000004', birthDate: '1990-01-01', sex: 'M', timezone: 'Europe/Berlin' });
    await notify(db.sql, undefined, { id: 'n-inbox-only', patientId: patient.id, kind: 'journey.cancelled', refs: { journeyId: 'j2' }, params: { reason: 'patient' } });
    expect(await db.sql`select 1 from notifications where id = 'n-inbox-only'`).toHaveLength(1);
    expect(await db.sql`select 1 from outbox where id = 'n-inbox-only'`).toHaveLength(0);
  });
});

describe('logging', () => {
  it('redacts patient data even when it slips into a log line', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (s: string) => lines.push(s) });
    log.info({ journeyId: 'j1', name: '张三', phone: '+8613800000001', complaint: '胸痛', patient: { name: '张三', diagnosis: 'I10' } }, 'x');
    const line = lines.join('');
    expect(line).toContain('"journeyId":"j1"');
    for (const secret of ['张三', '13800000001', '胸痛', 'I10']) expect(line).not.toContain(secret);
    expect(REDACT_PATHS).toContain('*.complaint');
  });
});

// ---- notification texts ------------------------------------------------------------------------

/** Each language's patient lives in a different timezone, so a time shown in the wrong zone shows. */
const TZ: Record<Language, string> = { 'zh-CN': 'Asia/Shanghai', en: 'Europe/Berlin' };
type Both = Record<Language, string>;
const both = (zh: string, en: string): Both => ({ 'zh-CN': zh, en });

// Times as the workflows send them (UTC ISO) and as each patient must read them.
const APPT = '2026-12-01T06:30:00.000Z';
const DUE = '2026-11-30T06:45:00.000Z';
const EXAM_AT = '2026-12-02T01:00:00.000Z';
const REFERRAL_AT = '2026-12-03T02:00:00.000Z';
const DOSE_AT = '2026-12-05T00:00:00.000Z';
const MEASURE_AT = '2026-12-04T23:00:00.000Z';
// Near midnight, so the day itself depends on the timezone (the 10th in Shanghai, the 9th in Berlin).
const FOLLOWUP_AT = '2026-12-09T17:00:00.000Z';
const RUN_OUT_AT = '2026-12-19T16:30:00.000Z';
const T = {
  appt: both('2026年12月1日（周二）14:30', 'Tue 1 Dec 2026, 07:30'),
  due: both('2026年11月30日（周一）14:45', 'Mon 30 Nov 2026, 07:45'),
  exam: both('2026年12月2日（周三）09:00', 'Wed 2 Dec 2026, 02:00'),
  referral: both('2026年12月3日（周四）10:00', 'Thu 3 Dec 2026, 03:00'),
  dose: both('2026年12月5日（周六）08:00', 'Sat 5 Dec 2026, 01:00'),
  measure: both('2026年12月5日（周六）07:00', 'Sat 5 Dec 2026, 00:00'),
};
/** Days without the clock, for what is due around a day (a follow-up, the end of a supply). */
const D = {
  followup: both('2026年12月10日（周四）', 'Wed 9 Dec 2026'),
  runOut: both('2026年12月20日（周日）', 'Sat 19 Dec 2026'),
};
const money = (zh: string): Both => both(`¥${zh}`, `CNY ${zh}`);
const CARDIOLOGY = both('心血管内科', 'Cardiology');
const ENDOCRINOLOGY = both('内分泌科', 'Endocrinology');
const CBC = both('血常规', 'Complete blood count');
const APP = both('App', 'app');

const J = { journeyId: 'j-1' };
const RX = { journeyId: 'j-1', prescriptionId: 'rx-1' };
const EX = { journeyId: 'j-1', examId: 'ex-1' };
const REF = { journeyId: 'j-1', referralId: 'ref-1' };
// A chronic-care program's refs, as workflows/care-program.ts sends them (always with the program id).
const PROGRAM = { programId: 'pg-1' };
const CONSULT = { consultationId: 'c-1' };
const PROGRAM_DOSE = { ...PROGRAM, drugCode: 'amlodipine-5mg', scheduledAt: DOSE_AT };
const PROGRAM_FOLLOWUP = { ...PROGRAM, journeyId: 'j-fu-1', scheduledAt: FOLLOWUP_AT };
const PROGRAM_REFILL = { ...PROGRAM, drugCode: 'amlodipine-5mg', journeyId: 'j-rn-1', scheduledAt: RUN_OUT_AT };
const measurementRefs = (type: string) => ({ ...PROGRAM, measurement: type, scheduledAt: MEASURE_AT });
const OFFLINE: NotificationFacts = { appointment: { start: APPT, department: 'cardiology', doctor: 'Dr. Li Wei', mode: 'offline' } };
const ONLINE: NotificationFacts = { appointment: { start: APPT, department: 'endocrinology', doctor: 'Dr. Wang Fang', mode: 'online' } };
const EXAM: NotificationFacts = { exam: { name: '血常规 (Complete blood count)' } };
const REFERRAL: NotificationFacts = { referral: { facility: 'Shanghai Chest Hospital', department: 'cardiology' } };

interface Case {
  label: string;
  params: NotificationRequest['params'];
  refs: Record<string, string>;
  facts?: NotificationFacts;
  /** What each language's text must say (anywhere in title + body). */
  says: Both[];
}

const DELIVERY_STATUSES: [string, Both][] = [
  ['ordered', both('已交给快递', 'handed to the courier')],
  ['picked-up', both('快递已揽收', 'picked up')],
  ['in-transit', both('运输中', 'on its way')],
  ['delivered', both('已送达', 'delivered')],
  ['failed', both('重新配送', 'sending it again')],
  ['delivery-failed', both('护理协调员', 'care coordinator')],
];

/** Every measurement type (the Record makes tsc refuse a type without its name). */
const MEASUREMENTS: Record<MeasurementType, Both> = {
  bp: both('血压', 'blood pressure'),
  glucose: both('血糖', 'blood glucose'),
  weight: both('体重', 'weight'),
};

/** Every education topic of db/seed/program-templates.json (a test checks the list), by its title. */
const TOPICS: [string, Both][] = [
  ['home-bp-measurement', both('在家测血压', 'measuring your blood pressure at home')],
  ['low-salt-diet', both('少吃盐', 'eating less salt')],
  ['hypoglycaemia-signs', both('低血糖的信号', 'signs of low blood sugar')],
  ['foot-care', both('每天护理双脚', 'caring for your feet every day')],
];

/** Every kind (the Record makes tsc refuse a kind without cases), in each of its contexts. */
const CASES: Record<NotificationKind, Case[]> = {
  'payment.due': [
    { label: 'booking, offline', params: { amount: 1500, dueBy: DUE }, refs: J, facts: OFFLINE, says: [money('15.00'), T.due, T.appt, CARDIOLOGY, both('Dr. Li Wei', 'Dr. Li Wei'), both('门诊', 'outpatient clinic'), both('支付', 'pay')] },
    { label: 'booking, online', params: { amount: 2000, dueBy: DUE }, refs: J, facts: ONLINE, says: [money('20.00'), T.due, T.appt, ENDOCRINOLOGY, both('在线复诊', 'online consultation'), both('Dr. Wang Fang', 'Dr. Wang Fang')] },
    { label: 'an exam', params: { amount: 2500, dueBy: DUE }, refs: EX, facts: EXAM, says: [money('25.00'), T.due, CBC, APP] },
    { label: 'a prescription', params: { amount: 4230, dueBy: DUE }, refs: RX, says: [money('42.30'), T.due, APP] },
    { label: 'an online consultation', params: { amount: 3000, dueBy: DUE }, refs: CONSULT, says: [money('30.00'), T.due, both('咨询费', 'consultation fee')] },
  ],
  'appointment.reminder': [
    { label: 'offline', params: { start: APPT, offset: 'P1D' }, refs: J, facts: OFFLINE, says: [T.appt, CARDIOLOGY, both('Dr. Li Wei', 'Dr. Li Wei'), both('签到', 'check in')] },
    { label: 'online', params: { start: APPT, offset: 'PT1H' }, refs: J, facts: ONLINE, says: [T.appt, ENDOCRINOLOGY, both('在线复诊', 'online consultation'), both('打开App', 'open the app')] },
    { label: 'an exam', params: { start: EXAM_AT, offset: 'P1D' }, refs: EX, facts: EXAM, says: [T.exam, CBC, both('身份证件', 'ID')] },
    { label: 'a referral', params: { start: REFERRAL_AT, offset: 'P1D' }, refs: REF, facts: REFERRAL, says: [T.referral, both('Shanghai Chest Hospital', 'Shanghai Chest Hospital'), CARDIOLOGY] },
  ],
  'queue.near-turn': [
    { label: 'two ahead, offline', params: { ahead: 2, queueNumber: 7 }, refs: J, facts: OFFLINE, says: [both('7号', 'Queue number 7'), both('还有2位', '2 patients are ahead'), CARDIOLOGY] },
    { label: 'one ahead, online', params: { ahead: 1, queueNumber: 4 }, refs: J, facts: ONLINE, says: [both('4号', 'Queue number 4'), both('还有1位', '1 patient is ahead'), both('App', 'app')] },
    { label: 'next, offline', params: { ahead: 0, queueNumber: 3 }, refs: J, facts: OFFLINE, says: [both('3号', 'Queue number 3'), both('下一位', 'you are next'), CARDIOLOGY] },
  ],
  'journey.cancelled': [
    { label: 'payment expired', params: { reason: 'payment-expired' }, refs: J, facts: OFFLINE, says: [both('未按时支付', 'not paid in time'), T.appt, CARDIOLOGY, both('重新预约', 'book again')] },
    { label: 'never booked', params: { reason: 'not-booked' }, refs: J, says: [both('未按时预约', 'no appointment booked in time'), both('重新发起', 'start a new request')] },
    { label: 'by the patient', params: { reason: 'patient' }, refs: J, facts: ONLINE, says: [both('本人申请', 'at your request'), T.appt, ENDOCRINOLOGY, both('退回', 'refunded')] },
    { label: 'by the patient, before booking', params: { reason: 'patient' }, refs: J, says: [both('本人申请', 'at your request'), both('就诊申请', 'visit request')] },
    { label: 'by staff', params: { reason: 'staff' }, refs: J, facts: OFFLINE, says: [both('医院原因', 'by the hospital'), T.appt, CARDIOLOGY, both('联系客服', 'contact customer service')] },
  ],
  'journey.referred-offline': [
    { label: 'online visit, needs an examination', params: { reason: 'physical-examination' }, refs: J, facts: ONLINE, says: [both('需要当面体格检查', 'a physical examination is needed'), ENDOCRINOLOGY, both('线下就诊', 'in person')] },
    { label: 'without the appointment', params: { reason: 'condition-worsened' }, refs: J, says: [both('病情有变化', 'your condition has changed'), both('预约号源', 'book a slot')] },
  ],
  'journey.no-show': [
    { label: 'offline', params: { start: APPT }, refs: J, facts: OFFLINE, says: [T.appt, CARDIOLOGY, both('重新预约', 'book again')] },
  ],
  'payment.refunded': [
    { label: 'a journey', params: { amount: 1500 }, refs: J, facts: OFFLINE, says: [money('15.00'), T.appt, CARDIOLOGY, both('无需任何操作', 'do not need to do anything')] },
    { label: 'a prescription', params: { amount: 4230 }, refs: RX, says: [money('42.30'), both('处方', 'prescription')] },
    { label: 'an exam', params: { amount: 2500 }, refs: EX, facts: EXAM, says: [money('25.00'), CBC] },
    { label: 'an online consultation nobody took', params: { amount: 3000 }, refs: CONSULT, says: [money('30.00'), both('咨询费', 'the fee of'), both('原路退还', 'has been refunded')] },
  ],
  'consultation.replied': [
    { label: 'the first answer', params: { count: 1 }, refs: CONSULT, says: [both('医生已回复', 'The doctor has answered'), APP] },
    { label: 'a later answer', params: { count: 3 }, refs: CONSULT, says: [both('已回复3次', '3 answers so far'), APP] },
  ],
  'mdt.concluded': [{ label: 'concluded', params: { count: 3 }, refs: { mdtId: 'mdt-1' }, says: [both('多学科会诊', 'reviewed your case together'), both('3位专家', '3 specialists'), APP] }],
  'mdt.convened': [{ label: 'convened', params: { count: 3 }, refs: { mdtId: 'mdt-1' }, says: [both('3位专家', '3 specialists'), both('通知您', 'tell you')] }],
  'remote.received': [{ label: 'received', params: {}, refs: { remoteId: 'r-1' }, says: [both('远程会诊', 'asked our hospital'), both('社区医院或药店', 'clinic or pharmacy')] }],
  'remote.returned': [{ label: 'returned', params: {}, refs: { remoteId: 'r-1' }, says: [both('会诊意见', 'the opinion has been sent'), both('社区医院或药店', 'pharmacy')] }],
  'consultation.closed': [
    { label: 'its answers used', params: { count: 5, end: 'rounds-used' }, refs: CONSULT, says: [both('回复次数已用完', 'used all its answers'), both('评分', 'rate it')] },
    { label: 'its time up', params: { count: 2, end: 'time-up' }, refs: CONSULT, says: [both('时间已到', 'time for your online consultation is up'), both('评分', 'rate it')] },
  ],
  'prescription.approved': [{ label: 'approved', params: { amount: 12345, dueBy: DUE }, refs: RX, says: [money('123.45'), T.due, both('药师', 'pharmacist')] }],
  'prescription.rejected': [{ label: 'rejected', params: {}, refs: RX, says: [both('医生', 'doctor'), both('无需任何操作', 'do not need to do anything')] }],
  'prescription.expired': [
    { label: 'unpaid', params: { reason: 'unpaid' }, refs: RX, says: [both('未按时支付', 'not paid in time'), both('重新问诊', 'new consultation')] },
    { label: 'not revised', params: { reason: 'not-revised' }, refs: RX, says: [both('处方未能及时修改', 'not revised in time'), both('重新问诊', 'new consultation')] },
  ],
  'prescription.cancelled': [{ label: 'cancelled', params: {}, refs: RX, says: [both('退回', 'refunded')] }],
  'delivery.update': DELIVERY_STATUSES.map(([status, says]) => ({ label: status, params: { status, deliveryId: 'rx-1-d1' }, refs: RX, says: [says] })),
  'medication.reminder': [
    { label: 'two medicines', params: { at: DOSE_AT, count: 2 }, refs: RX, says: [T.dose, both('2种药品', '2 medicines'), both('确认', 'confirm')] },
    { label: 'one medicine', params: { at: DOSE_AT, count: 1 }, refs: RX, says: [T.dose, both('确认', 'confirm')] },
    { label: 'a program dose', params: { at: DOSE_AT, count: 1 }, refs: PROGRAM_DOSE, says: [T.dose, both('服药', 'medicine'), both('在App中确认', 'confirm the dose in the app')] },
  ],
  'report.ready': [{ label: 'an exam', params: {}, refs: EX, facts: EXAM, says: [CBC, both('App中查看', 'read it in the app')] }],
  'exam.scheduled': [{ label: 'an exam', params: { scheduledAt: EXAM_AT }, refs: EX, facts: EXAM, says: [CBC, T.exam, both('身份证件', 'ID')] }],
  'exam.cancelled': [{ label: 'an exam', params: {}, refs: EX, facts: EXAM, says: [CBC, both('退回', 'refunded')] }],
  'referral.accepted': [{ label: 'a referral', params: { appointmentAt: REFERRAL_AT }, refs: REF, facts: REFERRAL, says: [both('Shanghai Chest Hospital', 'Shanghai Chest Hospital'), CARDIOLOGY, T.referral] }],
  'referral.declined': [{ label: 'a referral', params: {}, refs: REF, facts: REFERRAL, says: [both('Shanghai Chest Hospital', 'Shanghai Chest Hospital'), both('护理协调员', 'care coordinator')] }],
  'measurement.reminder': [
    ...Object.entries(MEASUREMENTS).map(([type, name]) => ({ label: type, params: { at: MEASURE_AT, type }, refs: measurementRefs(type), says: [T.measure, name, both('App中记录', 'record the result in the app')] })),
    { label: 'an unknown type', params: { at: MEASURE_AT, type: 'temperature' }, refs: measurementRefs('temperature'), says: [T.measure, both('按计划完成测量', 'planned measurement'), both('App中记录', 'record the result in the app')] },
  ],
  'followup.due': [
    { label: 'a program follow-up', params: { at: FOLLOWUP_AT }, refs: PROGRAM_FOLLOWUP, says: [D.followup, both('在线复诊', 'online follow-up'), both('在App中预约', 'book a time in the app')] },
  ],
  'refill.due': [
    { label: 'a medicine running out', params: { at: RUN_OUT_AT }, refs: PROGRAM_REFILL, says: [D.runOut, both('用完', 'run out'), both('续方', 'renew your prescription'), both('在App中预约', 'book a time in the app')] },
  ],
  education: [
    ...TOPICS.map(([topic, title]) => ({ label: topic, params: { topic }, refs: PROGRAM, says: [both('健康小知识', 'Health tip'), title] })),
    { label: 'an unknown topic', params: { topic: 'some-new-topic' }, refs: PROGRAM, says: [both('健康小知识', 'health tip'), APP] },
  ],
};
const KINDS = Object.keys(CASES) as NotificationKind[];

/** Every code a workflow sends as a param (reasons of every kind, delivery statuses, measurement types, education topics) and every department code. */
const CODES = ['payment-expired', 'not-booked', 'patient', 'staff', 'unpaid', 'not-revised', 'red-flag', 'late-payment', ...IN_PERSON_REASONS, ...DELIVERY_STATUSES.map(([s]) => s), ...Object.keys(MEASUREMENTS), ...TOPICS.map(([t]) => t), ...DEPARTMENTS];
/** Codes that are also plain English words an English text may use (`weight`, `delivered`): checked in Chinese only. */
const ENGLISH_WORDS = ['patient', 'staff', 'unpaid', 'ordered', 'delivered', 'failed', 'glucose', 'weight'];
const ISO_TIME = /\d{4}-\d{2}-\d{2}|T\d{2}:\d{2}|\d{2}:\d{2}:\d{2}|Z\b/;
const ISO_DURATION = /\bPT?\d+[YWDHMS]/;

/**
 * What must never reach a patient: a placeholder, an unset value, an ISO time or duration, an id, a
 * raw code. In Chinese text no code at all (and no Latin words but names and "App"); in English no
 * code that is not also a plain English word (no hyphenated code, no lower-case department code, no
 * `bp`), and no Chinese.
 */
function leaks(text: string, language: Language, c: Pick<Case, 'params' | 'refs' | 'facts'>): string[] {
  const found: string[] = [];
  for (const bad of ['{', '}', 'undefined', 'null', 'NaN', 'Invalid', '[object']) if (text.includes(bad)) found.push(bad);
  if (ISO_TIME.test(text)) found.push(`ISO time: ${ISO_TIME.exec(text)![0]}`);
  if (ISO_DURATION.test(text)) found.push(`ISO duration: ${ISO_DURATION.exec(text)![0]}`);
  // Ids; a ref that is a code (a program's `measurement: 'weight'`) is checked as a code below.
  for (const id of Object.values(c.refs)) if (!CODES.includes(id) && text.includes(id)) found.push(`id ${id}`);
  const word = (code: string): RegExp => new RegExp(`(?<![A-Za-z-])${code}(?![A-Za-z-])`);
  for (const code of CODES) {
    const checked = language === 'zh-CN' || !ENGLISH_WORDS.includes(code);
    if (checked && word(code).test(text)) found.push(`code ${code}`);
  }
  for (const v of Object.values(c.params)) {
    if (typeof v === 'string' && (language === 'zh-CN' || /[-:\d]/.test(v)) && text.includes(v)) found.push(`raw param ${v}`);
  }
  if (language === 'zh-CN') {
    const names = [c.facts?.appointment?.doctor, c.facts?.referral?.facility].filter((n): n is string => !!n);
    const rest = names.reduce((t, n) => t.split(n).join(''), text).replace(/App/g, '');
    if (/[A-Za-z]/.test(rest)) found.push(`Latin text in Chinese: ${rest}`);
  } else if (/[\u3000-\u9fff\uff00-\uffef]/.test(text)) {
    found.push('Chinese text in English');
  }
  return found;
}

const ctx = (language: Language, refs: Record<string, string>, facts?: NotificationFacts) => ({ language, timezone: TZ[language], refs, ...(facts ? { facts } : {}) });

describe('notification texts', () => {
  const table = KINDS.flatMap((kind) => CASES[kind].flatMap((c) => LANGUAGES.map((language) => ({ kind, language, name: `${kind} (${c.label})`, c }))));

  it.each(table)('$name in $language: says what the patient needs, in their timezone, with no internal code', ({ kind, language, c }) => {
    const { title, body } = render(kind, c.params, ctx(language, c.refs, c.facts));
    const text = `${title}\n${body}`;
    expect(title.length).toBeGreaterThan(1);
    expect(body.length).toBeGreaterThan(title.length);
    expect({ title, body }).not.toEqual(CATALOGUES[language].fallback);
    for (const says of c.says) expect(text).toContain(says[language]);
    expect(leaks(text, language, c)).toEqual([]);
  });

  it('gives every kind its own text in both languages, and the two languages differ', () => {
    for (const kind of KINDS) {
      for (const language of LANGUAGES) expect(CATALOGUES[language].notifications[kind]?.default, `${language} ${kind}.default`).toBeDefined();
      for (const c of CASES[kind]) {
        const zh = render(kind, c.params, ctx('zh-CN', c.refs, c.facts));
        const en = render(kind, c.params, ctx('en', c.refs, c.facts));
        expect(zh.body).not.toBe(en.body);
      }
    }
  });

  it('every kind can be rendered from its params alone (no database facts) and still leaks nothing', () => {
    for (const kind of KINDS) {
      for (const c of CASES[kind]) {
        for (const language of LANGUAGES) {
          const r = render(kind, c.params, ctx(language, c.refs));
          expect(r, `${kind} (${c.label}) ${language}`).not.toEqual(CATALOGUES[language].fallback);
          expect(leaks(`${r.title}\n${r.body}`, language, c), `${kind} (${c.label}) ${language}`).toEqual([]);
        }
      }
    }
  });

  it('an unknown code, department or language never shows: the plainer text is used', () => {
    for (const language of LANGUAGES) {
      const cases: [NotificationKind, Case][] = [
        ['journey.cancelled', { label: '', params: { reason: 'some-new-reason' }, refs: J, facts: OFFLINE, says: [] }],
        ['prescription.expired', { label: '', params: { reason: 'some-new-reason' }, refs: RX, says: [] }],
        ['delivery.update', { label: '', params: { status: 'lost-in-space', deliveryId: 'rx-1-d9' }, refs: RX, says: [] }],
        ['payment.due', { label: '', params: { amount: 1500, dueBy: DUE }, refs: J, facts: { appointment: { ...OFFLINE.appointment!, department: 'astrology' } }, says: [] }],
        ['referral.accepted', { label: '', params: { appointmentAt: REFERRAL_AT }, refs: REF, facts: { referral: { facility: 'X Hospital', department: 'astrology' } }, says: [] }],
      ];
      for (const [kind, c] of cases) {
        const r = render(kind, c.params, ctx(language, c.refs, c.facts));
        const text = `${r.title}\n${r.body}`;
        expect(r).toEqual(render(kind, c.params, ctx(language, c.refs, {}))); // the default variant
        expect(text).not.toMatch(/some-new-reason|lost-in-space|astrology/);
        expect(leaks(text, language, c)).toEqual([]);
      }
    }
    // A language the files do not have reads Chinese, the default.
    const c = CASES['journey.no-show'][0]!;
    expect(render('journey.no-show', c.params, { ...ctx('zh-CN', c.refs, c.facts), language: 'fr' as Language })).toEqual(render('journey.no-show', c.params, ctx('zh-CN', c.refs, c.facts)));
  });

  it('an unknown measurement type or education topic reads the plainer default, never the code', () => {
    for (const language of LANGUAGES) {
      const n = CATALOGUES[language].notifications;
      for (const type of ['temperature', 'constructor', '__proto__', 'toString', 'default']) {
        const c: Case = { label: type, params: { at: MEASURE_AT, type }, refs: measurementRefs(type), says: [] };
        const r = render('measurement.reminder', c.params, ctx(language, c.refs));
        const text = `${r.title}\n${r.body}`;
        expect(r.title, `${language} ${type}`).toBe(n['measurement.reminder']!.default!.title);
        expect(r.body).toContain(T.measure[language]);
        expect(text).not.toContain(type);
        expect(leaks(text, language, c)).toEqual([]);
      }
      for (const topic of ['some-new-topic', 'constructor', '__proto__', 'toString', 'default', '']) {
        const c: Case = { label: topic, params: { topic }, refs: PROGRAM, says: [] };
        const r = render('education', c.params, ctx(language, c.refs));
        expect(r, `${language} ${topic}`).toEqual(n.education!.default);
        if (topic) expect(`${r.title}\n${r.body}`).not.toContain(topic);
      }
      expect(render('education', {}, ctx(language, PROGRAM))).toEqual(n.education!.default);
    }
  });

  it('has a text for every education topic and a name for every measurement the program templates use', () => {
    const seeded = programTemplates.flatMap((t) => t.education.map((e) => e.topic));
    expect([...new Set(seeded)].sort()).toEqual(TOPICS.map(([t]) => t).sort());
    for (const language of LANGUAGES) {
      const c = CATALOGUES[language];
      for (const topic of seeded) expect(c.notifications.education?.[topic], `${language} education.${topic}`).toBeDefined();
      for (const m of programTemplates.flatMap((t) => t.measurements)) expect(c.names.measurements[m.type], `${language} names.measurements.${m.type}`).toBeDefined();
      expect(Object.keys(c.names.measurements).sort()).toEqual(Object.keys(MEASUREMENTS).sort());
    }
  });

  it('names the day of a follow-up or of a medicine running out in the patient timezone, without a clock time', () => {
    for (const language of LANGUAGES) {
      const followUp = render('followup.due', { at: FOLLOWUP_AT }, ctx(language, PROGRAM_FOLLOWUP));
      const refill = render('refill.due', { at: RUN_OUT_AT }, ctx(language, PROGRAM_REFILL));
      expect(followUp.body).toContain(D.followup[language]);
      expect(refill.body).toContain(D.runOut[language]);
      for (const r of [followUp, refill]) expect(`${r.title}\n${r.body}`).not.toMatch(/\d{1,2}:\d{2}/);
      // Never the drug: not its code, not its name.
      expect(`${refill.title}\n${refill.body}`).not.toMatch(/amlodipine|氨氯地平/i);
    }
    expect(render('followup.due', { at: FOLLOWUP_AT }, { language: 'en', timezone: 'Asia/Shanghai', refs: PROGRAM_FOLLOWUP }).body).toContain('Thu 10 Dec 2026');
  });

  it('missing params never show as a gap or a placeholder: the generic text is used', () => {
    for (const language of LANGUAGES) {
      const r = render('payment.due', {}, ctx(language, J));
      expect(r).toEqual(CATALOGUES[language].fallback);
      expect(render('appointment.reminder', { start: 'not a time' }, ctx(language, J))).toEqual(CATALOGUES[language].fallback);
    }
  });

  it('shows times in the patient timezone, summer time included', () => {
    const r = (language: Language, timezone: string) => render('journey.no-show', { start: '2026-07-01T06:30:00.000Z' }, { language, timezone, refs: J }).body;
    expect(r('en', 'Europe/Berlin')).toContain('Wed 1 Jul 2026, 08:30');
    expect(r('en', 'America/New_York')).toContain('Wed 1 Jul 2026, 02:30');
    expect(r('zh-CN', 'Asia/Shanghai')).toContain('2026年7月1日（周三）14:30');
  });

  it('refuses a message file with a misspelt placeholder or the wrong language', () => {
    const copy = (): Record<string, any> => JSON.parse(JSON.stringify(CATALOGUES.en));
    expect(() => checkCatalogue(copy(), 'en')).not.toThrow();
    const typo = copy();
    typo.notifications['payment.due'].default.body = 'Please pay {amonut} by {dueBy}.';
    expect(() => checkCatalogue(typo, 'en')).toThrow(/payment\.due\.default: unknown placeholder \{amonut\}/);
    expect(() => checkCatalogue(copy(), 'zh-CN')).toThrow(/language/);
  });
});

describe('patient language', () => {
  const base = { name: 'Li Na', phone: '+8613800000001', birthDate: '1980-01-01', sex: 'F' };
  it('is optional at the API: zh-CN unless en is asked for; anything else is refused', () => {
    expect(PatientInput.parse(base).language).toBe('zh-CN');
    expect(PatientInput.parse({ ...base, language: 'en' }).language).toBe('en');
    expect(PatientInput.safeParse({ ...base, language: 'fr' }).success).toBe(false);
  });

  it('chooses each patient their language in storeNotification: a whole journey in English and in Chinese', async () => {
    const sql = db.sql;
    const english = await createPatient(sql, { name: 'Anna Schmidt', phone: '+4915100000001', birthDate: '1970-05-05', sex: 'F', timezone: 'Europe/Berlin', language: 'en' });
    const chinese = await createPatient(sql, { name: '李娜', phone: '+8613800000011', birthDate: '1970-05-05', sex: 'F', timezone: 'Asia/Shanghai' });
    expect([english.language, chinese.language]).toEqual(['en', 'zh-CN']);
    const doctor = await createClinician(sql, { name: 'Dr. Li Wei', role: 'doctor', department: 'cardiology' });
    const facility = await createFacility(sql, { name: 'Shanghai Chest Hospital', kind: 'hospital' });

    const journeyOf = async (patientId: string, suffix: string) => {
      const slot = await createSlot(sql, { doctorId: doctor.id, department: 'cardiology', start: APPT, end: '2026-12-01T07:30:00.000Z', capacity: 5, mode: 'offline' });
      const journeyId = `lang-j-${suffix}`;
      const snapshot: JourneySnapshot = {
        id: journeyId, patientId, mode: 'offline', pathway: { id: 'standard-outpatient', version: 1 }, phase: 'pre-visit', status: 'active', step: 'awaiting-payment',
        triage: { department: 'cardiology', urgency: 'routine', advice: 'a' },
        appointment: { slotId: slot.id, doctorId: doctor.id, start: APPT, end: '2026-12-01T07:30:00.000Z' },
      };
      await recordTransition(sql, { version: 1, snapshot, events: [] });
      const examId = `lang-ex-${suffix}`;
      await recordItemTransition(sql, { type: 'exam', version: 1, snapshot: { id: examId, journeyId, patientId, doctorId: doctor.id, code: 'cbc', name: 'cbc', status: 'scheduled' }, events: [] });
      const referralId = `lang-ref-${suffix}`;
      await recordItemTransition(sql, {
        type: 'referral', version: 1, events: [],
        snapshot: { id: referralId, journeyId, patientId, facilityId: facility.id, department: 'cardiology', reason: 'coronary angiography', urgency: 'routine', status: 'accepted' },
      });
      const refs = { J: { journeyId }, EX: { journeyId, examId }, REF: { journeyId, referralId }, RX: { journeyId, prescriptionId: `lang-rx-${suffix}` } };
      const sent: [NotificationKind, keyof typeof refs, NotificationRequest['params']][] = [
        ['payment.due', 'J', { amount: 1500, dueBy: DUE }],
        ['appointment.reminder', 'J', { start: APPT, offset: 'P1D' }],
        ['queue.near-turn', 'J', { ahead: 2, queueNumber: 7 }],
        ['payment.due', 'EX', { amount: 2500, dueBy: DUE }],
        ['exam.scheduled', 'EX', { scheduledAt: EXAM_AT }],
        ['report.ready', 'EX', {}],
        ['referral.accepted', 'REF', { appointmentAt: REFERRAL_AT }],
        ['delivery.update', 'RX', { status: 'picked-up', deliveryId: 'lang-rx-d1' }],
        ['journey.cancelled', 'J', { reason: 'staff' }],
      ];
      for (const [i, [kind, ref, params]] of sent.entries()) {
        await storeNotification(sql, { id: `lang:${suffix}:${i}`, patientId, kind, refs: refs[ref], params }, false);
      }
      const inbox = await listNotifications(sql, patientId);
      expect(inbox).toHaveLength(sent.length);
      return { inbox, refs };
    };

    const en = await journeyOf(english.id, 'en');
    const enText = en.inbox.map((n) => `${n.title}\n${n.body}`).join('\n\n');
    for (const says of ['CNY 15.00', 'CNY 25.00', T.appt.en, T.exam.en, T.referral.en, 'Cardiology outpatient clinic', 'Dr. Li Wei', 'Complete blood count', 'Shanghai Chest Hospital', 'Queue number 7', 'picked up', 'by the hospital']) {
      expect(enText).toContain(says);
    }
    for (const n of en.inbox) expect(leaks(`${n.title}\n${n.body}`, 'en', { params: {}, refs: n.refs, facts: { ...OFFLINE, ...REFERRAL } })).toEqual([]);

    const zh = await journeyOf(chinese.id, 'zh');
    const zhText = zh.inbox.map((n) => `${n.title}\n${n.body}`).join('\n\n');
    for (const says of ['¥15.00', '¥25.00', T.appt['zh-CN'], T.exam['zh-CN'], T.referral['zh-CN'], '心血管内科门诊', 'Dr. Li Wei', '血常规', 'Shanghai Chest Hospital', '7号', '快递已揽收', '医院原因']) {
      expect(zhText).toContain(says);
    }
    for (const n of zh.inbox) expect(leaks(`${n.title}\n${n.body}`, 'zh-CN', { params: {}, refs: n.refs, facts: { ...OFFLINE, ...REFERRAL } })).toEqual([]);
  });

  it('a patient row without a language (as before the migration) reads Chinese', async () => {
    await db.sql`insert into patients (id, name, phone, birth_date, sex) values ('lang-old', 'Old', '+8613800000012', '1950-01-01', 'M')`;
    await storeNotification(db.sql, { id: 'lang-old:1', patientId: 'lang-old', kind: 'journey.no-show', refs: { journeyId: 'nowhere' }, params: { start: APPT } }, false);
    const [n] = await listNotifications(db.sql, 'lang-old');
    expect(n).toMatchObject({ title: '您错过了预约' });
    expect(n!.body).toContain(T.appt['zh-CN']);
  });
});
