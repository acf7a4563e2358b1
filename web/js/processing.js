// Image processing on a series, from the study page: pick an operation, follow the job's
// progress, then open the derived series (reload shows them in the study) or download the
// files (meshes for surgical planning, centre lines, previews). Jobs run on the server's
// durable queue; this panel only asks and polls.

import { t } from './i18n.js';
import { api, h, toast, errorText, dateTime } from './util.js';
import { hasRole } from './app.js';

// What makes sense on which series: volumes get the 3-D tools, multi-frame X-ray gets DSA.
function operationsFor(series) {
  const frames = Math.max(0, ...series.instances.map((i) => i.frames || 1));
  if (['XA', 'RF'].includes(series.modality)) return frames > 1 ? ['dsa'] : [];
  if (series.instances.length < 3 || !['CT', 'MR'].includes(series.modality)) return [];
  const ops = ['bone', 'mesh', 'mip', 'minip', 'mpr', 'vessels'];
  return series.modality === 'CT' ? ['bone', 'lungs', ...ops.slice(1)] : ops.slice(1);
}

// Parameters the panel offers; the API takes more (docs/imaging.md).
function parametersFor(op, preset) {
  if (op === 'bone') return { preset };
  if (op === 'mip' || op === 'minip') return { axis: 'coronal' };
  if (op === 'mesh') return { iso: 250, decimation: 0.5 };
  return {};
}

function jobRow(job, onReload) {
  const files = (job.result?.files || []).map((name, i) =>
    h('a', { href: job.file_links[i], download: name, class: 'file' }, name));
  const series = (job.result?.series || []).map((s, i) =>
    h('span', { class: 'derived' }, `${i ? ' · ' : ''}${s.description} (${s.images})`));
  const measured = Object.entries(job.result?.measurements || {})
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`).join(' · ');
  return h('li', { class: `job state-${job.state}`, dataset: { job: job.id, state: job.state } },
    h('b', {}, t(`proc.op.${job.operation}`)),
    h('span', { class: 'chip' }, t(`proc.state.${job.state}`)),
    job.state === 'running' || job.state === 'pending'
      ? h('progress', { max: 1, value: job.progress }) : null,
    job.state === 'running' ? h('span', { class: 'muted' }, job.stage) : null,
    job.state === 'failed' ? h('span', { class: 'error' }, job.error) : null,
    job.state === 'done' ? h('span', { class: 'muted' }, measured) : null,
    series.length ? h('span', {}, series, ' ', h('a', { href: '#', onclick: (e) => { e.preventDefault(); onReload(); } }, t('proc.show'))) : null,
    files.length ? h('span', { class: 'files' }, files) : null,
    h('span', { class: 'muted when' }, `${job.requested_by} · ${dateTime(job.created_at)}`));
}

/** The panel for one series; `onReload` re-renders the study (to show derived series). Returns
 *  the element and a stop function for its polling. */
export function processingPanel(series, onReload) {
  const ops = operationsFor(series);
  const list = h('ul', { class: 'jobs' });
  const panel = h('div', { class: 'processing', dataset: { series: series.series_instance_uid } });
  let timer = null;
  let stopped = false;
  const url = `/api/series/${encodeURIComponent(series.series_instance_uid)}/process`;

  async function refresh() {
    try {
      const { jobs } = await api(url);
      list.replaceChildren(...jobs.slice(0, 6).map((j) => jobRow(j, onReload)));
      const busy = jobs.some((j) => j.state === 'pending' || j.state === 'running');
      clearTimeout(timer);
      if (busy && !stopped) timer = setTimeout(refresh, 1000);
    } catch (e) {
      list.replaceChildren(h('li', { class: 'error' }, errorText(e)));
    }
  }

  if (ops.length && hasRole('clinician')) {
    const select = h('select', { name: 'operation' },
      ops.map((op) => h('option', { value: op }, t(`proc.op.${op}`))));
    const preset = h('select', { name: 'preset', title: t('proc.preset') },
      h('option', { value: 'cta' }, t('proc.cta')), h('option', { value: 'plain' }, t('proc.plain')));
    const syncPreset = () => { preset.hidden = select.value !== 'bone'; };
    select.addEventListener('change', syncPreset);
    syncPreset();
    const run = h('button', {
      class: 'run',
      onclick: async () => {
        run.disabled = true;
        try {
          await api(url, { method: 'POST', body: { operation: select.value, parameters: parametersFor(select.value, preset.value) } });
          toast(t('proc.queued'));
          await refresh();
        } catch (e) {
          toast(errorText(e), 'error');
        } finally {
          run.disabled = false;
        }
      },
    }, t('proc.run'));
    panel.append(h('span', { class: 'muted' }, t('proc.title')), select, preset, run);
  }
  panel.append(list);
  if (ops.length) refresh();
  return { element: panel, stop: () => { stopped = true; clearTimeout(timer); } };
}
