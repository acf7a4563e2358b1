// Small helpers shared by the pages: DOM building (text only, never HTML from data: patient
// names come from modalities and are not trusted), formatting, and the API client.

import { t, language } from './i18n.js';

/** h('div', {class: 'x', onclick: f}, child, 'text', ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** DICOM person name "FAMILY^GIVEN^MIDDLE=IDEOGRAPHIC=PHONETIC" for display: the alphabetic
 *  group as "FAMILY, GIVEN MIDDLE", with the ideographic group (e.g. 王^小明 -> 王小明) beside it. */
export function personName(pn) {
  const [alpha = '', ideo = ''] = String(pn || '').split('=');
  const [family = '', given = '', middle = ''] = alpha.split('^');
  const rest = [given, middle].filter(Boolean).join(' ');
  const latin = family && rest ? `${family}, ${rest}` : family || rest;
  const han = ideo.split('^').slice(0, 3).join('');
  return latin && han ? `${latin} (${han})` : latin || han || '—';
}

export function dicomDate(d) {
  return /^\d{8}$/.test(d || '') ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}` : d || '—';
}

export function dateTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(language() === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

let csrf = null;
export function setCsrf(token) { csrf = token; }

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** fetch() against dxhub's API: JSON in and out, the CSRF header on changes, errors thrown. */
export async function api(path, { method = 'GET', body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  } else if (method !== 'GET') {
    init.body = '';  // dxhub (like most servers) wants a Content-Length on POST
  }
  if (method !== 'GET' && csrf) init.headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, init);
  if (res.status === 401 && !path.startsWith('/api/login')) {
    window.dispatchEvent(new CustomEvent('dxhub:unauthorized'));
  }
  if (!res.ok) {
    let err = null;
    try { err = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, err);
  }
  if (raw) return res;
  return res.json();
}

export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.className = `show ${kind}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.className = ''; }, 3500);
}

export function errorText(e) {
  if (e instanceof ApiError && e.status === 403) return t('err.forbidden');
  return t('err.generic', { m: e.message });
}

/** The four AI counts as coloured badges. */
export function countBadges(ai) {
  return h('span', { class: 'counts' },
    h('span', { class: 'badge normal', title: t('wl.normal') }, ai.normal),
    h('span', { class: `badge high${ai.high_risk ? ' on' : ''}`, title: t('wl.high') }, ai.high_risk),
    h('span', { class: `badge failed${ai.failed ? ' on' : ''}`, title: t('wl.failed') }, ai.failed),
    h('span', { class: `badge pending${ai.pending ? ' on' : ''}`, title: t('wl.pending') }, ai.pending));
}

export function statusChip(status) {
  return h('span', { class: `chip status-${status}` }, t(`status.${status}`));
}
