// The cluster for administrators: the nodes sharing this archive's database (alive or not, by
// their heartbeat), what each holds, the shared background queues (refreshed), and the peer
// directory every node uses (peers.js).

import { t } from './i18n.js';
import { api, h, dateTime, toast, errorText } from './util.js';
import { peersSection } from './peers.js';

const REFRESH_MS = 5000;

export async function clusterPage(view) {
  const summary = h('p', { class: 'muted', id: 'cluster-summary' });
  const queues = h('div', { class: 'cluster-queues' });
  const tbody = h('tbody');
  async function load() {
    try {
      const c = await api('/api/cluster');
      summary.textContent = t('cluster.summary', {
        alive: c.nodes_alive, total: c.nodes.length, db: c.database, schema: c.schema_version,
        lease: c.lease_s,
      });
      const depth = (name, q) => h('div', { class: 'queue', dataset: { queue: name } },
        h('strong', {}, t(`cluster.queue.${name}`)),
        h('span', {}, t('cluster.pending', { n: q.pending })),
        h('span', {}, t('cluster.running', { n: q.running })));
      queues.replaceChildren(depth('ai', c.queues.ai), depth('processing', c.queues.processing));
      tbody.replaceChildren(...c.nodes.map((n) => h('tr', {
        class: n.alive ? 'alive' : 'down', dataset: { node: n.name },
      },
      h('td', {}, n.name, n.self ? h('span', { class: 'chip' }, t('cluster.self')) : ''),
      h('td', {}, h('span', { class: `chip ${n.alive ? 'ok' : 'bad'}` },
        t(n.alive ? 'cluster.up' : 'cluster.down'))),
      h('td', {}, n.version),
      h('td', { class: 'mono' }, n.http_url, ` · DICOM ${n.dicom_port}`),
      h('td', {}, dateTime(n.heartbeat_at), h('span', { class: 'muted small' },
        ` (${t('cluster.ago', { s: Math.round(n.heartbeat_age_s) })})`)),
      h('td', { class: 'num' }, n.load.toFixed(2)),
      h('td', { class: 'num' }, n.claimed.ai),
      h('td', { class: 'num' }, n.claimed.processing),
      h('td', { class: 'num' }, n.instances_ingested),
      h('td', { class: 'num' }, n.jobs_taken_over))));
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }
  view.append(h('div', { class: 'page-head' }, h('h1', {}, t('cluster.title'))), summary, queues,
    h('table', { class: 'cluster' }, h('thead', {}, h('tr', {},
      ...['cluster.node', 'cluster.state', 'cluster.version', 'cluster.address',
        'cluster.heartbeat', 'cluster.load', 'cluster.claimedAi', 'cluster.claimedProcessing',
        'cluster.ingested', 'cluster.takenOver'].map((k) => h('th', {}, t(k))))),
    tbody));
  const peers = peersSection();
  view.append(peers.element);
  await Promise.all([load(), peers.load()]);
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}
