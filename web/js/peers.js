// The peer directory for administrators, on the cluster page: the DICOM nodes and DICOMweb
// servers dxhub knows, where each comes from (this node's config file, or the database every
// node shares), a connection test, and adding or removing the shared ones.

import { t } from './i18n.js';
import { api, h, toast, errorText } from './util.js';

export function peersSection() {
  const tbody = h('tbody');
  const section = h('section', { class: 'peers' });

  async function load() {
    try {
      const { peers } = await api('/api/peers');
      tbody.replaceChildren(...peers.map(row));
      if (!peers.length) {
        tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, t('peers.none'))));
      }
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  function row(p) {
    const result = h('span', { class: 'echo-result muted small' });
    const test = async () => {
      result.textContent = '…';
      try {
        const r = await api(`/api/peers/${encodeURIComponent(p.name)}/echo`, { method: 'POST' });
        result.className = `echo-result chip ${r.ok ? 'ok' : 'bad'}`;
        result.textContent = r.ok ? t('peers.answered', { ms: r.milliseconds }) : r.message;
      } catch (e) {
        result.className = 'echo-result chip bad';
        result.textContent = errorText(e);
      }
    };
    const remove = async () => {
      if (!window.confirm(t('peers.confirmRemove', { name: p.name }))) return;
      try {
        await api(`/api/peers/${encodeURIComponent(p.name)}`, { method: 'DELETE' });
        toast(t('peers.removed', { name: p.name }));
        await load();
      } catch (e) {
        toast(errorText(e), 'error');
      }
    };
    const address = p.kind === 'dicom' ? `${p.aet}@${p.host}:${p.port}` : p.url;
    const flags = [p.query ? t('peers.query') : '', p.tls ? 'TLS' : '',
      p.token_set ? t('peers.token') : ''].filter(Boolean).join(' · ');
    return h('tr', { dataset: { peer: p.name } },
      h('td', {}, p.name),
      h('td', {}, p.kind === 'dicom' ? 'DICOM' : 'DICOMweb'),
      h('td', { class: 'mono' }, address),
      h('td', {}, flags),
      h('td', {}, h('span', { class: 'chip' }, t(`peers.source.${p.source}`))),
      h('td', {}, h('button', { type: 'button', class: 'test', onclick: test }, t('peers.test')),
        p.source === 'database'
          ? h('button', { type: 'button', class: 'remove link', onclick: remove }, t('peers.remove'))
          : '',
        ' ', result));
  }

  const kind = h('select', { name: 'kind' }, h('option', { value: 'dicom' }, 'DICOM'),
    h('option', { value: 'dicomweb' }, 'DICOMweb'));
  const field = (name, attrs = {}) => h('input', { name, ...attrs });
  const inputs = {
    name: field('name', { placeholder: 'pacs-main', required: true }),
    aet: field('aet', { placeholder: 'PACS', maxlength: 16 }),
    host: field('host', { placeholder: '10.1.2.3' }),
    port: field('port', { type: 'number', min: 1, max: 65535, value: 104 }),
    query: field('query', { type: 'checkbox' }),
    url: field('url', { placeholder: 'https://pacs.example.org/dicom-web', size: 34 }),
    token: field('token', { type: 'password', autocomplete: 'off' }),
  };
  const dicomOnly = ['aet', 'host', 'port', 'query'];
  const webOnly = ['url', 'token'];
  const labels = {};
  for (const [k, input] of Object.entries(inputs)) {
    labels[k] = h('label', { class: k === 'query' ? 'inline' : '' }, t(`peers.field.${k}`), input);
  }
  const showKind = () => {
    for (const k of dicomOnly) labels[k].hidden = kind.value !== 'dicom';
    for (const k of webOnly) labels[k].hidden = kind.value !== 'dicomweb';
  };
  kind.addEventListener('change', showKind);
  showKind();

  const add = async (ev) => {
    ev.preventDefault();
    const body = { kind: kind.value, name: inputs.name.value.trim() };
    if (kind.value === 'dicom') {
      Object.assign(body, { aet: inputs.aet.value, host: inputs.host.value.trim(),
        port: Number(inputs.port.value), query: inputs.query.checked });
    } else {
      Object.assign(body, { url: inputs.url.value.trim() });
      if (inputs.token.value) body.token = inputs.token.value;
    }
    try {
      await api('/api/peers', { method: 'POST', body });
      toast(t('peers.added', { name: body.name }));
      inputs.token.value = '';
      await load();
    } catch (e) {
      toast(errorText(e), 'error');
    }
  };

  section.append(h('h2', {}, t('peers.title')),
    h('p', { class: 'muted' }, t('peers.note')),
    h('table', { class: 'cluster peers' }, h('thead', {}, h('tr', {},
      ...['peers.name', 'peers.kind', 'peers.address', 'peers.flags', 'peers.from', '']
        .map((k) => h('th', {}, k ? t(k) : '')))), tbody),
    h('form', { class: 'filters add-peer', onsubmit: add },
      h('label', {}, t('peers.kind'), kind), ...Object.values(labels),
      h('button', { type: 'submit', class: 'primary' }, t('peers.add'))));
  return { element: section, load };
}
