// Remote reading: the queue of clinics' read requests (#/reading) and, on a study page, the
// study's request, its signed reports (with their PDF) and the report editor of the reader who
// holds the request. The server decides who may do what (can_claim, can_write, ...); this page
// only shows what it allows.

import { t } from './i18n.js';
import { api, h, personName, dicomDate, dateTime, duration, toast, errorText } from './util.js';
import { hasRole } from './app.js';

function priorityChip(p) {
  return h('span', { class: `chip priority-${p}` }, t(`rd.priority.${p}`));
}

function requestState(q) {
  if (q.status === 'claimed') return t('rd.claimedBy', { u: q.claimed_by });
  return t(`rd.status.${q.status}`);
}

// "due in 2 h" or "overdue by 15 min", from the server's clock.
function dueText(q, nowIso) {
  const left = (Date.parse(q.due_at) - Date.parse(nowIso)) / 1000;
  return left >= 0 ? t('rd.dueIn', { d: duration(left) }) : t('rd.overdueBy', { d: duration(-left) });
}

async function act(path, body, done) {
  try {
    await api(path, { method: 'POST', body });
    done();
  } catch (e) {
    toast(e.body?.message ? `${errorText(e)} (${e.body.message})` : errorText(e), 'error');
  }
}

export async function readingPage(view) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const show = h('select', { name: 'show' },
    ...['open', 'mine', 'signed', 'all'].map((v) => h('option', { value: v }, t(`rd.show.${v}`))));
  show.value = params.get('show') || 'open';
  const body = h('div');
  let timer = null;

  async function load() {
    const q = new URLSearchParams();
    if (show.value === 'mine') { q.set('mine', '1'); q.set('status', 'claimed'); }
    else q.set('status', show.value);
    history.replaceState(null, '', `#/reading?show=${show.value}`);
    const page = await api(`/api/read-requests?${q}&limit=200`);
    body.replaceChildren();
    if (page.requests.length === 0) return body.append(h('p', { class: 'muted' }, t('rd.empty')));
    body.append(h('table', { class: 'reading' },
      h('thead', {}, h('tr', {}, ...['rd.priority', 'rd.clinic', 'wl.patient', 'wl.date', 'wl.mod',
        'wl.desc', 'wl.high', 'rd.requested', 'rd.due', 'rd.state', ''].map((k) => h('th', {}, k ? t(k) : '')))),
      h('tbody', {}, ...page.requests.map((r) => h('tr', {
        class: `${r.overdue ? 'overdue' : ''} status-${r.status}`, dataset: { study: r.study_instance_uid, id: r.id } },
      h('td', {}, priorityChip(r.priority)),
      h('td', {}, r.institution || '—'),
      h('td', {}, h('a', { href: `#/study/${encodeURIComponent(r.study_instance_uid)}` }, personName(r.patient_name)),
        h('div', { class: 'muted small' }, r.patient_id)),
      h('td', {}, dicomDate(r.study_date)),
      h('td', {}, (r.modalities || '').split('\\').join(' ')),
      h('td', {}, r.description || '', r.reason ? h('div', { class: 'muted small' }, r.reason) : null),
      h('td', { class: `num${r.high_risk ? ' high' : ''}` }, r.high_risk),
      h('td', {}, dateTime(r.requested_at), h('div', { class: 'muted small' }, r.requested_by)),
      h('td', { class: r.overdue ? 'overdue' : '' },
        r.status === 'requested' || r.status === 'claimed' ? dueText(r, page.now) : dateTime(r.closed_at)),
      h('td', {}, requestState(r)),
      h('td', {}, r.can_claim ? h('button', { class: 'primary claim', onclick: () =>
        act(`/api/read-requests/${r.id}/claim`, {}, () => {
          location.hash = `#/study/${encodeURIComponent(r.study_instance_uid)}`;
        }) }, t('rd.claim')) : null))))),
    h('p', { class: 'muted small' }, t('rd.total', { n: page.total })));
  }

  view.append(h('div', { class: 'page-head' }, h('h1', {}, t('rd.title'))),
    h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('label', {}, t('rd.show'), show),
      h('button', { type: 'submit', class: 'primary' }, t('wl.apply'))),
    body);
  show.addEventListener('change', () => load().catch((e) => toast(errorText(e), 'error')));
  await load();
  // New requests arrive while the page is open; reload now and then (cheap, scoped query).
  timer = setInterval(() => load().catch(() => {}), 15000);
  return () => clearInterval(timer);
}

function reportView(r) {
  return h('article', { class: `report${r.addendum ? ' addendum' : ''}`, dataset: { version: r.version } },
    h('h3', {}, r.addendum ? t('rd.addendumN', { n: r.version - 1 }) : t('rd.report'),
      h('span', { class: 'muted small' }, ` · ${t('rd.signedBy', { u: r.author, t: dateTime(r.signed_at) })} · `),
      h('a', { href: r.pdf, target: '_blank', rel: 'noopener', class: 'pdf' }, 'PDF')),
    r.findings ? h('div', {}, h('h4', {}, t('rd.findings')), h('p', { class: 'text' }, r.findings)) : null,
    r.impression ? h('div', {}, h('h4', {}, t('rd.impression')), h('p', { class: 'text' }, r.impression)) : null);
}

/** The study page's reading section; `reload` renders the page again. */
export async function readingPanel(uid, reload) {
  const base = `/api/studies/${encodeURIComponent(uid)}`;
  let state;
  try {
    state = await api(`${base}/reports`);
  } catch {
    return null;
  }
  const q = state.request;
  const section = h('section', { class: 'reading-panel' }, h('h2', {}, t('rd.section')));

  if (q) {
    section.append(h('p', { class: `request status-${q.status}${q.overdue ? ' overdue' : ''}` },
      priorityChip(q.priority), ' ',
      h('b', { class: 'state' }, requestState(q)), ' · ',
      t('rd.requestedBy', { c: q.institution || '—', u: q.requested_by, t: dateTime(q.requested_at) }),
      q.reason ? h('q', {}, q.reason) : null,
      q.can_claim ? h('button', { class: 'primary claim', onclick: () =>
        act(`/api/read-requests/${q.id}/claim`, {}, reload) }, t('rd.claim')) : null,
      q.can_cancel && !q.can_claim && hasRole('clinician') ? h('button', { class: 'cancel', onclick: () =>
        act(`/api/read-requests/${q.id}/cancel`, {}, reload) }, t('rd.cancel')) : null,
      q.status === 'claimed' && q.claimed_by && state.can_write ? h('button', { class: 'link release', onclick: () =>
        act(`/api/read-requests/${q.id}/release`, {}, reload) }, t('rd.release')) : null));
  }

  for (const r of state.reports) section.append(reportView(r));

  if (state.can_request) {
    const priority = h('select', { name: 'priority' },
      ...['routine', 'urgent', 'stat'].map((p) => h('option', { value: p }, t(`rd.priority.${p}`))));
    const reason = h('input', { name: 'reason', maxlength: 1024, placeholder: t('rd.reason') });
    section.append(h('form', { class: 'request-read', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api(`${base}/read-requests`, { method: 'POST', body: { priority: priority.value, reason: reason.value } });
        toast(t('rd.requested'));
        reload();
      } catch (err) { toast(errorText(err), 'error'); }
    } }, priority, reason, h('button', { type: 'submit', class: 'primary' }, t('rd.request'))));
  }

  if (!q && state.reports.length === 0 && !state.can_write) section.append(h('p', { class: 'muted' }, t('rd.none')));

  if (state.can_write && hasRole('radiologist')) {
    const draft = state.draft || {};
    const findings = h('textarea', { name: 'findings', rows: 6, maxlength: 60000 }, draft.findings || '');
    const impression = h('textarea', { name: 'impression', rows: 3, maxlength: 16000 }, draft.impression || '');
    const saved = h('span', { class: 'muted small saved' },
      draft.updated_at ? t('rd.draftSaved', { t: dateTime(draft.updated_at) }) : '');
    async function save() {
      const d = await api(`${base}/report`, { method: 'PUT', body: { findings: findings.value, impression: impression.value } });
      saved.textContent = t('rd.draftSaved', { t: dateTime(d.updated_at) });
      return d;
    }
    const addendum = state.reports.length > 0;
    section.append(h('form', { class: 'report-editor', onsubmit: (e) => e.preventDefault() },
      h('h3', {}, addendum ? t('rd.writeAddendum') : t('rd.write')),
      h('label', {}, t('rd.findings'), findings),
      h('label', {}, t('rd.impression'), impression),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'save', onclick: () => save().then(() => toast(t('rd.saved')))
          .catch((e) => toast(errorText(e), 'error')) }, t('rd.save')),
        h('button', { type: 'button', class: 'primary sign', onclick: async () => {
          if (!findings.value.trim() && !impression.value.trim()) return toast(t('rd.emptyReport'), 'error');
          try {
            const d = await save();
            await api(`${base}/report/sign`, { method: 'POST', body: { version: d.version } });
            toast(t('rd.signed'));
            reload();
          } catch (e) { toast(e.body?.message ? `${errorText(e)} (${e.body.message})` : errorText(e), 'error'); }
        } }, t('rd.sign')),
        saved),
      h('p', { class: 'muted small' }, t('rd.signNote'))));
  }
  return section;
}

/** Request-to-signed turnaround per clinic, for the statistics page. */
export async function turnaroundTable(query) {
  const stats = await api(`/api/reading/turnaround?${query}`);
  if (stats.institutions.length === 0) return h('p', { class: 'muted' }, t('rd.noTurnaround'));
  return h('table', { class: 'stats turnaround' },
    h('thead', {}, h('tr', {}, ...['rd.clinic', 'rd.requestedN', 'rd.signedN', 'rd.openN', 'rd.overdueN',
      'rd.p50', 'rd.p90'].map((k) => h('th', {}, t(k))))),
    h('tbody', {}, ...stats.institutions.map((i) => h('tr', { dataset: { institution: i.institution } },
      h('td', {}, i.institution || '—'), h('td', { class: 'num' }, i.requested),
      h('td', { class: 'num' }, i.signed), h('td', { class: 'num' }, i.open),
      h('td', { class: `num${i.overdue ? ' high' : ''}` }, i.overdue),
      h('td', {}, duration(i.request_to_signed_p50_s)), h('td', {}, duration(i.request_to_signed_p90_s))))));
}
