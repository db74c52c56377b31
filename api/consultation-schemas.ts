// zod schemas of the online-consultation routes (/v1/consultation-templates, /v1/consultations). Kept
// beside schemas.ts, whose shared pieces (ids, timestamps, durations, tasks, timelines) they reuse.
import { z } from '@hono/zod-openapi';
import { CONSULTATION_STATUSES, type ConsultationTemplate, type MdtTemplate, type RemoteTemplate } from '../workflows/definitions.js';
import { BoundedDuration, INT4_MAX, Id, ItemPayment, Task, Text, Timestamp, TimelineEntry } from './schemas.js';

const Slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes');

export const TextTemplateSchema = z
  .strictObject({
    id: Slug,
    kind: z.literal('text').optional().openapi({ description: 'A text consultation (the default)' }),
    version: z.number().int().min(1).max(INT4_MAX),
    name: Text(200),
    fee: z.number().int().min(0).max(10_000_000).openapi({ description: 'fen' }),
    paymentWindow: BoundedDuration('PT1S', 'P1D'),
    replyWithin: BoundedDuration('PT1S', 'P7D').openapi({ description: 'How long a question waits for the answer before it escalates (and between tiers)' }),
    maxEscalationTier: z.number().int().min(1).max(5),
    takeWithin: BoundedDuration('PT1S', 'P14D').openapi({ description: 'A paid consultation not answered within this is refunded and closed' }),
    maxRounds: z.number().int().min(1).max(50).openapi({ description: 'Answers before it closes' }),
    openFor: BoundedDuration('PT1S', 'P30D').openapi({ description: 'It closes this long after the first answer at the latest' }),
    ratingWindow: BoundedDuration('PT1S', 'P30D'),
  })
  .openapi('TextConsultationTemplate') satisfies z.ZodType<ConsultationTemplate>;

export const MdtTemplateSchema = z
  .strictObject({
    id: Slug,
    kind: z.literal('mdt'),
    version: z.number().int().min(1).max(INT4_MAX),
    name: Text(200),
    opinionWithin: BoundedDuration('PT1S', 'P14D').openapi({ description: "Each specialist's opinion is due this long after the invitation; a late one is reminded then" }),
    escalateAfter: BoundedDuration('PT1S', 'P7D').openapi({ description: 'After the reminder, and between tiers: coordinators are asked' }),
    maxEscalationTier: z.number().int().min(1).max(5),
    concludeWithin: BoundedDuration('PT1S', 'P30D').openapi({ description: "The convener's conclusion is due this long after convening" }),
    expireAfter: BoundedDuration('PT1S', 'P90D').openapi({ description: 'Not concluded by then: it expires' }),
  })
  .openapi('MdtTemplate') satisfies z.ZodType<MdtTemplate>;

export const RemoteTemplateSchema = z
  .strictObject({
    id: Slug,
    kind: z.literal('remote'),
    version: z.number().int().min(1).max(INT4_MAX),
    name: Text(200),
    assignWithin: BoundedDuration('PT1S', 'P7D').openapi({ description: 'Coordinators schedule a specialist within this of the request' }),
    opinionWithin: BoundedDuration('PT1S', 'P30D').openapi({ description: 'The agreed time: the opinion is due this long after the request' }),
    escalateAfter: BoundedDuration('PT1S', 'P7D'),
    maxEscalationTier: z.number().int().min(1).max(5),
  })
  .openapi('RemoteTemplate') satisfies z.ZodType<RemoteTemplate>;

/** A text consultation's template, or (`kind`) a multidisciplinary or a remote consultation's. */
export const ConsultationTemplateSchema = z.union([TextTemplateSchema, MdtTemplateSchema, RemoteTemplateSchema]).openapi('ConsultationTemplate');

/** A message's text and what it shows: references (ids or URLs) to images the client stored, never the images. */
export const MessageInput = z.strictObject({
  body: Text(4000),
  attachments: z.array(Text(500)).max(9).default([]).openapi({ description: 'References to images (ids or URLs), at most 9' }),
});

export const ConsultationInput = z.strictObject({
  patientId: Id,
  doctorId: Id.openapi({ description: 'The doctor asked; a verified doctor with the practice years online care needs' }),
  templateId: Slug.optional().openapi({ description: 'Default: text-consultation' }),
  message: MessageInput.openapi({ description: 'The question' }),
});

export const RatingInput = z.strictObject({ score: z.number().int().min(1).max(5) });

export const ConsultationQuery = z.strictObject({
  patientId: Id.optional(),
  status: z.enum(['open', ...CONSULTATION_STATUSES]).optional().openapi({ description: '`open`: not closed' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const ConsultationSummary = z
  .object({
    id: Id,
    patientId: Id,
    doctorId: Id,
    template: z.object({ id: z.string(), version: z.number().int() }),
    status: z.enum(CONSULTATION_STATUSES).openapi({ description: 'awaiting-payment → waiting (a question waits for the answer) ⇄ answered → closed' }),
    payment: ItemPayment,
    requestedAt: Timestamp,
    messages: z.object({ patient: z.number().int(), doctor: z.number().int() }),
    rounds: z.number().int().openapi({ description: 'Answers given' }),
    maxRounds: z.number().int(),
    replyDueBy: Timestamp.optional().openapi({ description: 'While a question waits: the answer is due by then' }),
    takenAt: Timestamp.optional(),
    closesAt: Timestamp.optional(),
    closedAt: Timestamp.optional(),
    end: z.enum(['rounds-used', 'time-up', 'not-taken', 'lapsed']).optional().openapi({ description: '`not-taken`: nobody answered in time, the fee was refunded' }),
    rating: z.number().int().optional(),
    ratingDueBy: Timestamp.optional(),
  })
  .openapi('ConsultationSummary');

export const Consultation = ConsultationSummary.extend({ timeline: z.array(TimelineEntry), openTasks: z.array(Task) }).openapi('Consultation');

export const Message = z
  .object({
    id: Id,
    kind: z.enum(['message', 'case', 'opinion', 'conclusion']).openapi({ description: 'A consultation\'s messages; an MDT\'s case, opinions and conclusion' }),
    from: z.enum(['patient', 'doctor']),
    authorId: Id,
    body: z.string(),
    attachments: z.array(z.string()),
    at: Timestamp,
  })
  .openapi('ConsultationMessage');

// ---- multidisciplinary consultations ---------------------------------------------------------------

export const MdtInput = z
  .strictObject({
    patientId: Id,
    specialists: z.array(Id).min(1).max(10).refine((xs) => new Set(xs).size === xs.length, 'each specialist once').openapi({ description: 'The doctors invited (not the convener)' }),
    quorum: z.number().int().min(1).max(10).openapi({ description: 'Opinions needed before the conclusion may be recorded' }),
    templateId: Slug.optional().openapi({ description: 'Default: mdt-standard' }),
    case: MessageInput.openapi({ description: 'The case, as the convener presents it to the specialists' }),
    journeyId: Id.optional().openapi({ description: 'The visit the case comes from' }),
    convenerId: Id.optional().openapi({ description: 'Required when a coordinator convenes on a doctor\'s behalf; a doctor convenes as themself' }),
  })
  .refine((m) => m.quorum <= m.specialists.length, { path: ['quorum'], message: 'at most the number of specialists' });

export const MdtQuery = z.strictObject({
  patientId: Id.optional(),
  status: z.enum(['open', 'concluded', 'expired']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const MdtSummary = z
  .object({
    id: Id,
    patientId: Id,
    convenerId: Id,
    journeyId: Id.optional(),
    template: z.object({ id: z.string(), version: z.number().int() }),
    status: z.enum(['open', 'concluded', 'expired']),
    quorum: z.number().int(),
    specialists: z.array(
      z.object({ doctorId: Id, status: z.enum(['invited', 'reminded', 'submitted']).openapi({ description: '`reminded`: past the deadline, reminded once' }), dueBy: Timestamp, submittedAt: Timestamp.optional() }),
    ),
    opinions: z.number().int(),
    convenedAt: Timestamp,
    conclusionDueBy: Timestamp,
    expiresAt: Timestamp,
    concludedAt: Timestamp.optional(),
  })
  .openapi('MdtSummary');

export const Mdt = MdtSummary.extend({ timeline: z.array(TimelineEntry), openTasks: z.array(Task) }).openapi('Mdt');

// ---- remote consultations ---------------------------------------------------------------------------

const InstitutionKind = z.enum(['primary-care', 'pharmacy']);

export const InstitutionInput = z.strictObject({
  name: Text(200),
  kind: InstitutionKind,
  callbackUrl: z.url({ protocol: /^https?$/ }).max(500).openapi({ description: 'Where CarePath POSTs the signed opinion' }),
  templateId: Slug.optional().openapi({ description: 'The agreement\'s timings: a template of kind remote (default remote-standard)' }),
});

export const Institution = z
  .object({ id: Id, name: z.string(), kind: InstitutionKind, callbackUrl: z.string(), templateId: z.string(), createdAt: Timestamp })
  .openapi('Institution');

export const InstitutionCreated = Institution.extend({
  signingSecret: z.string().openapi({ description: 'Shown this once: the institution signs its requests with it, and CarePath its opinions' }),
}).openapi('InstitutionCreated');

export const RemoteRequest = z.strictObject({
  externalRef: Text(200).openapi({ description: "The institution's own reference: the same one again is the same consultation" }),
  patient: z.strictObject({
    externalId: Text(200).openapi({ description: "The institution's own id for its patient" }),
    name: Text(100),
    phone: z.string().regex(/^\+?[0-9]{6,20}$/),
    birthDate: z.iso.date(),
    sex: z.enum(['F', 'M', 'O']),
  }),
  department: Slug.openapi({ description: 'The specialty asked for, such as cardiology' }),
  request: MessageInput.openapi({ description: 'The question and the case, with references to what is attached' }),
});

export const RemoteReceipt = z
  .object({ id: Id, externalRef: z.string(), status: z.enum(['received', 'assigned', 'answered', 'returned']), receivedAt: Timestamp, opinionDueBy: Timestamp })
  .openapi('RemoteReceipt');

export const RemoteQuery = z.strictObject({
  status: z.enum(['received', 'assigned', 'answered', 'returned']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const AssignInput = z.strictObject({ doctorId: Id });

export const RemoteSummary = z
  .object({
    id: Id,
    institutionId: Id,
    externalRef: z.string(),
    patientId: Id,
    department: z.string(),
    template: z.object({ id: z.string(), version: z.number().int() }),
    status: z.enum(['received', 'assigned', 'answered', 'returned']).openapi({ description: '`returned`: the institution has taken the opinion' }),
    receivedAt: Timestamp,
    assignDueBy: Timestamp,
    opinionDueBy: Timestamp,
    doctorId: Id.optional(),
    assignedAt: Timestamp.optional(),
    answeredAt: Timestamp.optional(),
    returnedAt: Timestamp.optional(),
  })
  .openapi('RemoteSummary');

export const Remote = RemoteSummary.extend({ timeline: z.array(TimelineEntry), openTasks: z.array(Task) }).openapi('RemoteConsultation');
