// The worklist: the studies to read, riskiest first (the server orders them, lifting any study
// that waited past the cap to the top), with filters, paging and live updates.

import { t } from './i18n.js';
import { api, h, personName, dicomDate, duration, countBadges, statusChip, toast, errorText } from './util.js';

const PAGE = 25;
const POLL_MS = 3000;

function filtersFromHash() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  return Object.fromEntries(q.entries());
}

export async function worklistPage(view) {
  const saved = { status: 'open', ...filtersFromHash() };
  const field = (name, el) => { el.name = name; if (saved[name]) el.value = saved[name]; return el; };
  const opt = (value, label) => h('option', { value }, label);
  const from = field('from', h('input', { type: 'date' }));
  const to = field('to', h('input', { type: 'date' }));
  const modality = field('modality', h('select', {}, opt('', t('wl.any')),
    ...['CT', 'MR', 'CR', 'DX', 'XA', 'US', 'MG', 'NM', 'PT', 'RF'].map((m) => opt(m, m))));
  const status = field('status', h('select', {}, opt('', t('wl.any')), opt('open', t('status.open')),
    ...['awaiting', 'partial', 'confirmed', 'rejected', 'none'].map((s) => opt(s, t(`status.${s}`)))));
  const risk = field('risk', h('select', {}, opt('', t('wl.any')),
    ...['high', 'pending', 'failed', 'normal'].map((r) => opt(r, t(`risk.${r}`)))));
  const q = field('q', h('input', { type: 'search', placeholder: t('wl.search') }));
  let offset = Number(saved.offset || 0);

  const apply = () => {
    const params = new URLSearchParams();
    for (const el of [from, to, modality, status, risk, q]) if (el.value) params.set(el.name, el.value);
    if (offset) params.set('offset', offset);
    const hash = `#/worklist?${params}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    load(true);
  };
  const form = h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); offset = 0; apply(); } },
    h('label', {}, t('wl.from'), from), h('label', {}, t('wl.to'), to),
    h('label', {}, t('wl.modality'), modality), h('label', {}, t('wl.status'), status),
    h('label', {}, t('wl.risk'), risk), h('label', { class: 'grow' }, t('wl.search'), q),
    h('button', { type: 'submit', class: 'primary' }, t('wl.apply')),
    h('button', { type: 'button', onclick: () => {
      for (const el of [from, to, modality, risk, q]) el.value = '';
      status.value = 'open'; offset = 0; apply();
    } }, t('wl.clear')));
  for (const el of [modality, status, risk]) el.addEventListener('change', () => { offset = 0; apply(); });

  const tbody = h('tbody');
  const info = h('span', { class: 'muted' });
  const live = h('span', { class: 'live', title: t('wl.live') }, '●');
  const pager = h('div', { class: 'pager' });
  view.append(
    h('div', { class: 'page-head' }, h('h1', {}, t('wl.title')), live, info),
    form,
    h('table', { class: 'worklist' },
      h('thead', {}, h('tr', {},
        h('th', {}, t('wl.patient')), h('th', {}, t('wl.date')), h('th', {}, t('wl.mod')),
        h('th', {}, t('wl.desc')), h('th', { class: 'num' }, t('wl.images')),
        h('th', {}, `${t('wl.normal')} / ${t('wl.high')} / ${t('wl.failed')} / ${t('wl.pending')}`),
        h('th', {}, t('wl.review')), h('th', {}, t('wl.waiting')))),
      tbody),
    pager);

  let stamp = null;
  let timer = null;
  let busy = false;
  let again = false;    // a filter changed while a load was in flight: load once more after it
  let stopped = false;  // the page was left while a poll was in flight

  // One load at a time. A filter change during a poll's load used to be dropped, so the table
  // kept the old filter's rows until the stamp moved again (the flaky browser test): now it is
  // remembered and loaded as soon as the running one ends, with the filters as they are then.
  async function load(force) {
    if (stopped && !force) return;
    if (busy) {
      if (force) again = true;
      return;
    }
    busy = true;
    try {
      const params = new URLSearchParams();
      for (const el of [from, to, modality, status, risk, q]) if (el.value) params.set(el.name, el.value);
      params.set('limit', PAGE);
      params.set('offset', offset);
      const page = await api(`/api/worklist?${params}`);
      if (!force && stamp !== null && page.stamp !== stamp) toast(t('wl.updated'));
      stamp = page.stamp;
      render(page);
      live.classList.remove('down');
    } catch (e) {
      live.classList.add('down');
      if (force) toast(errorText(e), 'error');
    } finally {
      busy = false;
    }
    if (again && !stopped) {
      again = false;
      await load(true);
    }
  }

  function render(page) {
    info.textContent = t('wl.total', { n: page.total });
    tbody.replaceChildren();
    if (page.studies.length === 0) {
      tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, t('wl.empty'))));
    }
    for (const s of page.studies) {
      const awaiting = s.review_status === 'awaiting' || s.review_status === 'partial';
      // Red until a doctor has decided every finding; a confirmed study keeps a red edge.
      const cls = [
        s.ai.high_risk > 0 && awaiting ? 'high-risk awaiting' : '',
        s.review_status === 'confirmed' ? 'confirmed-risk' : '',
        s.overdue ? 'overdue' : '',
      ].filter(Boolean).join(' ');
      const open = () => { location.hash = `#/study/${encodeURIComponent(s.study_instance_uid)}`; };
      tbody.append(h('tr', { class: cls, tabindex: 0, dataset: { uid: s.study_instance_uid },
        onclick: open, onkeydown: (e) => { if (e.key === 'Enter') open(); } },
      h('td', {}, h('div', { class: 'patient' }, personName(s.patient_name)),
        h('div', { class: 'muted small' }, s.patient_id),
        // Which clinic sent it: the central reading group works several institutions' studies.
        s.institution ? h('div', { class: 'muted small institution' }, s.institution) : null),
      h('td', {}, dicomDate(s.study_date)),
      h('td', {}, (s.modalities || '').replaceAll('\\', ' ')),
      h('td', {}, s.study_description || '—',
        s.ai.highest_risk_label ? h('div', { class: 'finding' }, s.ai.highest_risk_label) : null),
      h('td', { class: 'num' }, s.ai.images),
      h('td', {}, countBadges(s.ai)),
      h('td', {}, statusChip(s.review_status),
        s.reviewed_by ? h('div', { class: 'muted small' }, s.reviewed_by) : null),
      h('td', { title: s.overdue ? t('wl.overdue', { m: page.wait_cap_minutes }) : '' },
        s.overdue ? h('span', { class: 'chip overdue' }, '⏱ ') : null, duration(s.waiting_s))));
    }
    const pages = Math.max(1, Math.ceil(page.total / PAGE));
    const current = Math.floor(offset / PAGE) + 1;
    pager.replaceChildren(
      h('button', { disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); apply(); } }, t('wl.prev')),
      h('span', {}, t('wl.page', { p: current, n: pages })),
      h('button', { disabled: current >= pages, onclick: () => { offset += PAGE; apply(); } }, t('wl.next')));
  }

  // Live updates: a cheap change stamp is polled; the page reloads only when it moved.
  async function poll() {
    if (stopped) return;
    try {
      const s = await api('/api/worklist/stamp');
      live.classList.remove('down');
      if (s.stamp !== stamp) await load(false);
    } catch {
      live.classList.add('down');
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  await load(true);
  timer = setTimeout(poll, POLL_MS);
  return () => { stopped = true; clearTimeout(timer); };
}
