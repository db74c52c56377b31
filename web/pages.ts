// The dashboard's pages, rendered on the server with Hono's `html` template (every interpolated value is
// escaped). Each takes what the API answered and the caller's language; none reads anything itself.
import { html } from 'hono/html';
import type { Role } from '../workflows/definitions.js';
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

const ROLE_HOME: Partial<Record<Role, { href: string; key: MessageKey }[]>> = {
  coordinator: [{ href: '/app/board', key: 'nav.board' }],
  admin: [{ href: '/app/board', key: 'nav.board' }],
  doctor: [{ href: '/app/doctor', key: 'nav.doctor' }],
  pharmacist: [{ href: '/app/pharmacy', key: 'nav.pharmacy' }],
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
  (p) => html`<tr><td>${p.condition} · ${p.id.slice(0, 8)}</td><td>${p.patientId}</td><td class="num">${p.openAlerts}</td><td class="num">${p.adherence.taken}/${p.adherence.skipped}/${p.adherence.missed}</td></tr>`,
)}
</tbody></table></section>`;
}

export function boardPage(ctx: PageContext, board: Json, f: BoardFilters, departments: readonly string[]): Html {
  const t = translator(ctx.lang);
  const statuses = ['active', 'completed', 'cancelled', 'no-show', 'redirected'];
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
  <button type="submit">${t('board.apply')}</button>
</form>
<form method="get" action="/app/search" class="search" role="search">
  <label for="q" class="visually-hidden">${t('board.search')}</label>
  <input id="q" name="q" placeholder="${t('board.search')}" maxlength="200" required>
  <button type="submit">${t('board.searchGo')}</button>
</form>
<p id="live" class="live" aria-live="polite" data-live="${t('board.live')}" data-lost="${t('board.liveLost')}" data-updated="${t('board.updated')}">${t('common.loading')}</p>
</div>
<section id="board" data-fragment="/app/board/fragment${q ? `?${q}` : ''}" aria-live="polite">${boardFragment(ctx, board, f)}</section>`,
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

export function journeyPage(ctx: PageContext, j: Json, items: { kind: string; item: Json }[], opts: { temporalUrl?: string; canCancel: boolean }): Html {
  const t = translator(ctx.lang);
  const back = `/app/journeys/${j.id}`;
  return layout(
    ctx,
    `${t('journey.title')} ${j.id.slice(0, 8)}`,
    html`<div data-fragment="${back}/fragment" id="journey">${journeyFragment(ctx, j, items, opts, back)}</div>
${opts.temporalUrl ? html`<p><a href="${opts.temporalUrl}" target="_blank" rel="noopener">${t('journey.temporal')}</a></p>` : ''}
${opts.canCancel && j.status === 'active' ? html`<section aria-labelledby="cancel-h"><h2 id="cancel-h">${t('journey.cancel')}</h2>${reasonForm(`/app/journeys/${j.id}/cancel`, 'reason', t('journey.cancelReason'), t('journey.cancel'), back, 'cancel-reason')}</section>` : ''}`,
  );
}

export function journeyFragment(ctx: PageContext, j: Json, items: { kind: string; item: Json }[], _opts: unknown, back: string): Html {
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

export function pharmacyPage(ctx: PageContext, queue: { task: Json; rx: Json }[]): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    t('pharmacy.title'),
    html`<h2>${t('pharmacy.queue')}</h2>
${queue.length === 0 ? html`<p>${t('pharmacy.empty')}</p>` : ''}
<ol class="queue" id="pharmacy" data-fragment="/app/pharmacy">
${queue.map(
  ({ task, rx }) => html`<li data-prescription="${rx.id}" class="card">
  <p><strong>${rx.id.slice(0, 8)}</strong> · ${t('journey.patient')} ${rx.patientId} · ${rx.prescriberId} · ${when(task.dueAt, ctx.lang)}</p>
  <table><caption>${t('pharmacy.items')}</caption><tbody>
  ${(rx.items as Json[]).map((i) => html`<tr><td>${i.name ?? i.drugCode}</td><td>${i.dose}</td><td>${i.frequency}</td><td>${i.days}d</td><td>×${i.quantity}</td></tr>`)}
  </tbody></table>
  <form method="post" action="/app/prescriptions/${rx.id}/review" class="inline"><input type="hidden" name="decision" value="approve"><input type="hidden" name="back" value="/app/pharmacy"><button type="submit">${t('pharmacy.approve')}</button></form>
  <form method="post" action="/app/prescriptions/${rx.id}/review" class="reason"><input type="hidden" name="decision" value="reject"><input type="hidden" name="back" value="/app/pharmacy">
    <label for="reason-${rx.id}">${t('pharmacy.reason')}</label><input id="reason-${rx.id}" name="reason" required maxlength="1000"><button type="submit">${t('pharmacy.reject')}</button></form>
</li>`,
)}
</ol>`,
  );
}

export function doctorPage(ctx: PageContext, journeys: Json[], tasks: Json[]): Html {
  const t = translator(ctx.lang);
  return layout(
    ctx,
    t('doctor.title'),
    html`<section aria-labelledby="dj-h"><h2 id="dj-h">${t('doctor.journeys')}</h2>
<table class="journeys"><tbody>
${journeys.map((j) => html`<tr><td><a href="/app/journeys/${j.id}">${j.id.slice(0, 8)}</a></td><td>${j.patientId}</td><td>${when(j.appointment?.start, ctx.lang)}</td><td>${code(ctx.lang, j.step)}</td></tr>`)}
</tbody></table>${journeys.length === 0 ? html`<p>${t('journeys.empty')}</p>` : ''}</section>
<section aria-labelledby="dt-h"><h2 id="dt-h">${t('doctor.tasks')}</h2>
${tasks.length === 0 ? html`<p>${t('journey.noTasks')}</p>` : ''}
<ul>${tasks.map((task) => html`<li>${task.kind} · ${task.action} · ${when(task.dueAt, ctx.lang)}${task.journeyId ? html` · <a href="/app/journeys/${task.journeyId}">${t('common.open')}</a>` : ''}</li>`)}</ul></section>`,
  );
}
