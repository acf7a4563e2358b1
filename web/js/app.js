// The app shell: who is logged in, the hash router (#/worklist, #/study/UID,
// #/viewer/STUDY/SERIES/SOP, #/reading, #/stats, #/audit, #/cluster, #/login) and the header.

import { t, translate, language, setLanguage } from './i18n.js';
import { api, h, setCsrf, toast, errorText } from './util.js';
import { worklistPage } from './worklist.js';
import { studyPage } from './study.js';
import { viewerPage } from './viewer.js';
import { statsPage } from './stats.js';
import { auditPage } from './audit.js';
import { clusterPage } from './cluster.js';
import { readingPage } from './reading.js';
import { researchPage } from './research.js';

const session = { user: null };
const roles = ['researcher', 'viewer', 'clinician', 'radiologist', 'admin'];
export function hasRole(role) {
  return session.user && roles.indexOf(session.user.role) >= roles.indexOf(role);
}
export function currentUser() { return session.user; }

let cleanup = null;  // the current page's teardown (timers, key handlers)

function showHeader() {
  const top = document.getElementById('top');
  top.hidden = !session.user;
  document.getElementById('who').textContent = session.user
    ? `${session.user.display_name || session.user.username} (${[session.user.role,
      session.user.institution].filter(Boolean).join(' · ')})` : '';
  document.getElementById('lang').textContent = t('lang.other');
  for (const el of top.querySelectorAll('[data-role]')) el.hidden = !hasRole(el.dataset.role);
  for (const a of top.querySelectorAll('nav a')) {
    a.classList.toggle('active', location.hash.startsWith(a.getAttribute('href')));
  }
  translate(top);
}

function loginPage(view) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'login', onsubmit: async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      const me = await api('/api/login', { method: 'POST', body: { username: user.value, password: pass.value } });
      session.user = me;
      setCsrf(me.csrf_token);
      location.hash = sessionStorage.getItem('dxhub.after') || (hasRole('viewer') ? '#/worklist' : '#/research');
      sessionStorage.removeItem('dxhub.after');
    } catch (e) {
      pass.value = '';
      error.textContent = `${t('login.failed')}: ${e.body?.message || e.message}`;
    }
  } },
  h('h1', {}, t('login.title')),
  h('label', {}, t('login.user'), user),
  h('label', {}, t('login.password'), pass),
  h('button', { type: 'submit', class: 'primary' }, t('login.submit')),
  error,
  h('p', { class: 'note' }, t('login.note')),
  h('button', { type: 'button', class: 'link', onclick: () => { setLanguage(language() === 'zh' ? 'en' : 'zh'); route(); } }, t('lang.other')));
  view.append(form);
  user.focus();
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const view = document.getElementById('view');
  view.replaceChildren();
  view.className = '';
  const [, page = '', ...args] = location.hash.split('?')[0].split('/');
  if (page === 'login' || !session.user) {
    if (page !== 'login' && location.hash) sessionStorage.setItem('dxhub.after', location.hash);
    showHeader();
    return loginPage(view);
  }
  showHeader();
  const pages = { worklist: worklistPage, study: studyPage, viewer: viewerPage, stats: statsPage, audit: auditPage,
    cluster: clusterPage, reading: readingPage, research: researchPage };
  // A researcher sees no patient data: the research projects are all there is for them.
  const home = hasRole('viewer') ? worklistPage : researchPage;
  const render = (hasRole('viewer') || page === 'research' ? pages[page] : null) || home;
  try {
    cleanup = await render(view, args.map(decodeURIComponent)) || null;
  } catch (e) {
    view.append(h('p', { class: 'error' }, errorText(e)));
  }
}

window.addEventListener('dxhub:unauthorized', () => {
  if (!session.user) return;
  session.user = null;
  setCsrf(null);
  location.hash = '#/login';
});

async function start() {
  setLanguage(language());
  document.getElementById('lang').addEventListener('click', () => {
    setLanguage(language() === 'zh' ? 'en' : 'zh');
    route();
  });
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api('/api/logout', { method: 'POST' }); } catch (e) { toast(errorText(e), 'error'); }
    session.user = null;
    setCsrf(null);
    location.hash = '#/login';
  });
  try {
    session.user = await api('/api/me');
    setCsrf(session.user.csrf_token);
  } catch { session.user = null; }
  window.addEventListener('hashchange', route);
  if (!location.hash) location.hash = session.user ? '#/worklist' : '#/login';
  else route();
}

start();
