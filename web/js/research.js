// De-identified research projects (#/research): the projects the user belongs to (all of them
// for administrators), their options and exports, each downloadable as a ZIP de-identified on
// the way out. Researchers see this page only; administrators also create projects here.

import { t } from './i18n.js';
import { api, h, dateTime, toast, errorText } from './util.js';
import { hasRole } from './app.js';

export async function researchPage(view) {
  const body = h('div');
  async function load() {
    const { projects } = await api('/api/deid/projects');
    body.replaceChildren();
    if (projects.length === 0) return body.append(h('p', { class: 'muted' }, t('rs.none')));
    for (const p of projects) {
      const options = Object.entries(p.options).filter(([, on]) => on).map(([k]) => t(`rs.opt.${k}`));
      body.append(h('section', { class: 'project', dataset: { project: p.name } },
        h('h2', {}, p.name),
        h('p', { class: 'muted small' }, [t('rs.profile'), ...options].join(' · '),
          p.members.length ? ` · ${t('rs.members')}: ${p.members.join(', ')}` : ''),
        p.exports.length === 0 ? h('p', { class: 'muted' }, t('rs.noExports'))
          : h('ul', {}, ...p.exports.map((e) => h('li', {},
            h('a', { href: e.download, class: 'download' }, t('rs.download', { n: e.id })),
            h('span', { class: 'muted small' }, ` · ${t('rs.studies', { n: e.studies })} · ${e.created_by} · ${dateTime(e.created_at)}`))))));
    }
  }
  const parts = [h('div', { class: 'page-head' }, h('h1', {}, t('rs.title')))];
  if (hasRole('admin')) {
    const name = h('input', { name: 'name', placeholder: t('rs.name'), required: true, pattern: '[A-Za-z0-9._-]{1,64}' });
    const members = h('input', { name: 'members', placeholder: t('rs.membersHint') });
    const flags = ['retain_longitudinal_full_dates', 'retain_patient_characteristics', 'clean_descriptors']
      .map((k) => [k, h('input', { type: 'checkbox', name: k })]);
    parts.push(h('form', { class: 'filters new-project', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/deid/projects', { method: 'POST', body: {
          name: name.value, members: members.value.split(/[\s,]+/).filter(Boolean),
          ...Object.fromEntries(flags.map(([k, box]) => [k, box.checked])) } });
        name.value = '';
        await load();
      } catch (err) { toast(err.body?.message ? `${errorText(err)} (${err.body.message})` : errorText(err), 'error'); }
    } }, name, members, ...flags.map(([k, box]) => h('label', { class: 'toggle' }, box, t(`rs.opt.${k}`))),
    h('button', { type: 'submit', class: 'primary' }, t('rs.create'))));
  }
  view.append(...parts, body);
  await load();
}
