// The study page's sharing panel: share links (validity, optional access code, recipient; the
// link is shown once), shares with another institution, and every share with how often it was
// opened and a Revoke button.

import { t } from './i18n.js';
import { api, h, dateTime, toast, errorText } from './util.js';
import { hasRole } from './app.js';

export async function sharingPanel(uid, reload) {
  if (!hasRole('clinician')) return null;
  const base = `/api/studies/${encodeURIComponent(uid)}/shares`;
  let list;
  try {
    list = (await api(base)).shares;
  } catch {
    return null;
  }
  const fail = (e) => toast(e.body?.message ? `${errorText(e)} (${e.body.message})` : errorText(e), 'error');
  const created = h('div', { class: 'created' });
  const hours = h('select', { name: 'expires_hours' },
    ...[24, 72, 168, 720].map((n) => h('option', { value: n }, t(`sh.h${n}`))));
  hours.value = '72';
  const code = h('input', { name: 'access_code', placeholder: t('sh.codeOptional'), maxlength: 64, autocomplete: 'off' });
  const recipient = h('input', { name: 'recipient', placeholder: t('sh.recipient'), maxlength: 128 });
  const institution = h('input', { name: 'institution', placeholder: t('sh.institution'), maxlength: 64 });
  const items = h('ul', { class: 'shares' });
  if (list.length === 0) items.append(h('li', { class: 'muted' }, t('sh.none')));
  for (const s of list) {
    const what = s.kind === 'institution' ? `${t('sh.withInstitution')}: ${s.institution}`
      : `${t('sh.link')}${s.recipient ? ` · ${s.recipient}` : ''}${s.access_code ? ' · 🔒' : ''}`;
    items.append(h('li', { class: s.revoked_at ? 'revoked' : '', dataset: { id: s.id } }, what,
      h('span', { class: 'muted small' }, ` · ${s.created_by} · ${dateTime(s.created_at)}`,
        s.expires_at ? ` · ${t('sh.until', { t: dateTime(s.expires_at) })}` : '',
        s.kind === 'link' ? ` · ${t('sh.opened', { n: s.opened })}` : '',
        s.revoked_at ? ` · ${t('sh.revoked', { t: dateTime(s.revoked_at) })}` : ''),
      s.revoked_at ? null : h('button', { class: 'link revoke', onclick: async () => {
        try { await api(`/api/shares/${s.id}/revoke`, { method: 'POST' }); reload(); } catch (e) { fail(e); }
      } }, t('sh.revoke'))));
  }
  return h('section', { class: 'share-panel' }, h('h2', {}, t('sh.section')),
    h('form', { class: 'share-link', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const s = await api(base, { method: 'POST', body: { kind: 'link', expires_hours: Number(hours.value),
          access_code: code.value, recipient: recipient.value } });
        const url = `${location.origin}${s.url}`;
        created.replaceChildren(h('p', {}, t('sh.created')), h('p', { class: 'new-link' }, url));
        code.value = '';
      } catch (err) { fail(err); }
    } }, h('b', {}, t('sh.link')), h('label', {}, t('sh.hours'), hours), code, recipient,
    h('button', { type: 'submit', class: 'primary' }, t('sh.create'))),
    created,
    h('form', { class: 'share-institution', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api(base, { method: 'POST', body: { kind: 'institution', institution: institution.value } });
        reload();
      } catch (err) { fail(err); }
    } }, h('b', {}, t('sh.withInstitution')), institution,
    h('button', { type: 'submit' }, t('sh.share'))),
    items);
}
