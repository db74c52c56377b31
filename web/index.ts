// The dashboard (`/app`): server-rendered pages for coordinators, doctors and pharmacists, served by the
// API's own process and built on the API itself. Every read and every action is an in-process call to
// the API with the signed-in user's token, so the API's authentication, role and object checks decide
// what a page may show or do; a page never reads the database. The session is that token in an
// HttpOnly, SameSite=Strict cookie; forms post back here (and are refused from another origin). Live
// updates: the page listens to /app/stream (the API's /v1/stream with the cookie's token) and fetches
// its changed fragment again. docs/architecture.md ("The dashboard") says why this stack.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { signToken, verifyToken, type TokenKey } from '../api/auth.js';
import { CodeParam, DEPARTMENTS, Day } from '../api/schemas.js';
import { journeyWorkflowId, type Role } from '../workflows/definitions.js';
import { LANGS, translator, type Lang, type MessageKey, MESSAGES } from './i18n.js';
import { boardFragment, boardPage, doctorActions, doctorFragment, financeDayPage, financePage, informationPage, revisionForm, doctorPage, journeyFragment, journeyListPage, journeyPage, messagePage, outcomePage, pharmacyPage, programPage, consultationPage, RX_ROWS, signInPage, type BoardFilters, type Html, type OutcomeCatalogue, type PageContext } from './pages.js';

export interface WebOptions {
  /** The API's fetch: every page reads and acts through it, in process. */
  api: (req: Request) => Response | Promise<Response>;
  jwtSecret: TokenKey;
  /** Listed on the sign-in page for one-click sign-in (the demo seed, never in production). */
  demoUsers?: { role: Role; id: string; name: string }[];
  /** Where staff open a journey's workflow. */
  temporalUi?: { url: string; namespace: string };
  /** Cookies only over HTTPS (production behind TLS). */
  secureCookies?: boolean;
}

type Json = Record<string, any>;
/** The session cookie: the signed-in user's token. The codec server (api/codec.ts) accepts it too, for the Temporal UI. */
export const SESSION_COOKIE = 'cp_session';
const LANG = 'cp_lang';
const INTERNAL = 'http://carepath.internal';
const ASSETS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'assets');
const ASSETS: Record<string, { body: string; type: string }> = {
  'app.js': { body: readFileSync(join(ASSETS_DIR, 'app.js'), 'utf8'), type: 'text/javascript; charset=utf-8' },
  'app.css': { body: readFileSync(join(ASSETS_DIR, 'app.css'), 'utf8'), type: 'text/css; charset=utf-8' },
};
const STAFF: Role[] = ['coordinator', 'admin', 'doctor', 'pharmacist'];
const Back = z.string().max(500).regex(/^\/app(\/[\w\-./?=&%]*)?$/).catch('/app');
/** Ids as the API makes them: UUIDs, and task ids such as `journey:<uuid>:consult-start-sla:1`. */
const Id = z.string().min(1).max(200).regex(/^[\w:.-]+$/);
const FLASHES = new Set<string>(Object.keys(MESSAGES.en));
/** Prescriptions whose medicine the patient has or is about to have. */
const ACTIVE_RX = new Set(['awaiting-payment', 'paid', 'dispensed', 'shipped', 'delivered']);

interface Session {
  user: { id: string; role: Role };
  token: string;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors?: { path: string; message: string }[],
  ) {
    super(detail);
  }
}

/** One value of a parsed form, trimmed ('' when absent; the first of repeated fields). */
function field(f: Record<string, string | string[]>, k: string): string {
  const v = f[k];
  return (Array.isArray(v) ? v[0] : v)?.trim() ?? '';
}

/** The rows of an items editor (`<prefix><k>_drug`, `_dose`, `_freq`, `_days`, `_qty`) that name a drug. */
function itemsOf(f: Record<string, string | string[]>, prefix: string): Json[] {
  const one = (k: string) => field(f, k);
  const num = (k: string): number | string => (one(k) === '' ? '' : Number.isFinite(Number(one(k))) ? Number(one(k)) : one(k));
  return Array.from({ length: RX_ROWS }, (_, k) => `${prefix}${k}_`)
    .filter((p) => one(`${p}drug`))
    .map((p) => ({ drugCode: one(`${p}drug`), dose: one(`${p}dose`), frequency: one(`${p}freq`), days: num(`${p}days`), quantity: num(`${p}qty`) }));
}

/** The outcome form as the API's outcome body: only the parts the doctor filled in; the API validates it all. */
function outcomeBody(f: Record<string, string | string[]>): Json {
  const one = (k: string) => field(f, k);
  const items = itemsOf(f, 'rx');
  const exams = (Array.isArray(f.exam) ? f.exam : f.exam ? [f.exam] : []).map((code) => ({ code }));
  const body: Json = { diagnosis: { ...(one('dx_code') ? { code: one('dx_code') } : {}), text: one('dx_text') }, notes: one('notes') };
  // "Needs in-person care" ends the online visit with nothing in it: the items filled in are sent so the API refuses them (422), not dropped unseen.
  if (one('in_person')) Object.assign(body, { kind: 'needs-in-person', reason: one('in_person') });
  if (items.length) body.prescriptions = [{ items }];
  if (exams.length) body.exams = exams;
  if (one('ref_facility')) body.referral = { facilityId: one('ref_facility'), department: one('ref_department'), reason: one('ref_reason'), urgency: one('ref_urgency') || 'routine', consent: one('ref_consent') === 'yes' };
  if (one('prog_condition')) {
    const drug = one('prog_drug');
    const supply = Number(one('prog_supply') || 0);
    body.program = {
      condition: one('prog_condition'),
      plan: { medications: drug ? [{ drugCode: drug, dose: one('prog_dose'), times: one('prog_times').split(',').map((t) => t.trim()).filter(Boolean), supplyDays: supply }] : [] },
    };
  }
  return body;
}

export function createWeb(opts: WebOptions): Hono {
  const app = new Hono();
  const demo = new Map((opts.demoUsers ?? []).map((u) => [`${u.role}:${u.id}`, u]));

  const langOf = (c: Context): Lang => {
    const l = getCookie(c, LANG);
    return LANGS.includes(l as Lang) ? (l as Lang) : 'zh-CN';
  };
  const ctxOf = (c: Context, s?: Session): PageContext => {
    const flash = c.req.query('flash');
    return {
      lang: langOf(c),
      path: new URL(c.req.url).pathname + new URL(c.req.url).search.replace(/([?&])flash=[^&]*&?/, '$1').replace(/[?&]$/, ''),
      ...(s ? { user: s.user } : {}),
      ...(flash && FLASHES.has(flash) ? { flash: flash as MessageKey } : {}),
    };
  };
  const page = (c: Context, body: Html, status = 200) => c.html(body, status as 200);

  async function session(c: Context): Promise<Session | undefined> {
    const token = getCookie(c, SESSION_COOKIE);
    if (!token) return undefined;
    const user = await verifyToken(opts.jwtSecret, token);
    return typeof user === 'string' ? undefined : { user, token };
  }

  const startSession = (c: Context, token: string) =>
    setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/', secure: opts.secureCookies ?? false, maxAge: 12 * 3600 });

  /** An API call with the user's token; a refusal becomes an ApiError with the API's own detail. */
  async function api(s: Session, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Json> {
    const res = await opts.api(
      new Request(INTERNAL + path, {
        method,
        headers: { authorization: `Bearer ${s.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal ? { signal } : {}),
      }),
    );
    if (res.ok) return (await res.json()) as Json;
    const problem = (await res.json().catch(() => ({}))) as { detail?: string; title?: string; errors?: { path: string; message: string }[] };
    throw new ApiError(res.status, problem.detail ?? problem.title ?? `HTTP ${res.status}`, problem.errors);
  }

  /** A page for signed-in staff of these roles: anyone else is sent to sign in or told no, and nothing is fetched for them. */
  function staffPage(roles: Role[], render: (c: Context, s: Session) => Promise<Response>) {
    return async (c: Context) => {
      const s = await session(c);
      if (!s) return c.redirect(`/app/sign-in?back=${encodeURIComponent(new URL(c.req.url).pathname)}`);
      const ctx = ctxOf(c, s);
      if (!roles.includes(s.user.role)) return page(c, messagePage(ctx, 'forbidden.title', translator(ctx.lang)('forbidden.staffOnly')), 403);
      try {
        return await render(c, s);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 401) return c.redirect('/app/sign-in');
        const t = translator(ctx.lang);
        const detail = err.status === 404 ? t('error.notFound') : err.status === 503 ? t('error.engine') : err.detail;
        return page(c, messagePage(ctx, err.status === 403 ? 'forbidden.title' : 'error.title', detail, err.status), err.status === 503 ? 503 : err.status >= 500 ? 502 : (err.status as 400));
      }
    };
  }

  /** Forms only from this origin (the cookie is SameSite=Strict too). */
  const sameOrigin = (c: Context): boolean => {
    const origin = c.req.header('origin');
    if (c.req.header('sec-fetch-site') === 'cross-site') return false;
    return !origin || origin === new URL(c.req.url).origin;
  };
  async function form(c: Context): Promise<Record<string, string>> {
    const body = await c.req.parseBody();
    return Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
  /** A POST from a page: checked, then the API call, then back to the page with what happened. */
  function action(roles: Role[], run: (s: Session, c: Context, f: Record<string, string>) => Promise<MessageKey>) {
    return staffPage(roles, async (c, s) => {
      if (!sameOrigin(c)) return page(c, messagePage(ctxOf(c, s), 'forbidden.title', 'cross-site form refused'), 403);
      const f = await form(c);
      const flash = await run(s, c, f);
      const back = Back.parse(f.back ?? '/app');
      return c.redirect(`${back}${back.includes('?') ? '&' : '?'}flash=${flash}`, 303);
    });
  }
  const reasonOf = (f: Record<string, string>, name: string): string => {
    const v = (f[name] ?? '').trim();
    if (!v || v.length > 1000) throw new ApiError(400, `${name} is required (at most 1000 characters)`);
    return v;
  };
  const idParam = (c: Context): string => {
    const id = Id.safeParse(c.req.param('id'));
    if (!id.success) throw new ApiError(404, 'not found');
    return id.data;
  };

  app.get('/assets/:name', (c) => {
    const a = ASSETS[c.req.param('name')];
    return a ? c.body(a.body, 200, { 'content-type': a.type, 'cache-control': 'no-cache' }) : c.notFound();
  });

  app.get('/lang', (c) => {
    const to = c.req.query('to');
    if (LANGS.includes(to as Lang)) setCookie(c, LANG, to!, { path: '/', sameSite: 'Lax', maxAge: 365 * 86400 });
    return c.redirect(Back.parse(c.req.query('back') ?? '/app'));
  });

  app.get('/sign-in', (c) => page(c, signInPage(ctxOf(c), { ...(c.req.query('invalid') ? { invalid: true } : {}), ...(opts.demoUsers ? { demoUsers: opts.demoUsers } : {}) })));
  app.post('/sign-in', async (c) => {
    if (!sameOrigin(c)) return c.text('cross-site form refused', 403);
    const token = ((await form(c)).token ?? '').trim();
    if (typeof (await verifyToken(opts.jwtSecret, token)) === 'string') return c.redirect('/app/sign-in?invalid=1', 303);
    startSession(c, token);
    return c.redirect('/app', 303);
  });
  app.post('/sign-in/demo', async (c) => {
    if (!sameOrigin(c)) return c.text('cross-site form refused', 403);
    const f = await form(c);
    const u = demo.get(`${f.role}:${f.id}`);
    if (!u) return c.redirect('/app/sign-in?invalid=1', 303);
    startSession(c, await signToken(opts.jwtSecret, { id: u.id, role: u.role }));
    return c.redirect('/app', 303);
  });
  app.post('/sign-out', (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/app/sign-in', 303);
  });

  app.get('/', async (c) => {
    const s = await session(c);
    if (!s) return c.redirect('/app/sign-in');
    const home: Partial<Record<Role, string>> = { coordinator: '/app/board', admin: '/app/board', doctor: '/app/doctor', pharmacist: '/app/pharmacy' };
    const to = home[s.user.role];
    if (to) return c.redirect(to);
    const ctx = ctxOf(c, s);
    return page(c, messagePage(ctx, 'forbidden.title', translator(ctx.lang)('forbidden.staffOnly')), 403);
  });

  // ---- coordinators ------------------------------------------------------------------------
  const Filters = z.object({
    department: z.enum(DEPARTMENTS).optional().catch(undefined),
    status: z.enum(['active', 'completed', 'cancelled', 'no-show', 'redirected', 'referred-offline']).optional().catch(undefined),
    from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional().catch(undefined),
    overdue: z.literal('true').optional().catch(undefined),
  });
  const filtersOf = (c: Context): BoardFilters => {
    const f = Filters.parse({ department: c.req.query('department') || undefined, status: c.req.query('status') || undefined, from: c.req.query('from') || undefined, overdue: c.req.query('overdue') || undefined });
    return Object.fromEntries(Object.entries(f).filter(([, v]) => v)) as BoardFilters;
  };
  const boardOf = (s: Session, f: BoardFilters) => {
    const q = new URLSearchParams();
    if (f.department) q.set('department', f.department);
    if (f.status) q.set('status', f.status);
    // A date in Shanghai, the hospital's day.
    if (f.from) q.set('from', new Date(`${f.from}T00:00:00+08:00`).toISOString());
    if (f.overdue) q.set('overdue', 'true');
    return api(s, 'GET', `/v1/board${q.size ? `?${q}` : ''}`);
  };
  const coordinators: Role[] = ['coordinator', 'admin'];
  app.get(
    '/board',
    staffPage(coordinators, async (c, s) => {
      const [board, remotes] = await Promise.all([boardOf(s, filtersOf(c)), api(s, 'GET', '/v1/remote-consultations?limit=100')]);
      // The coordinators' queue of remote requests: those whose opinion has not gone back yet.
      const open = (remotes.items as Json[]).filter((r) => r.status !== 'returned');
      return page(c, boardPage(ctxOf(c, s), board, filtersOf(c), DEPARTMENTS, open));
    }),
  );
  app.get('/board/fragment', staffPage(coordinators, async (c, s) => page(c, boardFragment(ctxOf(c, s), await boardOf(s, filtersOf(c)), filtersOf(c)))));

  app.get(
    '/search',
    staffPage(STAFF, async (c, s) => {
      const q = (c.req.query('q') ?? '').trim();
      if (!Id.safeParse(q).success) throw new ApiError(404, 'not found');
      const byJourney = await api(s, 'GET', `/v1/journeys/${encodeURIComponent(q)}`).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      });
      if (byJourney) return c.redirect(`/app/journeys/${encodeURIComponent(q)}`);
      return c.redirect(`/app/journeys?patientId=${encodeURIComponent(q)}`);
    }),
  );

  const ListQuery = z.object({
    phase: z.string().max(40).regex(/^[a-z-]+$/).optional().catch(undefined),
    step: z.string().max(40).regex(/^[a-z-]+$/).optional().catch(undefined),
    department: z.enum(DEPARTMENTS).optional().catch(undefined),
    status: z.string().max(40).regex(/^[a-z-]+$/).optional().catch(undefined),
    overdue: z.enum(['true', 'false']).optional().catch(undefined),
    patientId: Id.optional().catch(undefined),
  });
  app.get(
    '/journeys',
    staffPage(['coordinator', 'admin', 'doctor'], async (c, s) => {
      const q = ListQuery.parse(c.req.query());
      const params = new URLSearchParams(Object.entries(q).filter(([, v]) => v) as [string, string][]);
      params.set('limit', '200');
      const list = await api(s, 'GET', `/v1/journeys?${params}`);
      return page(c, journeyListPage(ctxOf(c, s), translator(langOf(c))('journeys.title'), list.items as Json[]));
    }),
  );

  async function journeyWithItems(s: Session, id: string) {
    const j = await api(s, 'GET', `/v1/journeys/${id}`);
    const kinds = [['prescriptions', 'prescription'], ['exams', 'exam'], ['referrals', 'referral']] as const;
    const items = await Promise.all(
      kinds.flatMap(([group, kind]) =>
        ((j.children?.[group] ?? []) as { id: string; status: string }[]).map(async (child) => ({
          kind,
          item: (await api(s, 'GET', `/v1/${group}/${child.id}`).catch(() => child)) as Json,
        })),
      ),
    );
    return { j, items };
  }
  const journeyOpts = (s: Session, id: string) => ({
    canCancel: coordinators.includes(s.user.role),
    ...(opts.temporalUi && coordinators.includes(s.user.role)
      ? { temporalUrl: `${opts.temporalUi.url}/namespaces/${encodeURIComponent(opts.temporalUi.namespace)}/workflows/${encodeURIComponent(journeyWorkflowId(id))}` }
      : {}),
  });
  app.get(
    '/journeys/:id',
    staffPage(['coordinator', 'admin', 'doctor'], async (c, s) => {
      const id = idParam(c);
      const { j, items } = await journeyWithItems(s, id);
      const ctx = ctxOf(c, s);
      let actions: Html | undefined;
      if (s.user.role === 'doctor' && j.appointment?.doctorId === s.user.id) {
        const rejected = items.filter((x) => x.kind === 'prescription' && x.item.status === 'revision-requested' && x.item.prescriberId === s.user.id);
        const drugs = rejected.length ? ((await api(s, 'GET', '/v1/drugs')).items as Json[]) : [];
        if (rejected.length || j.step === 'checked-in' || j.step === 'in-consultation') actions = doctorActions(ctx, j, rejected.map((x) => revisionForm(ctx, x.item, drugs)));
      }
      return page(c, journeyPage(ctx, j, items, { ...journeyOpts(s, id), ...(actions ? { doctorActions: actions } : {}) }));
    }),
  );
  app.get(
    '/journeys/:id/fragment',
    staffPage(['coordinator', 'admin', 'doctor'], async (c, s) => {
      const id = idParam(c);
      const { j, items } = await journeyWithItems(s, id);
      return page(c, journeyFragment(ctxOf(c, s), j, items, `/app/journeys/${id}`));
    }),
  );

  app.post('/tasks/:id/complete', action(STAFF, async (s, c, f) => (await api(s, 'POST', `/v1/tasks/${encodeURIComponent(idParam(c))}/complete`, { note: reasonOf(f, 'note') }), 'task.completed')));
  app.post('/journeys/:id/cancel', action(coordinators, async (s, c, f) => (await api(s, 'POST', `/v1/journeys/${idParam(c)}/cancel`, { reason: reasonOf(f, 'reason') }), 'journey.cancelled')));

  // ---- pharmacists and doctors --------------------------------------------------------------
  app.get(
    '/pharmacy',
    staffPage(['pharmacist'], async (c, s) => {
      const tasks = (await api(s, 'GET', '/v1/tasks?kind=pharmacist-review')).items as Json[];
      const queue = await Promise.all(
        tasks.map(async (task) => {
          const rx = await api(s, 'GET', `/v1/prescriptions/${task.subject.id}`);
          // The patient's other medicines still in their course: what the pharmacist checks this one against.
          const others = (await api(s, 'GET', `/v1/prescriptions?patientId=${encodeURIComponent(rx.patientId)}&limit=50`)).items as Json[];
          return { task, rx, others: others.filter((o) => o.id !== rx.id && ACTIVE_RX.has(o.status)) };
        }),
      );
      return page(c, pharmacyPage(ctxOf(c, s), queue.filter((x) => x.rx.status === 'pending-review')));
    }),
  );
  app.post(
    '/prescriptions/:id/review',
    action(['pharmacist'], async (s, c, f) => {
      const decision = f.decision === 'approve' ? 'approve' : 'reject';
      await api(s, 'POST', `/v1/prescriptions/${idParam(c)}/review`, decision === 'approve' ? { decision } : { decision, reason: reasonOf(f, 'reason') });
      return decision === 'approve' ? 'pharmacy.approved' : 'pharmacy.rejected';
    }),
  );
  const shanghaiDay = (t: number) => new Date(t + 8 * 3_600_000).toISOString().slice(0, 10);
  async function doctorData(s: Session) {
    const [journeys, tasks, consultations, mdts] = await Promise.all([
      api(s, 'GET', '/v1/journeys?status=active&limit=200'),
      api(s, 'GET', '/v1/tasks'),
      api(s, 'GET', '/v1/consultations?status=open&limit=100'),
      api(s, 'GET', '/v1/mdt?status=open&limit=100'),
    ]);
    const today = shanghaiDay(Date.now());
    const mine = journeys.items as Json[];
    return {
      today: mine.filter((j) => j.appointment && shanghaiDay(Date.parse(j.appointment.start)) === today).sort((a, b) => Date.parse(a.appointment.start) - Date.parse(b.appointment.start)),
      queue: mine.filter((j) => j.step === 'checked-in').sort((a, b) => (a.appointment?.queueNumber ?? 0) - (b.appointment?.queueNumber ?? 0)),
      tasks: tasks.items as Json[],
      // Those paid and waiting or answered: one still awaiting payment is nothing for the doctor yet.
      consultations: (consultations.items as Json[]).filter((x) => x.status !== 'awaiting-payment'),
      mdts: mdts.items as Json[],
      me: s.user.id,
    };
  }
  // ---- finance (admins): reconciliation days and their exceptions ------------------------------
  const dayParam = (c: Context): string => {
    const d = Day.safeParse(c.req.param('date'));
    if (!d.success) throw new ApiError(404, 'not found');
    return d.data;
  };
  app.get(
    '/finance',
    staffPage(['admin'], async (c, s) => {
      // The last five weeks, in the hospital's days (Shanghai).
      const day = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);
      const list = await api(s, 'GET', `/v1/reconciliations?from=${day(Date.now() - 35 * 86_400_000)}&to=${day(Date.now())}`);
      return page(c, financePage(ctxOf(c, s), list.items as Json[]));
    }),
  );
  app.get('/finance/:date', staffPage(['admin'], async (c, s) => page(c, financeDayPage(ctxOf(c, s), await api(s, 'GET', `/v1/reconciliations/${dayParam(c)}`)))));
  app.post('/finance/:date/runs', action(['admin'], async (s, c) => (await api(s, 'POST', `/v1/reconciliations/${dayParam(c)}/runs`), 'finance.rerunDone')));

  // ---- the price list and the hospital guide (all staff; admins change drug and exam prices) ----
  app.get(
    '/information',
    staffPage(['coordinator', 'admin', 'doctor', 'pharmacist'], async (c, s) => {
      const [prices, guide] = await Promise.all([api(s, 'GET', '/v1/prices?limit=500'), api(s, 'GET', '/v1/guide')]);
      return page(c, informationPage(ctxOf(c, s), { prices: prices.items as Json[], guide, admin: s.user.role === 'admin' }));
    }),
  );
  const PriceTarget = z.object({ kind: z.enum(['drug', 'exam']), code: CodeParam.shape.code });
  app.post(
    '/prices/:kind/:code',
    action(['admin'], async (s, c, f) => {
      const target = PriceTarget.safeParse({ kind: c.req.param('kind'), code: c.req.param('code') });
      if (!target.success) throw new ApiError(404, 'not found');
      const yuan = /^\d{1,7}(\.\d{1,2})?$/.exec((f.yuan ?? '').trim());
      if (!yuan) throw new ApiError(400, 'the price is a number of yuan, with at most two decimals');
      const amount = Math.round(Number(yuan[0]) * 100);
      const { kind, code } = target.data;
      await api(s, 'PUT', kind === 'drug' ? `/v1/drugs/${code}/price` : `/v1/exam-catalogue/${code}/price`, { amount });
      return 'info.priceSet';
    }),
  );

  app.get('/doctor', staffPage(['doctor'], async (c, s) => page(c, doctorPage(ctxOf(c, s), await doctorData(s)))));
  app.get('/doctor/fragment', staffPage(['doctor'], async (c, s) => page(c, doctorFragment(ctxOf(c, s), await doctorData(s)))));
  app.post(
    '/journeys/:id/consultation',
    staffPage(['doctor'], async (c, s) => {
      if (!sameOrigin(c)) return page(c, messagePage(ctxOf(c, s), 'forbidden.title', 'cross-site form refused'), 403);
      const id = idParam(c);
      await api(s, 'POST', `/v1/journeys/${id}/consultation`);
      return c.redirect(`/app/journeys/${id}/outcome?flash=doctor.started`, 303);
    }),
  );

  async function catalogue(s: Session): Promise<OutcomeCatalogue> {
    const [drugs, exams, facilities, templates] = await Promise.all([
      api(s, 'GET', '/v1/drugs'),
      api(s, 'GET', '/v1/exam-catalogue'),
      api(s, 'GET', '/v1/facilities'),
      api(s, 'GET', '/v1/program-templates'),
    ]);
    return { drugs: drugs.items, exams: exams.items, facilities: facilities.items, templates: templates.items };
  }
  app.get(
    '/journeys/:id/outcome',
    staffPage(['doctor'], async (c, s) => {
      const id = idParam(c);
      const [j, cat] = await Promise.all([api(s, 'GET', `/v1/journeys/${id}`), catalogue(s)]);
      return page(c, outcomePage(ctxOf(c, s), j, cat));
    }),
  );
  app.post(
    '/journeys/:id/outcome',
    staffPage(['doctor'], async (c, s) => {
      if (!sameOrigin(c)) return page(c, messagePage(ctxOf(c, s), 'forbidden.title', 'cross-site form refused'), 403);
      const id = idParam(c);
      const body = await c.req.parseBody({ all: true });
      const v = Object.fromEntries(Object.entries(body).filter((e): e is [string, string | string[]] => typeof e[1] === 'string' || (Array.isArray(e[1]) && e[1].every((x) => typeof x === 'string'))));
      try {
        await api(s, 'POST', `/v1/journeys/${id}/outcome`, outcomeBody(v));
      } catch (err) {
        if (!(err instanceof ApiError) || (err.status !== 400 && err.status !== 422 && err.status !== 409)) throw err;
        const [j, cat] = await Promise.all([api(s, 'GET', `/v1/journeys/${id}`), catalogue(s)]);
        return page(c, outcomePage(ctxOf(c, s), j, cat, v, { detail: err.detail, ...(err.errors ? { errors: err.errors } : {}) }), err.status as 400);
      }
      return c.redirect(`/app/journeys/${id}?flash=outcome.recorded`, 303);
    }),
  );
  app.post(
    '/prescriptions/:id/revision',
    action(['doctor'], async (s, c, f) => {
      const items = itemsOf(f, 'rv');
      await api(s, 'POST', `/v1/prescriptions/${idParam(c)}/revision`, { items });
      return 'revision.sent';
    }),
  );

  app.get(
    '/consultations/:id',
    staffPage(['coordinator', 'admin', 'doctor'], async (c, s) => {
      const id = idParam(c);
      const [x, messages] = await Promise.all([api(s, 'GET', `/v1/consultations/${id}`), api(s, 'GET', `/v1/consultations/${id}/messages`)]);
      const canAnswer = s.user.role === 'doctor' && x.doctorId === s.user.id && (x.status === 'waiting' || x.status === 'answered');
      return page(c, consultationPage(ctxOf(c, s), x, messages.items as Json[], canAnswer));
    }),
  );
  app.post(
    '/consultations/:id/messages',
    action(['doctor'], async (s, c, f) => {
      const body = (f.body ?? '').trim();
      if (!body || body.length > 4000) throw new ApiError(400, 'body is required (at most 4000 characters)');
      await api(s, 'POST', `/v1/consultations/${idParam(c)}/messages`, { body });
      return 'consult.sent';
    }),
  );
  app.get(
    '/programs/:id',
    staffPage(['coordinator', 'admin', 'doctor'], async (c, s) => {
      const id = idParam(c);
      const [p, templates] = await Promise.all([api(s, 'GET', `/v1/programs/${id}`), api(s, 'GET', '/v1/program-templates')]);
      const template = (templates.items as Json[]).find((t) => t.id === p.template.id && t.version === p.template.version) ?? (templates.items as Json[]).find((t) => t.id === p.template.id);
      return page(c, programPage(ctxOf(c, s), p, template?.thresholds ?? {}));
    }),
  );

  // ---- live ----------------------------------------------------------------------------------
  app.get('/stream', async (c) => {
    const s = await session(c);
    if (!s || !STAFF.includes(s.user.role)) return c.text('sign in', 401);
    const last = c.req.header('last-event-id');
    const res = await opts.api(
      new Request(`${INTERNAL}/v1/stream`, {
        headers: { authorization: `Bearer ${s.token}`, accept: 'text/event-stream', ...(last ? { 'last-event-id': last } : {}) },
        signal: c.req.raw.signal,
      }),
    );
    return new Response(res.body, { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'text/event-stream', 'cache-control': 'no-cache' } });
  });

  return app;
}
