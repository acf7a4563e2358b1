// Review statistics per model version: how doctors judged its high-risk calls, and turnaround.

import { t } from './i18n.js';
import { api, h, duration } from './util.js';
import { turnaroundTable } from './reading.js';

export async function statsPage(view) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const from = h('input', { type: 'date', name: 'from', value: params.get('from') || '' });
  const to = h('input', { type: 'date', name: 'to', value: params.get('to') || '' });
  const body = h('div');
  async function load() {
    const q = new URLSearchParams();
    if (from.value) q.set('from', from.value);
    if (to.value) q.set('to', to.value);
    history.replaceState(null, '', `#/stats?${q}`);
    const [stats, turnaround] = await Promise.all([api(`/api/stats?${q}`),
      turnaroundTable(q).catch(() => null)]);
    body.replaceChildren();
    if (turnaround) body.append(h('h2', {}, t('rd.turnaround')), turnaround);
    body.append(h('h2', {}, t('stats.title')));
    if (stats.models.length === 0) return body.append(h('p', { class: 'muted' }, t('stats.none')));
    const pair = (x) => `${duration(x.p50)} / ${duration(x.p90)}`;
    body.append(h('table', { class: 'stats' },
      h('thead', {}, h('tr', {},
        ...['stats.model', 'stats.version', 'stats.analysed', 'stats.high', 'stats.confirmed',
          'stats.rejected', 'stats.undecided', 'stats.rate', 'stats.toAi', 'stats.toViewed',
          'stats.toConfirmed', 'stats.total'].map((k) => h('th', {}, t(k))))),
      h('tbody', {}, ...stats.models.map((m) => h('tr', { dataset: { model: `${m.model}@${m.model_version}` } },
        h('td', {}, m.model), h('td', {}, m.model_version), h('td', { class: 'num' }, m.images_analysed),
        h('td', { class: 'num' }, m.high_risk), h('td', { class: 'num confirmed' }, m.confirmed),
        h('td', { class: 'num rejected' }, m.rejected), h('td', { class: 'num' }, m.undecided),
        h('td', { class: 'num' }, m.confirm_rate === null ? '—' : `${Math.round(m.confirm_rate * 100)}%`),
        h('td', {}, pair(m.turnaround_s.received_to_ai)), h('td', {}, pair(m.turnaround_s.ai_to_viewed)),
        h('td', {}, pair(m.turnaround_s.viewed_to_confirmed)), h('td', {}, pair(m.turnaround_s.received_to_confirmed)))))),
    h('p', { class: 'muted small' }, t('stats.turnaround')));
  }
  view.append(h('div', { class: 'page-head' }, h('h1', {}, t('stats.title'))),
    h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('label', {}, t('wl.from'), from), h('label', {}, t('wl.to'), to),
      h('button', { type: 'submit', class: 'primary' }, t('wl.apply'))),
    body);
  await load();
}
