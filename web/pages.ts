// The dashboard's pages, rendered on the server with Hono's `html` template (every interpolated value is
// escaped). Each takes what the API answered and the caller's language; none reads anything itself.
import { html } from 'hono/html';
import { IN_PERSON_REASONS, type Role } from '../workflows/definitions.js';
import { code, translator, type Lang, type MessageKey } from './i18n.js';

export type Html = ReturnType<typeof html>;
type Json = Record<string, any>;

export interface PageContext {
  lang: Lang;
  user?: { id: string; role: Role };
  /** The path of this page, for the language switch to come back to. */
  path: string;
  flash?: MessageKey;
}

const INFORMATION = { href: '/app/information', key: 'nav.information' } as const;
const ROLE_HOME: Partial<Record<Role, { href: string; key: MessageKey }[]>> = {
  coordinator: [{ href: '/app/board', key: 'nav.board' }, INFORMATION],
  admin: [{ href: '/app/board', key: 'nav.board' }, { href: '/app/finance', key: 'nav.finance' }, INFORMATION],
  doctor: [{ href: '/app/doctor', key: 'nav.doctor' }, INFORMATION],
  pharmacist: [{ href: '/app/pharmacy', key: 'nav.pharmacy' }, INFORMATION],
};

export function layout(ctx: PageContext, title: string, body: Html): Html {
  const t = translator(ctx.lang);
  const other: Lang = ctx.lang === 'en' ? 'zh-CN' : 'en';
  return html`<!doctype html>
<html lang="${ctx.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${t('app.name')}</title>
<link rel="stylesheet" href="/app/assets/app.css">
<script src="/app/assets/app.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/app">${t('app.name')}</a>
  <nav aria-label="main">
    ${(ctx.user ? ROLE_HOME[ctx.user.role] ?? [] : []).map((l) => html`<a href="${l.href}">${t(l.key)}</a>`)}
    <a href="/app/lang?to=${other}&amp;back=${encodeURIComponent(ctx.path)}" lang="${other}">${t('nav.language')}</a>
    ${ctx.user ? html`<form method="post" action="/app/sign-out" class="inline"><span class="who">${ctx.user.role}: ${ctx.user.id}</span> <button type="submit">${t('nav.signOut')}</button></form>` : ''}
  </nav>
</header>
<main id="main">
${ctx.flash ? html`<p class="flash" role="status">${t(ctx.flash)}</p>` : ''}
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

export function signInPage(ctx: PageContext, opts: { invalid?: boolean; demoUsers?: { role: Role; id: string; name: string }[] }): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    t('signIn.title'),
    html`
${opts.invalid ? html`<p class="error" role="alert">${t('signIn.invalid')}</p>` : ''}
<form method="post" action="/app/sign-in" class="card">
  <label for="token">${t('signIn.token')}</label>
  <textarea id="token" name="token" rows="4" required aria-describedby="token-help" autocomplete="off" spellcheck="false"></textarea>
  <p id="token-help" class="help">${t('signIn.tokenHelp')}</p>
  <button type="submit">${t('signIn.submit')}</button>
</form>
${opts.demoUsers?.length
  ? html`<section class="card" aria-labelledby="demo-h"><h2 id="demo-h">${t('signIn.demo')}</h2><ul class="demo">
      ${opts.demoUsers.map((u) => html`<li><form method="post" action="/app/sign-in/demo" class="inline">
        <input type="hidden" name="role" value="${u.role}"><input type="hidden" name="id" value="${u.id}">
        <button type="submit" data-user="${u.id}">${t('signIn.as')} ${u.name} (${u.role})</button></form></li>`)}
    </ul></section>`
  : ''}`,
  );
}

export function messagePage(ctx: PageContext, title: MessageKey, detail: string, status?: number): Html {
  const t = translator(ctx.lang);
  return layout(ctx, t(title), html`<p class="error" role="alert">${detail}</p>${status ? html`<p class="help">HTTP ${status}</p>` : ''}<p><a href="/app">${t('common.back')}</a></p>`);
}

const when = (iso: string | undefined, lang: Lang): string =>
  iso ? new Date(iso).toLocaleString(lang === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', dateStyle: 'short', timeStyle: 'short' }) : '';

function overdueFor(seconds: number, lang: Lang): string {
  const t = translator(lang);
  return seconds >= 3600 ? `${Math.floor(seconds / 3600)} ${t('common.hours')} ${Math.floor((seconds % 3600) / 60)} ${t('common.minutes')}` : `${Math.max(Math.floor(seconds / 60), 0)} ${t('common.minutes')}`;
}

/** A form that needs a reason: the reason is required, labelled, and the button says what happens. */
function reasonForm(action: string, name: string, label: string, button: string, back: string, id: string): Html {
  return html`<form method="post" action="${action}" class="reason">
  <input type="hidden" name="back" value="${back}">
  <label for="${id}">${label}</label>
  <input id="${id}" name="${name}" required maxlength="1000">
  <button type="submit">${button}</button>
</form>`;
}

export interface BoardFilters {
  department?: string;
  status?: string;
  from?: string;
  overdue?: 'true';
}

export const filterQuery = (f: BoardFilters): string => new URLSearchParams(Object.entries(f).filter(([, v]) => v) as [string, string][]).toString();

/** The live part of the board: groups, escalations, programs. Re-rendered on every change. */
export function boardFragment(ctx: PageContext, board: Json, f: BoardFilters): Html {
  const t = translator(ctx.lang);
  const list = (extra: Record<string, string>) => `/app/journeys?${new URLSearchParams({ ...Object.fromEntries(Object.entries(f).filter(([, v]) => v)), ...extra } as Record<string, string>).toString()}`;
  const back = `/app/board${filterQuery(f) ? `?${filterQuery(f)}` : ''}`;
  return html`<p class="total"><span>${t('board.total')}</span> <strong data-testid="total">${board.total}</strong></p>
<table class="groups">
  <thead><tr><th scope="col">${t('board.phase')}</th><th scope="col">${t('board.step')}</th><th scope="col">${t('board.count')}</th><th scope="col">${t('board.overdue')}</th></tr></thead>
  <tbody>
  ${board.groups.length === 0 ? html`<tr><td colspan="4">${t('board.empty')}</td></tr>` : ''}
  ${(board.groups as Json[]).map(
    (g) => html`<tr data-group="${g.phase}/${g.step}">
      <td>${code(ctx.lang, g.phase)}</td>
      <td><a href="${list({ phase: g.phase, step: g.step })}">${code(ctx.lang, g.step)}</a></td>
      <td class="num" data-testid="count-${g.phase}-${g.step}">${g.count}</td>
      <td class="num">${g.overdue ? html`<a class="overdue" href="${list({ phase: g.phase, step: g.step, overdue: 'true' })}">${g.overdue}</a>` : '0'}</td>
    </tr>`,
  )}
  </tbody>
</table>
<section aria-labelledby="esc-h"><h2 id="esc-h">${t('escalations.title')}</h2>
${board.escalations.length === 0 ? html`<p>${t('escalations.empty')}</p>` : ''}
<ol class="escalations">
${(board.escalations as Json[]).map(
  (e) => html`<li data-task="${e.id}">
    <p><strong>${overdueFor(e.overdueBy, ctx.lang)}</strong> · ${t('escalations.tier')} ${e.tier} · ${e.kind}
    ${e.journeyId ? html` · <a href="/app/journeys/${e.journeyId}">${e.journeyId}</a>` : ''}</p>
    <p class="action">${e.action}</p>
    ${reasonForm(`/app/tasks/${e.id}/complete`, 'note', t('escalations.reason'), t('escalations.acknowledge'), back, `note-${e.id}`)}
  </li>`,
)}
</ol></section>
<section aria-labelledby="prog-h"><h2 id="prog-h">${t('programs.title')}</h2>
${board.programs.length === 0 ? html`<p>${t('programs.empty')}</p>` : ''}
<table class="programs">
${board.programs.length ? html`<thead><tr><th scope="col">ID</th><th scope="col">${t('journey.patient')}</th><th scope="col">${t('programs.alerts')}</th><th scope="col">${t('programs.adherence')}</th></tr></thead>` : ''}
<tbody>
${(board.programs as Json[]).map(
  (p) => html`<tr><td><a href="/app/programs/${p.id}">${p.condition} · ${p.id.slice(0, 8)}</a></td><td>${p.patientId}</td><td class="num">${p.openAlerts}</td><td class="num">${p.adherence.taken}/${p.adherence.skipped}/${p.adherence.missed}</td></tr>`,
)}
</tbody></table></section>`;
}

export function boardPage(ctx: PageContext, board: Json, f: BoardFilters, departments: readonly string[], remotes: Json[] = []): Html {
  const t = translator(ctx.lang);
  const statuses = ['active', 'completed', 'cancelled', 'no-show', 'redirected', 'referred-offline'];
  const q = filterQuery(f);
  return layout(
    ctx,
    t('board.title'),
    html`<div class="toolbar">
<form method="get" action="/app/board" class="filters" aria-label="${t('board.filters')}">
  <label>${t('board.department')} <select name="department"><option value="">${t('board.any')}</option>
    ${departments.map((d) => html`<option value="${d}" ${f.department === d ? 'selected' : ''}>${code(ctx.lang, d)}</option>`)}</select></label>
  <label>${t('board.status')} <select name="status"><option value="">${t('board.any')}</option>
    ${statuses.map((s) => html`<option value="${s}" ${f.status === s ? 'selected' : ''}>${code(ctx.lang, s)}</option>`)}</select></label>
  <label>${t('board.from')} <input type="date" name="from" value="${f.from ?? ''}"></label>
  <label class="check"><input type="checkbox" name="overdue" value="true" ${f.overdue ? 'checked' : ''}> ${t('board.overdueOnly')}</label>
  <button type="submit">${t('board.apply')}</button>
</form>
<form method="get" action="/app/search" class="search" role="search">
  <label for="q" class="visually-hidden">${t('board.search')}</label>
  <input id="q" name="q" placeholder="${t('board.search')}" maxlength="200" required>
  <button type="submit">${t('board.searchGo')}</button>
</form>
<p id="live" class="live" aria-live="polite" data-live="${t('board.live')}" data-lost="${t('board.liveLost')}" data-updated="${t('board.updated')}">${t('common.loading')}</p>
</div>
<section id="board" data-fragment="/app/board/fragment${q ? `?${q}` : ''}" aria-live="polite">${boardFragment(ctx, board, f)}</section>
<section aria-labelledby="remote-h"><h2 id="remote-h">${t('remote.queue')}</h2>
${remotes.length === 0 ? html`<p>${t('remote.queueEmpty')}</p>` : ''}
<table class="remotes"><thead><tr><th>${t('remote.department')}</th><th>${t('journey.status')}</th><th>${t('remote.assignDue')}</th><th>${t('remote.opinionDue')}</th></tr></thead><tbody>
${remotes.map((r) => html`<tr data-remote="${r.id}"><td>${code(ctx.lang, r.department)}</td><td>${code(ctx.lang, r.status)}</td><td>${r.doctorId ? '✓' : when(r.assignDueBy, ctx.lang)}</td><td>${when(r.opinionDueBy, ctx.lang)}</td></tr>`)}
</tbody></table></section>`,
  );
}

export function journeyListPage(ctx: PageContext, title: string, items: Json[]): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    title,
    html`${items.length === 0 ? html`<p>${t('journeys.empty')}</p>` : ''}
<table class="journeys">
${items.length ? html`<thead><tr><th scope="col">ID</th><th scope="col">${t('journey.patient')}</th><th scope="col">${t('board.department')}</th><th scope="col">${t('journey.step')}</th><th scope="col">${t('journey.status')}</th><th scope="col">${t('board.overdue')}</th></tr></thead>` : ''}
<tbody>
${items.map(
  (j) => html`<tr><td><a href="/app/journeys/${j.id}">${j.id.slice(0, 8)}</a></td><td>${j.patientId}</td><td>${code(ctx.lang, j.triage?.department)}</td>
  <td>${code(ctx.lang, j.step)}</td><td>${code(ctx.lang, j.status)}</td><td>${j.overdue ? html`<span class="overdue">!</span>` : ''}</td></tr>`,
)}
</tbody></table>`,
  );
}

function timelineTable(ctx: PageContext, timeline: Json[]): Html {
  const t = translator(ctx.lang);
  return html`<table class="timeline"><thead><tr><th scope="col">#</th><th scope="col">${t('common.at')}</th><th scope="col">${t('common.event')}</th><th scope="col">${t('common.actor')}</th></tr></thead><tbody>
${timeline.map((e) => html`<tr><td>${e.seq}</td><td><time datetime="${e.at}">${when(e.at, ctx.lang)}</time></td><td>${e.type}</td><td>${e.actor}</td></tr>`)}
</tbody></table>`;
}

export function journeyPage(ctx: PageContext, j: Json, items: { kind: string; item: Json }[], opts: { temporalUrl?: string; canCancel: boolean; doctorActions?: Html }): Html {
  const t = translator(ctx.lang);
  const back = `/app/journeys/${j.id}`;
  return layout(
    ctx,
    `${t('journey.title')} ${j.id.slice(0, 8)}`,
    html`${opts.doctorActions ?? ''}<div data-fragment="${back}/fragment" id="journey">${journeyFragment(ctx, j, items, back)}</div>
${opts.temporalUrl ? html`<p><a href="${opts.temporalUrl}" target="_blank" rel="noopener">${t('journey.temporal')}</a></p>` : ''}
${opts.canCancel && j.status === 'active' ? html`<section aria-labelledby="cancel-h"><h2 id="cancel-h">${t('journey.cancel')}</h2>${reasonForm(`/app/journeys/${j.id}/cancel`, 'reason', t('journey.cancelReason'), t('journey.cancel'), back, 'cancel-reason')}</section>` : ''}`,
  );
}

export function journeyFragment(ctx: PageContext, j: Json, items: { kind: string; item: Json }[], back: string): Html {
  const t = translator(ctx.lang);
  return html`<dl class="facts">
  <dt>${t('journey.patient')}</dt><dd>${j.patientId}</dd>
  <dt>${t('journey.status')}</dt><dd data-testid="status">${code(ctx.lang, j.status)}</dd>
  <dt>${t('journey.phase')}</dt><dd>${code(ctx.lang, j.phase)}</dd>
  <dt>${t('journey.step')}</dt><dd data-testid="step">${code(ctx.lang, j.step)}</dd>
  ${j.triage ? html`<dt>${t('journey.triage')}</dt><dd>${code(ctx.lang, j.triage.department)} · ${code(ctx.lang, j.triage.urgency)}</dd>` : ''}
  ${j.appointment ? html`<dt>${t('journey.appointment')}</dt><dd>${when(j.appointment.start, ctx.lang)} · ${j.appointment.doctorId}${j.appointment.queueNumber ? ` · #${j.appointment.queueNumber}` : ''}</dd>` : ''}
  ${j.payment ? html`<dt>${t('journey.payment')}</dt><dd>${(j.payment.amount / 100).toFixed(2)} ${j.payment.currency} · ${code(ctx.lang, j.payment.status)}</dd>` : ''}
  ${j.outcome ? html`<dt>${t('journey.outcome')}</dt><dd>${j.outcome.diagnosis?.code ?? ''} ${j.outcome.diagnosis?.text ?? ''}</dd>` : ''}
  ${j.guardian ? html`<dt>${t('journey.guardian')}</dt><dd>${j.guardian.name} · ${code(ctx.lang, j.guardian.relation)}</dd>` : ''}
  ${j.referredTo ? html`<dt>${t('journey.referredTo')}</dt><dd><a href="/app/journeys/${j.referredTo}">${j.referredTo.slice(0, 8)}</a> · ${code(ctx.lang, j.outcome?.reason)}</dd>` : ''}
  ${j.referredFrom ? html`<dt>${t('journey.referredFrom')}</dt><dd><a href="/app/journeys/${j.referredFrom}">${j.referredFrom.slice(0, 8)}</a></dd>` : ''}
</dl>
${items.length ? html`<section aria-labelledby="items-h"><h2 id="items-h">${t('journey.items')}</h2>
${items.map(({ kind, item }) => html`<details class="item" data-item="${item.id}"><summary>${kind} ${item.id.slice(0, 8)} · <strong data-testid="item-status">${item.status}</strong></summary>${timelineTable(ctx, item.timeline ?? [])}</details>`)}
</section>` : ''}
<section aria-labelledby="tasks-h"><h2 id="tasks-h">${t('journey.tasks')}</h2>
${(j.openTasks as Json[]).length === 0 ? html`<p>${t('journey.noTasks')}</p>` : ''}
<ul>${(j.openTasks as Json[]).map((task) => html`<li>${task.kind} · ${task.action} · ${when(task.dueAt, ctx.lang)}
  ${task.role === 'coordinator' && (ctx.user?.role === 'coordinator' || ctx.user?.role === 'admin') ? reasonForm(`/app/tasks/${task.id}/complete`, 'note', t('escalations.reason'), t('task.complete'), back, `note-${task.id}`) : ''}</li>`)}</ul>
</section>
<section aria-labelledby="tl-h"><h2 id="tl-h">${t('journey.timeline')}</h2>${timelineTable(ctx, j.timeline)}</section>`;
}

export function pharmacyPage(ctx: PageContext, queue: { task: Json; rx: Json; others: Json[] }[]): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    t('pharmacy.title'),
    html`<h2>${t('pharmacy.queue')}</h2>
${queue.length === 0 ? html`<p>${t('pharmacy.empty')}</p>` : ''}
<ol class="queue" id="pharmacy" data-fragment="/app/pharmacy">
${queue.map(
  ({ task, rx, others }) => html`<li data-prescription="${rx.id}" class="card">
  <p><strong>${rx.id.slice(0, 8)}</strong> · ${t('journey.patient')} ${rx.patientId} · ${rx.prescriberId} · ${when(task.dueAt, ctx.lang)}</p>
  <table><caption>${t('pharmacy.items')}</caption><tbody>
  ${(rx.items as Json[]).map((i) => html`<tr><td>${i.name ?? i.drugCode}</td><td>${i.dose}</td><td>${i.frequency}</td><td>${i.days}d</td><td>×${i.quantity}</td></tr>`)}
  </tbody></table>
  <div class="others" data-testid="other-medications"><strong>${t('pharmacy.others')}</strong>
  ${others.length === 0 ? html` ${t('pharmacy.noOthers')}` : html`<ul>${others.flatMap((o) => (o.items as Json[]).map((i) => html`<li>${i.name ?? i.drugCode} · ${i.dose} · ${i.frequency} · ${o.status}</li>`))}</ul>`}</div>
  <form method="post" action="/app/prescriptions/${rx.id}/review" class="inline"><input type="hidden" name="decision" value="approve"><input type="hidden" name="back" value="/app/pharmacy"><button type="submit">${t('pharmacy.approve')}</button></form>
  <form method="post" action="/app/prescriptions/${rx.id}/review" class="reason"><input type="hidden" name="decision" value="reject"><input type="hidden" name="back" value="/app/pharmacy">
    <label for="reason-${rx.id}">${t('pharmacy.reason')}</label><input id="reason-${rx.id}" name="reason" required maxlength="1000"><button type="submit">${t('pharmacy.reject')}</button></form>
</li>`,
)}
</ol>`,
  );
}

export function doctorPage(ctx: PageContext, d: { today: Json[]; queue: Json[]; tasks: Json[]; consultations: Json[]; mdts: Json[]; me: string }): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    t('doctor.title'),
    html`<section aria-labelledby="dq-h" id="queue" data-fragment="/app/doctor/fragment">${doctorFragment(ctx, d)}</section>`,
  );
}

export function doctorFragment(ctx: PageContext, d: { today: Json[]; queue: Json[]; tasks: Json[]; consultations: Json[]; mdts: Json[]; me: string }): Html {
  const t = translator(ctx.lang);
  return html`<h2 id="dq-h">${t('doctor.queue')}</h2>
${d.queue.length === 0 ? html`<p>${t('doctor.queueEmpty')}</p>` : ''}
<ol class="queue">
${d.queue.map(
  (j) => html`<li data-journey="${j.id}" class="card"><p><strong>#${j.appointment?.queueNumber ?? ''}</strong> · ${j.patientId} · ${code(ctx.lang, j.triage?.department)} · <a href="/app/journeys/${j.id}">${j.id.slice(0, 8)}</a></p>
  <form method="post" action="/app/journeys/${j.id}/consultation" class="inline"><button type="submit">${t('doctor.start')}</button></form></li>`,
)}
</ol>
<h2>${t('doctor.today')}</h2>
<table class="journeys"><tbody>
${d.today.map((j) => html`<tr><td>${when(j.appointment?.start, ctx.lang)}</td><td><a href="/app/journeys/${j.id}">${j.id.slice(0, 8)}</a></td><td>${j.patientId}</td><td>${code(ctx.lang, j.step)}</td>
  <td>${j.step === 'in-consultation' ? html`<a href="/app/journeys/${j.id}/outcome">${t('doctor.recordOutcome')}</a>` : ''}</td></tr>`)}
</tbody></table>${d.today.length === 0 ? html`<p>${t('journeys.empty')}</p>` : ''}
<h2>${t('consult.queue')}</h2>
${d.consultations.length === 0 ? html`<p>${t('consult.queueEmpty')}</p>` : ''}
<table class="consultations"><tbody>
${d.consultations.map((x) => html`<tr data-consultation="${x.id}"><td>${x.replyDueBy ? when(x.replyDueBy, ctx.lang) : '—'}</td><td>${x.patientId}</td><td>${code(ctx.lang, x.status)}</td><td>${x.rounds}/${x.maxRounds}</td>
  <td><a href="/app/consultations/${x.id}">${t('consult.open')}</a></td></tr>`)}
</tbody></table>
<h2>${t('mdt.queue')}</h2>
${d.mdts.length === 0 ? html`<p>${t('mdt.queueEmpty')}</p>` : ''}
<table class="mdts"><tbody>
${d.mdts.map((m) => {
  const mine = (m.specialists as Json[]).find((s) => s.doctorId === d.me);
  return html`<tr data-mdt="${m.id}"><td>${m.patientId}</td><td>${t('mdt.opinions')} ${m.opinions}/${m.quorum}</td>
  <td>${mine ? html`${t('mdt.yourOpinionDue')} ${mine.status === 'submitted' ? '✓' : when(mine.dueBy, ctx.lang)}` : html`${t('mdt.conclusionDue')} ${when(m.conclusionDueBy, ctx.lang)}`}</td></tr>`;
})}
</tbody></table>
<h2>${t('doctor.tasks')}</h2>
${d.tasks.length === 0 ? html`<p>${t('journey.noTasks')}</p>` : ''}
<ul>${d.tasks.map((task) => html`<li data-task="${task.id}">${task.kind} · ${task.action} · ${when(task.dueAt, ctx.lang)}${task.journeyId ? html` · <a href="/app/journeys/${task.journeyId}">${t('common.open')}</a>` : ''}
  ${task.subject?.type === 'program' ? html` · <a href="/app/programs/${task.subject.id}">${t('program.open')}</a>` : ''}
  ${task.subject?.type === 'consultation' ? html` · <a href="/app/consultations/${task.subject.id}">${t('consult.open')}</a>` : ''}
  ${reasonForm(`/app/tasks/${task.id}/complete`, 'note', t('escalations.reason'), t('task.complete'), '/app/doctor', `note-${task.id}`)}</li>`)}</ul>`;
}

export interface OutcomeCatalogue {
  drugs: Json[];
  exams: Json[];
  facilities: Json[];
  templates: Json[];
}

const FREQUENCIES = ['qd', 'bid', 'tid', 'qid', 'qn'] as const;
export const RX_ROWS = 5;

/** The drug picker: ordinary drugs to choose, controlled ones shown but refused with the reason. */
function drugPicker(ctx: PageContext, name: string, id: string, drugs: Json[], value: string | undefined): Html {
  const t = translator(ctx.lang);
  const label = (d: Json) => (ctx.lang === 'en' ? d.nameEn : d.name);
  return html`<select id="${id}" name="${name}"><option value="">—</option>
  ${drugs.map((d) =>
    d.class === 'ordinary'
      ? html`<option value="${d.code}" ${value === d.code ? 'selected' : ''}>${label(d)}</option>`
      : html`<option value="${d.code}" disabled>${label(d)} — ${t('outcome.controlled')} (${d.class})</option>`,
  )}</select>`;
}

function itemRows(ctx: PageContext, prefix: string, drugs: Json[], v: Record<string, string>): Html {
  const t = translator(ctx.lang);
  return html`<table class="items"><thead><tr><th scope="col">${t('outcome.drug')}</th><th scope="col">${t('outcome.dose')}</th><th scope="col">${t('outcome.frequency')}</th><th scope="col">${t('outcome.days')}</th><th scope="col">${t('outcome.quantity')}</th></tr></thead><tbody>
${Array.from({ length: RX_ROWS }, (_, k) => {
  const f = (n: string) => `${prefix}${k}_${n}`;
  return html`<tr>
  <td><label class="visually-hidden" for="${f('drug')}">${t('outcome.drug')} ${k + 1}</label>${drugPicker(ctx, f('drug'), f('drug'), drugs, v[f('drug')])}</td>
  <td><label class="visually-hidden" for="${f('dose')}">${t('outcome.dose')} ${k + 1}</label><input id="${f('dose')}" name="${f('dose')}" value="${v[f('dose')] ?? ''}" maxlength="100" size="8"></td>
  <td><label class="visually-hidden" for="${f('freq')}">${t('outcome.frequency')} ${k + 1}</label><select id="${f('freq')}" name="${f('freq')}">${FREQUENCIES.map((q) => html`<option value="${q}" ${v[f('freq')] === q ? 'selected' : ''}>${q}</option>`)}</select></td>
  <td><label class="visually-hidden" for="${f('days')}">${t('outcome.days')} ${k + 1}</label><input id="${f('days')}" name="${f('days')}" type="number" min="1" max="365" value="${v[f('days')] ?? ''}" size="4"></td>
  <td><label class="visually-hidden" for="${f('qty')}">${t('outcome.quantity')} ${k + 1}</label><input id="${f('qty')}" name="${f('qty')}" type="number" min="1" max="10000" value="${v[f('qty')] ?? ''}" size="5"></td>
</tr>`;
})}
</tbody></table>`;
}

export function outcomePage(ctx: PageContext, j: Json, cat: OutcomeCatalogue, v: Record<string, string | string[]> = {}, error?: { detail: string; errors?: { path: string; message: string }[] }): Html {
  const t = translator(ctx.lang);
  const one = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Array.isArray(x) ? x[0] ?? '' : x])) as Record<string, string>;
  const exams = new Set(Array.isArray(v.exam) ? v.exam : v.exam ? [v.exam] : []);
  return layout(
    ctx,
    `${t('outcome.title')} · ${j.id.slice(0, 8)}`,
    html`${error ? html`<div class="error" role="alert"><p>${error.detail}</p>${error.errors?.length ? html`<ul>${error.errors.map((e) => html`<li><code>${e.path}</code>: ${e.message}</li>`)}</ul>` : ''}</div>` : ''}
<p>${t('journey.patient')} ${j.patientId} · ${code(ctx.lang, j.triage?.department)}</p>
<form method="post" action="/app/journeys/${j.id}/outcome" class="outcome">
${j.mode === 'online'
    ? html`<fieldset><legend>${t('outcome.inPerson')}</legend>
  <label>${t('outcome.inPersonReason')} <select name="in_person"><option value="">—</option>${IN_PERSON_REASONS.map((r) => html`<option value="${r}" ${one.in_person === r ? 'selected' : ''}>${code(ctx.lang, r)}</option>`)}</select></label>
</fieldset>`
    : ''}
<fieldset><legend>${t('outcome.diagnosis')}</legend>
  <label>${t('outcome.code')} <input name="dx_code" value="${one.dx_code ?? ''}" maxlength="32" size="10"></label>
  <label>${t('outcome.text')} <input name="dx_text" value="${one.dx_text ?? ''}" required maxlength="1000" size="40"></label>
  <label>${t('outcome.notes')} <textarea name="notes" rows="3" maxlength="10000">${one.notes ?? ''}</textarea></label>
</fieldset>
<fieldset><legend>${t('outcome.prescription')}</legend>${itemRows(ctx, 'rx', cat.drugs, one)}</fieldset>
<fieldset><legend>${t('outcome.exams')}</legend>
  ${cat.exams.map((e) => html`<label class="check"><input type="checkbox" name="exam" value="${e.code}" ${exams.has(e.code) ? 'checked' : ''}> ${e.name}</label>`)}
</fieldset>
<fieldset><legend>${t('outcome.referral')}</legend>
  <label>${t('outcome.facility')} <select name="ref_facility"><option value="">—</option>${cat.facilities.map((f) => html`<option value="${f.id}" ${one.ref_facility === f.id ? 'selected' : ''}>${f.name}</option>`)}</select></label>
  <label>${t('board.department')} <input name="ref_department" value="${one.ref_department ?? ''}" maxlength="40"></label>
  <label>${t('outcome.reason')} <input name="ref_reason" value="${one.ref_reason ?? ''}" maxlength="1000"></label>
  <label>${t('outcome.urgency')} <select name="ref_urgency"><option value="routine">${code(ctx.lang, 'routine')}</option><option value="urgent" ${one.ref_urgency === 'urgent' ? 'selected' : ''}>${code(ctx.lang, 'urgent')}</option></select></label>
  <label class="check"><input type="checkbox" name="ref_consent" value="yes" ${one.ref_consent ? 'checked' : ''}> ${t('outcome.consent')}</label>
</fieldset>
<fieldset><legend>${t('outcome.program')}</legend>
  <label>${t('outcome.condition')} <select name="prog_condition"><option value="">—</option>${cat.templates.map((p) => html`<option value="${p.condition}" ${one.prog_condition === p.condition ? 'selected' : ''}>${p.name ?? p.condition}</option>`)}</select></label>
  <label>${t('outcome.drug')} ${drugPicker(ctx, 'prog_drug', 'prog_drug', cat.drugs.filter((d) => d.chronic), one.prog_drug)}</label>
  <label>${t('outcome.dose')} <input name="prog_dose" value="${one.prog_dose ?? ''}" maxlength="100" size="8"></label>
  <label>${t('outcome.times')} <input name="prog_times" value="${one.prog_times ?? '08:00'}" pattern="[0-9]{2}:[0-9]{2}(, *[0-9]{2}:[0-9]{2})*" size="12"></label>
  <label>${t('outcome.supplyDays')} <input name="prog_supply" type="number" min="0" max="365" value="${one.prog_supply ?? ''}" size="4"></label>
</fieldset>
<button type="submit">${t('outcome.submit')}</button>
</form>`,
  );
}

/** What the booked doctor can do from the journey page: start the consultation, record the outcome, revise a rejected prescription. */
export function doctorActions(ctx: PageContext, j: Json, revisions: Html[]): Html {
  const t = translator(ctx.lang);
  return html`<section class="card" aria-label="${t('doctor.title')}">
${j.step === 'checked-in' ? html`<form method="post" action="/app/journeys/${j.id}/consultation" class="inline"><button type="submit">${t('doctor.start')}</button></form>` : ''}
${j.step === 'in-consultation' ? html`<a href="/app/journeys/${j.id}/outcome">${t('doctor.recordOutcome')}</a>` : ''}
${revisions}
</section>`;
}

export function revisionForm(ctx: PageContext, rx: Json, drugs: Json[]): Html {
  const t = translator(ctx.lang);
  const v: Record<string, string> = {};
  (rx.items as Json[]).forEach((i, k) => Object.assign(v, { [`rv${k}_drug`]: i.drugCode, [`rv${k}_dose`]: i.dose, [`rv${k}_freq`]: i.frequency, [`rv${k}_days`]: String(i.days), [`rv${k}_qty`]: String(i.quantity) }));
  return html`<form method="post" action="/app/prescriptions/${rx.id}/revision" class="revision">
<p class="error">${t('revision.rejected')}: ${rx.review?.reason ?? ''}</p>
${itemRows(ctx, 'rv', drugs, v)}
<input type="hidden" name="back" value="/app/journeys/${rx.journeyId}">
<button type="submit">${t('revision.submit')}</button></form>`;
}

/** A line chart in SVG: values over time, with threshold lines drawn and labelled. */
export function lineChart(title: string, series: { name: string; points: { at: number; value: number }[] }[], thresholds: { name: string; value: number }[]): Html {
  const W = 640;
  const H = 220;
  const pad = { l: 44, r: 110, t: 16, b: 28 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return html`<figure class="chart"><figcaption>${title}</figcaption><p>—</p></figure>`;
  const xs = all.map((p) => p.at);
  const ys = [...all.map((p) => p.value), ...thresholds.map((t) => t.value)];
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs)];
  const [y0, y1] = [Math.floor(Math.min(...ys) * 0.95), Math.ceil(Math.max(...ys) * 1.05)];
  const x = (v: number) => pad.l + ((v - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const y = (v: number) => pad.t + (1 - (v - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  const colours = ['#0b6bcb', '#7a5af8', '#067647'];
  return html`<figure class="chart"><figcaption>${title}</figcaption>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}" width="100%">
  <line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#98a2b3"/>
  <line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#98a2b3"/>
  <text x="${pad.l - 6}" y="${y(y1) + 4}" text-anchor="end" font-size="11">${y1}</text>
  <text x="${pad.l - 6}" y="${y(y0) + 4}" text-anchor="end" font-size="11">${y0}</text>
  ${thresholds.map((t) => html`<line class="threshold" x1="${pad.l}" x2="${W - pad.r}" y1="${y(t.value).toFixed(1)}" y2="${y(t.value).toFixed(1)}" stroke="#b42318" stroke-dasharray="5 4"/><text x="${W - pad.r + 4}" y="${(y(t.value) + 4).toFixed(1)}" font-size="11" fill="#b42318">${t.name} ${t.value}</text>`)}
  ${series.map((s, k) => html`<polyline class="series" data-series="${s.name}" fill="none" stroke="${colours[k % colours.length]}" stroke-width="2" points="${s.points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ')}"/>
    ${s.points.map((p) => html`<circle cx="${x(p.at).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="3" fill="${colours[k % colours.length]}"><title>${s.name} ${p.value} · ${new Date(p.at).toISOString().slice(0, 16)}</title></circle>`)}`)}
</svg>
<p class="legend">${series.map((s, k) => html`<span style="color:${colours[k % colours.length]}">■ ${s.name}</span> `)}</p></figure>`;
}

/** Doses taken, skipped and missed per day, as stacked bars. */
function adherenceChart(title: string, days: { day: string; taken: number; skipped: number; missed: number }[]): Html {
  if (days.length === 0) return html`<figure class="chart"><figcaption>${title}</figcaption><p>—</p></figure>`;
  const W = 640;
  const H = 160;
  const max = Math.max(...days.map((d) => d.taken + d.skipped + d.missed), 1);
  const bw = Math.max(Math.min((W - 40) / days.length - 2, 24), 2);
  return html`<figure class="chart"><figcaption>${title}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}" width="100%">
${days.map((d, k) => {
  const x = 20 + k * (bw + 2);
  const h = (n: number) => (n / max) * (H - 30);
  const [ht, hs, hm] = [h(d.taken), h(d.skipped), h(d.missed)];
  return html`<g data-day="${d.day}"><title>${d.day}: ${d.taken}/${d.skipped}/${d.missed}</title>
  <rect x="${x}" y="${H - 20 - ht}" width="${bw}" height="${ht}" fill="#067647"/>
  <rect x="${x}" y="${H - 20 - ht - hs}" width="${bw}" height="${hs}" fill="#f79009"/>
  <rect x="${x}" y="${H - 20 - ht - hs - hm}" width="${bw}" height="${hm}" fill="#b42318"/></g>`;
})}
</svg><p class="legend"><span style="color:#067647">■ taken</span> <span style="color:#f79009">■ skipped</span> <span style="color:#b42318">■ missed</span></p></figure>`;
}

/** One online consultation: its state, the conversation, and for its doctor while it is open, the answer form. */
export function consultationPage(ctx: PageContext, x: Json, messages: Json[], canAnswer: boolean): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    t('consult.title'),
    html`<dl class="facts">
  <dt>${t('journey.patient')}</dt><dd>${x.patientId}</dd>
  <dt>${t('journey.status')}</dt><dd data-testid="consultation-status">${code(ctx.lang, x.status)}</dd>
  <dt>${t('consult.replyDue')}</dt><dd>${x.replyDueBy ? when(x.replyDueBy, ctx.lang) : '—'}</dd>
  <dt>${t('consult.rounds')}</dt><dd>${x.rounds}/${x.maxRounds}</dd>
</dl>
<h2>${t('consult.messages')}</h2>
<ol class="messages">${messages.map((m) => html`<li data-from="${m.from}"><p><strong>${m.from}</strong> · ${when(m.at, ctx.lang)}</p><p>${m.body}</p>${(m.attachments as string[]).length ? html`<p>${(m.attachments as string[]).join(', ')}</p>` : ''}</li>`)}</ol>
${canAnswer ? html`<form method="post" action="/app/consultations/${x.id}/messages" class="reason">
  <input type="hidden" name="back" value="/app/consultations/${x.id}">
  <label for="answer">${t('consult.replyLabel')}</label>
  <textarea id="answer" name="body" required maxlength="4000"></textarea>
  <button type="submit">${t('consult.reply')}</button>
</form>` : ''}
<h2>${t('journey.timeline')}</h2>${timelineTable(ctx, (x.timeline as Json[]).slice(-50))}`,
  );
}

export function programPage(ctx: PageContext, p: Json, thresholds: Json): Html {
  const t = translator(ctx.lang);
  const readings = (p.timeline as Json[]).filter((e) => e.type === 'reading.recorded').map((e) => ({ ...e.data, at: Date.parse(e.data.at ?? e.at) }) as Json);
  const bp = readings.filter((r) => r.type === 'bp');
  const glucose = readings.filter((r) => r.type === 'glucose');
  const weight = readings.filter((r) => r.type === 'weight');
  const byDay = new Map<string, { day: string; taken: number; skipped: number; missed: number }>();
  for (const e of p.timeline as Json[]) {
    const k = e.type === 'dose.confirmed' ? 'taken' : e.type === 'dose.skipped' ? 'skipped' : e.type === 'dose.missed' ? 'missed' : undefined;
    if (!k) continue;
    const day = String(e.data.scheduledAt ?? e.at).slice(0, 10);
    const d = byDay.get(day) ?? { day, taken: 0, skipped: 0, missed: 0 };
    d[k] += 1;
    byDay.set(day, d);
  }
  const charts: Html[] = [];
  if (bp.length || thresholds.bp)
    charts.push(lineChart(t('program.bp'), [{ name: 'systolic', points: bp.map((r) => ({ at: r.at, value: r.systolic })) }, { name: 'diastolic', points: bp.map((r) => ({ at: r.at, value: r.diastolic })) }],
      thresholds.bp ? [{ name: 'SBP≥', value: thresholds.bp.systolicHigh }, { name: 'DBP≥', value: thresholds.bp.diastolicHigh }, { name: 'SBP≤', value: thresholds.bp.systolicLow }] : []));
  if (glucose.length || thresholds.glucose)
    charts.push(lineChart(t('program.glucose'), [{ name: 'fasting', points: glucose.filter((r) => r.context === 'fasting').map((r) => ({ at: r.at, value: r.mmol })) }, { name: 'postprandial', points: glucose.filter((r) => r.context === 'postprandial').map((r) => ({ at: r.at, value: r.mmol })) }],
      thresholds.glucose ? [{ name: 'FPG≥', value: thresholds.glucose.fastingHigh }, { name: 'PPG≥', value: thresholds.glucose.postprandialHigh }, { name: '≤', value: thresholds.glucose.fastingLow }] : []));
  if (weight.length) charts.push(lineChart(t('program.weight'), [{ name: 'kg', points: weight.map((r) => ({ at: r.at, value: r.kg })) }], []));
  return layout(
    ctx,
    `${t('program.title')} · ${p.condition}`,
    html`<div id="program" data-fragment="/app/programs/${p.id}/fragment">
<dl class="facts">
  <dt>${t('journey.patient')}</dt><dd>${p.patientId}</dd>
  <dt>${t('journey.status')}</dt><dd>${code(ctx.lang, p.status)}</dd>
  <dt>${t('programs.adherence')}</dt><dd data-testid="adherence">${p.adherence.taken}/${p.adherence.skipped}/${p.adherence.missed}</dd>
  <dt>${t('programs.alerts')}</dt><dd>${(p.openAlerts as Json[]).length}</dd>
</dl>
${charts}
${adherenceChart(t('program.adherence'), [...byDay.values()].sort((a, b) => (a.day < b.day ? -1 : 1)).slice(-60))}
<h2>${t('program.next')}</h2>
<ul>${(p.next as Json[]).map((n) => html`<li>${n.kind} · ${when(n.at, ctx.lang)}</li>`)}</ul>
<h2>${t('journey.timeline')}</h2>${timelineTable(ctx, (p.timeline as Json[]).slice(-50))}
</div>`,
  );
}

const yuan = (fen: number): string => `¥${(fen / 100).toFixed(2)}`;

/** Finance (admins): the reconciliation days of the last weeks, each with its open exceptions. */
export function financePage(ctx: PageContext, days: Json[]): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    t('finance.title'),
    html`${days.length === 0 ? html`<p>${t('finance.none')}</p>` : ''}
<table id="reconciliation-days"><thead><tr><th>${t('finance.day')}</th><th>${t('finance.status')}</th><th>${t('finance.openExceptions')}</th><th>${t('finance.exceptions')}</th></tr></thead><tbody>
${days.map(
  (d) => html`<tr data-day="${d.date}" class="${d.status === 'open' ? 'late' : ''}"><td><a href="/app/finance/${d.date}">${d.date}</a></td><td>${t(`finance.status.${d.status as 'open' | 'closed' | 'running'}`)}</td><td>${d.openExceptions}</td><td>${d.exceptions}</td></tr>`,
)}
</tbody></table>`,
  );
}

/** One reconciliation day: its exceptions with both sides, each resolvable, and a re-run. */
export function financeDayPage(ctx: PageContext, d: Json): Html {
  const t = translator(ctx.lang);
  const back = `/app/finance/${d.date}`;
  const side = (x: Json | null | undefined) => (x ? html`${yuan(x.amount)} · ${when(x.at, ctx.lang)}` : html`—`);
  const mismatches = (d.result?.mismatches ?? []) as Json[];
  return layout(
    ctx,
    `${t('finance.title')} · ${d.date}`,
    html`<p>${t('finance.status')}: <strong id="day-status">${t(`finance.status.${d.status as 'open' | 'closed' | 'running'}`)}</strong> · ${t('finance.runs')}: ${(d.runs as Json[]).length}</p>
<form method="post" action="/app/finance/${d.date}/runs" class="inline"><input type="hidden" name="back" value="${back}"><button type="submit">${t('finance.rerun')}</button></form>
<h2>${t('finance.exceptions')}</h2>
${mismatches.length === 0 ? html`<p>${t('finance.noExceptions')}</p>` : ''}
<ol class="queue" id="exceptions">
${mismatches.map(
  (m) => html`<li class="card" data-task="${m.taskId}" data-status="${m.taskStatus}">
  <p><strong>${t(`finance.type.${m.type as 'amount-differs'}`)}</strong> · ${m.channel} · ${m.kind === 'refund' ? t('finance.refund') : t('finance.payment')} · ${m.orderId}</p>
  <table><tbody><tr><th>CarePath</th><td>${side(m.ours)}</td></tr><tr><th>${t('finance.statement')}</th><td>${(m.theirs as Json[]).length === 0 ? '—' : (m.theirs as Json[]).map((x, i) => html`${i > 0 ? html`<br>` : ''}${side(x)}`)}</td></tr></tbody></table>
  ${m.taskStatus === 'open' ? reasonForm(`/app/tasks/${m.taskId}/complete`, 'note', t('finance.note'), t('finance.resolve'), back, `note-${m.taskId}`) : html`<p>${t(`finance.task.${m.taskStatus as 'done' | 'cancelled'}`)}</p>`}
</li>`,
)}
</ol>`,
  );
}

/**
 * The price list (价格公示) and the hospital guide (就诊指南), for every member of staff; admins change
 * a drug's or an exam's price here (registration and consultation fees change with a template version).
 */
export function informationPage(ctx: PageContext, d: { prices: Json[]; guide: Json; admin: boolean }): Html {
  const t = translator(ctx.lang);
  const local = (x: Json) => x[ctx.lang] ?? x['zh-CN'];
  const back = '/app/information';
  const editable = (p: Json) => d.admin && (p.kind === 'drug' || p.kind === 'exam');
  return layout(
    ctx,
    t('info.title'),
    html`<h2>${t('info.prices')}</h2>
<table id="prices"><thead><tr><th>${t('info.kind')}</th><th>${t('info.code')}</th><th>${t('info.name')}</th><th>${t('info.price')}</th>${d.admin ? html`<th>${t('info.setPrice')}</th>` : ''}</tr></thead><tbody>
${d.prices.map(
  (p) => html`<tr data-price="${p.kind}:${p.code}"><td>${t(`info.kind.${p.kind as 'drug'}`)}</td><td>${p.code}</td><td>${local(p.name)}</td><td class="amount">${yuan(p.amount)} / ${p.unit}</td>${
    d.admin
      ? html`<td>${editable(p) ? html`<form method="post" action="/app/prices/${p.kind}/${p.code}" class="inline"><input type="hidden" name="back" value="${back}"><label class="visually-hidden" for="price-${p.kind}-${p.code}">${t('info.newPrice')}</label><input id="price-${p.kind}-${p.code}" name="yuan" required inputmode="decimal" pattern="[0-9]{1,7}([.][0-9]{1,2})?" size="8"> <button type="submit">${t('info.setPrice')}</button></form>` : ''}</td>`
      : ''
  }</tr>`,
)}
</tbody></table>
<h2>${t('info.guide')}</h2>
<table id="guide-departments"><thead><tr><th>${t('info.department')}</th><th>${t('info.where')}</th><th>${t('info.floor')}</th><th>${t('info.hours')}</th></tr></thead><tbody>
${(d.guide.departments as Json[]).map((g) => html`<tr data-department="${g.code}"><td>${local(g.name)}</td><td>${local(g.building)} · ${local(g.location)}</td><td>${g.floor}</td><td>${local(g.hours)}</td></tr>`)}
</tbody></table>
<h3>${t('info.procedures')}</h3>
${(d.guide.procedures as Json[]).map((p) => html`<section data-procedure="${p.code}"><h4>${local(p.title)}</h4><ol>${(p.steps as Json[]).map((st) => html`<li>${local(st)}</li>`)}</ol></section>`)}`,
  );
}
