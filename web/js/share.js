// The read-only viewer of a share link, for a patient or an outside doctor without an account:
// opens the link (asking for its access code when it has one), then shows the study's images
// as the server renders them, one at a time or as thumbnails, and its signed reports.

import { t, translate, language, setLanguage } from './i18n.js';
import { h, personName, dicomDate, dateTime } from './util.js';

const token = location.pathname.split('/')[2];
const base = `/share/${token}`;

async function open(code) {
  const res = await fetch(`${base}/open`, {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(code ? { access_code: code } : {}),
  });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  return { status: res.status, body };
}

function codeForm(view, message) {
  const code = h('input', { name: 'access_code', type: 'password', autocomplete: 'off', required: true });
  const error = h('p', { class: 'error', role: 'alert' }, message || '');
  view.replaceChildren(h('form', { class: 'login share-code', onsubmit: async (e) => {
    e.preventDefault();
    await show(view, code.value);
  } }, h('h1', {}, t('sh.codeTitle')), h('label', {}, t('sh.code'), code), error,
  h('button', { type: 'submit', class: 'primary' }, t('sh.open'))));
  code.focus();
}

function viewer(view, study) {
  const images = study.series.flatMap((s) => s.instances.map((i) => ({ ...i, series: s })));
  let current = 0;
  const main = h('img', { class: 'shared-image', alt: '' });
  const caption = h('p', { class: 'muted caption' });
  const strip = h('div', { class: 'strip' });
  function go(n) {
    if (images.length === 0) return;
    current = (n + images.length) % images.length;
    const img = images[current];
    main.src = `${base}/instances/${encodeURIComponent(img.sop_instance_uid)}/rendered`;
    main.alt = `#${img.instance_number}`;
    caption.textContent = `${[img.series.modality, img.series.series_description].filter(Boolean).join(' · ')} · ${t('vw.image', { i: current + 1, n: images.length })}`;
    for (const [k, el] of [...strip.children].entries()) el.classList.toggle('current', k === current);
  }
  images.forEach((img, k) => strip.append(h('img', {
    src: `${base}/instances/${encodeURIComponent(img.sop_instance_uid)}/rendered?size=thumbnail`,
    loading: 'lazy', width: 96, height: 96, alt: `#${img.instance_number}`, onclick: () => go(k),
  })));
  const keys = (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') go(current + 1);
    if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') go(current - 1);
  };
  document.addEventListener('keydown', keys);
  view.replaceChildren(
    h('div', { class: 'page-head' },
      h('h1', {}, personName(study.patient_name)),
      h('span', { class: 'muted' }, [study.patient_id, dicomDate(study.study_date), study.study_description,
        study.institution].filter(Boolean).join(' · '))),
    study.expires_at ? h('p', { class: 'muted small expires' }, t('sh.expires', { t: dateTime(study.expires_at) })) : null,
    ...study.reports.map((r) => h('article', { class: 'report shared-report', dataset: { version: r.version } },
      h('h3', {}, r.version > 1 ? t('rd.addendumN', { n: r.version - 1 }) : t('rd.report'),
        h('span', { class: 'muted small' }, ` · ${t('rd.signedBy', { u: r.author, t: dateTime(r.signed_at) })} · `),
        h('a', { href: r.pdf, target: '_blank', rel: 'noopener', class: 'pdf' }, 'PDF')),
      r.findings ? h('div', {}, h('h4', {}, t('rd.findings')), h('p', { class: 'text' }, r.findings)) : null,
      r.impression ? h('div', {}, h('h4', {}, t('rd.impression')), h('p', { class: 'text' }, r.impression)) : null)),
    h('div', { class: 'shared-viewer' },
      h('div', { class: 'controls' },
        h('button', { type: 'button', class: 'prev', onclick: () => go(current - 1) }, '←'),
        h('button', { type: 'button', class: 'next', onclick: () => go(current + 1) }, '→'), caption),
      main, strip));
  go(0);
}

async function show(view, code) {
  const { status, body } = await open(code);
  if (status === 200) return viewer(view, body);
  if (status === 401 && body?.error === 'code_required') return codeForm(view);
  if (status === 403) return codeForm(view, t('sh.wrongCode'));
  const message = status === 410 ? body?.message : status === 404 ? t('sh.unknown') : body?.message || `HTTP ${status}`;
  view.replaceChildren(h('p', { class: 'error gone' }, message));
}

setLanguage(language());
const lang = document.getElementById('lang');
lang.textContent = t('lang.other');
lang.addEventListener('click', () => { setLanguage(language() === 'zh' ? 'en' : 'zh'); location.reload(); });
translate(document.getElementById('top'));
show(document.getElementById('view'));
