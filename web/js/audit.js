// The audit log for administrators: filter by user and days, export as CSV.

import { t } from './i18n.js';
import { api, h, dateTime, toast, errorText } from './util.js';

export async function auditPage(view) {
  const user = h('input', { name: 'user' });
  const from = h('input', { type: 'date', name: 'from' });
  const to = h('input', { type: 'date', name: 'to' });
  const tbody = h('tbody');
  const query = () => {
    const q = new URLSearchParams({ limit: 500 });
    if (user.value) q.set('user', user.value);
    if (from.value) q.set('from', from.value);
    if (to.value) q.set('to', to.value);
    return q;
  };
  async function load() {
    try {
      const { entries } = await api(`/api/audit?${query()}`);
      tbody.replaceChildren(...entries.map((e) => h('tr', {},
        h('td', {}, dateTime(e.at)), h('td', {}, e.user), h('td', {}, e.action),
        h('td', { class: 'mono' }, e.object), h('td', {}, e.remote), h('td', {}, e.detail))));
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }
  const exportCsv = () => {
    const q = query();
    q.set('format', 'csv');
    q.set('limit', 100000);
    location.href = `/api/audit?${q}`;
  };
  view.append(h('div', { class: 'page-head' }, h('h1', {}, t('audit.title'))),
    h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('label', {}, t('audit.user'), user), h('label', {}, t('wl.from'), from),
      h('label', {}, t('wl.to'), to), h('button', { type: 'submit', class: 'primary' }, t('wl.apply')),
      h('button', { type: 'button', onclick: exportCsv }, t('audit.export'))),
    h('table', { class: 'audit' }, h('thead', {}, h('tr', {},
      ...['audit.at', 'audit.user', 'audit.action', 'audit.object', 'audit.remote', 'audit.detail'].map((k) => h('th', {}, t(k))))),
    tbody));
  await load();
}
