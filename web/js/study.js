// A study: the AI summary, every image as a thumbnail marked with its AI result, and the
// doctor's decisions on the high-risk findings (per image and for the whole study).

import { t } from './i18n.js';
import { api, h, personName, dicomDate, dateTime, statusChip, toast, errorText } from './util.js';
import { hasRole } from './app.js';
import { processingPanel } from './processing.js';
import { readingPanel } from './reading.js';
import { sharingPanel } from './sharing.js';

// Several models may read one image: show the result that matters most, as the server counts it.
function worst(results) {
  const rank = (r) => (r.status === 'pending' || r.status === 'running' ? 4
    : r.high_risk ? 3 : r.status === 'failed' ? 2 : 1);
  return results.reduce((a, b) => (rank(b) > rank(a) || (rank(b) === rank(a) && b.risk_score > a.risk_score) ? b : a));
}

function markOf(r) {
  if (!r) return 'na';
  if (r.status === 'pending' || r.status === 'running') return 'pending';
  if (r.status === 'failed') return 'failed';
  return r.high_risk ? 'high' : 'normal';
}

// The person's other studies, under every identity the regional patient index links to this one
// (another clinic's PatientID included), as far as the user may see them.
function historySection(uid, studies) {
  const others = studies.filter((s) => s.study_instance_uid !== uid);
  if (others.length === 0) return null;
  return h('section', { class: 'history' },
    h('h2', {}, t('st.history')),
    h('ul', {}, ...others.map((s) => h('li', {},
      h('a', { href: `#/study/${encodeURIComponent(s.study_instance_uid)}` },
        [s.study_date && dicomDate(s.study_date), (s.modalities || []).join(' '),
          s.study_description].filter(Boolean).join(' · ') || s.study_instance_uid),
      h('span', { class: 'muted' }, ` ${[s.institution, s.patient_id].filter(Boolean).join(' · ')}`)))));
}

export async function studyPage(view, [uid]) {
  const base = `/api/studies/${encodeURIComponent(uid)}`;
  // Re-rendering through the router runs this page's cleanup (the panels' polling) first.
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const [detail, ai, review, history, reading, sharing] = await Promise.all([api(base), api(`${base}/ai`),
    api(`${base}/review`), api(`${base}/history`).catch(() => ({ studies: [] })), readingPanel(uid, reload),
    sharingPanel(uid, reload)]);
  // Turnaround counts from the first time a doctor opened the study (a POST: GETs change nothing).
  api(`${base}/viewed`, { method: 'POST' }).catch(() => {});
  const study = detail.study || detail;
  const canDecide = hasRole('radiologist');

  const byImage = new Map();
  for (const r of ai.images) {
    if (!byImage.has(r.sop_instance_uid)) byImage.set(r.sop_instance_uid, []);
    byImage.get(r.sop_instance_uid).push(r);
  }
  const latestDecision = new Map();
  for (const d of [...review.decisions].reverse()) {
    if (d.sop_instance_uid) latestDecision.set(d.sop_instance_uid, d);
  }
  const models = [...new Set(ai.images.map((r) => `${r.model} ${r.model_version}`))];

  const comment = h('textarea', { rows: 2, placeholder: t('st.comment'), maxlength: 4000 });
  async function decide(verdict, sop) {
    try {
      const body = { verdict, comment: comment.value };
      if (sop) body.sop_instance_uid = sop;
      await api(`${base}/decisions`, { method: 'POST', body });
      toast(t('st.decided'));
      comment.value = '';
      const again = document.getElementById('view');
      again.replaceChildren();
      await studyPage(again, [uid]);
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  const highOnly = h('input', { type: 'checkbox', onchange: () => grid.classList.toggle('high-only', highOnly.checked) });
  const grid = h('div', { class: 'grid' });
  const panels = [];
  for (const series of detail.series || []) {
    // A report's SR and PDF are shown in the report section, not as pictures.
    if (['SR', 'DOC'].includes(series.modality)) continue;
    grid.append(h('h3', { class: 'series-head' },
      [series.modality, t('st.series', { n: series.series_number }), series.series_description].filter(Boolean).join(' · ')));
    const panel = processingPanel(series, reload);
    panels.push(panel);
    grid.append(panel.element);
    for (const inst of series.instances) {
      const results = byImage.get(inst.sop_instance_uid) || [];
      const r = results.length ? worst(results) : null;
      const mark = markOf(r);
      const decision = latestDecision.get(inst.sop_instance_uid);
      const viewer = `#/viewer/${encodeURIComponent(uid)}/${encodeURIComponent(series.series_instance_uid)}/${encodeURIComponent(inst.sop_instance_uid)}`;
      const thumb = `/dicom-web/studies/${uid}/series/${series.series_instance_uid}/instances/${inst.sop_instance_uid}/thumbnail`;
      const caption = {
        high: `${r?.label} · ${t('st.risk', { r: r?.risk_score.toFixed(2) })}`,
        normal: r?.label, failed: `${t('risk.failed')}: ${r?.reason}`, pending: t('risk.pending'), na: t('st.na'),
      }[mark];
      grid.append(h('figure', { class: `tile mark-${mark}${decision ? ` decided-${decision.verdict}` : ''}`, dataset: { sop: inst.sop_instance_uid } },
        h('a', { href: viewer, title: t('st.open') },
          h('img', { src: thumb, loading: 'lazy', alt: `#${inst.instance_number}`, width: 128, height: 128 })),
        h('figcaption', {},
          h('span', { class: 'num' }, `#${inst.instance_number}${inst.frames > 1 ? ` · ${inst.frames}f` : ''}`),
          h('span', { class: `mark ${mark}`, title: r?.reason || '' }, caption),
          decision ? h('span', { class: `verdict ${decision.verdict}` },
            `${t(decision.verdict === 'confirm' ? 'status.confirmed' : 'status.rejected')} · ${decision.user}`) : null,
          mark === 'high' && canDecide ? h('span', { class: 'actions' },
            h('button', { class: 'confirm', onclick: () => decide('confirm', inst.sop_instance_uid) }, t('st.confirm')),
            h('button', { class: 'reject', onclick: () => decide('reject', inst.sop_instance_uid) }, t('st.reject'))) : null)));
    }
  }

  const s = review.ai;
  const decisions = h('ul', { class: 'decisions' });
  if (review.decisions.length === 0) decisions.append(h('li', { class: 'muted' }, t('st.noDecisions')));
  for (const d of review.decisions) {
    decisions.append(h('li', {},
      h('span', { class: `verdict ${d.verdict}` }, t(d.verdict === 'confirm' ? 'st.confirm' : 'st.reject')),
      ` ${d.scope === 'study' ? t('st.scopeStudy') : `${d.ai_label} (${d.model} ${d.model_version})`} · `,
      t('st.by', { u: d.user, t: dateTime(d.at) }),
      d.comment ? h('q', {}, d.comment) : null));
  }

  view.className = 'study';
  view.append(
    h('div', { class: 'page-head' },
      h('a', { href: '#/worklist', class: 'back' }, `← ${t('st.back')}`),
      h('h1', {}, personName(study.patient_name)),
      h('span', { class: 'muted' }, [study.patient_id, study.study_date && dicomDate(study.study_date),
        study.study_description, study.accession_number, study.institution].filter(Boolean)
        .join(' · ')),
      statusChip(review.review_status)),
    h('section', { class: `summary${s.high_risk ? ' high-risk' : ''}` },
      h('h2', {}, t('st.summary')),
      h('div', { class: 'big-counts' },
        h('div', {}, h('b', {}, s.images), t('wl.images')),
        h('div', { class: 'normal' }, h('b', {}, s.normal), t('wl.normal')),
        h('div', { class: 'high' }, h('b', {}, s.high_risk), t('wl.high')),
        h('div', { class: 'failed' }, h('b', {}, s.failed), t('wl.failed')),
        h('div', { class: 'pending' }, h('b', {}, s.pending), t('wl.pending'))),
      h('p', {}, `${t('st.model')}: ${models.join(', ') || '—'}`),
      s.high_risk > 0 && canDecide ? h('div', { class: 'study-actions' }, comment,
        h('button', { class: 'confirm', onclick: () => decide('confirm') }, t('st.confirmStudy')),
        h('button', { class: 'reject', onclick: () => decide('reject') }, t('st.rejectStudy'))) : null,
      s.high_risk > 0 && !canDecide ? h('p', { class: 'muted' }, t('st.noRights')) : null,
      h('h3', {}, t('st.decisions')), decisions),
    ...[reading, historySection(uid, history.studies), sharing].filter(Boolean),
    h('label', { class: 'toggle' }, highOnly, t('st.highonly')),
    grid);
  return () => panels.forEach((p) => p.stop());
}
