// The image viewer. Greyscale images are fetched as raw frames (WADO-RS, decoded by the server
// to explicit little endian) and windowed here, so dragging the window is instant; colour images
// use the server's rendered endpoint. Neighbouring images are prefetched while one is shown.

import { t } from './i18n.js';
import { api, h, personName, dicomDate, errorText } from './util.js';

const PRESETS = [
  { key: 'vw.default' },
  { key: 'vw.lung', c: -600, w: 1500 },
  { key: 'vw.bone', c: 300, w: 1500 },
  { key: 'vw.soft', c: 40, w: 400 },
  { key: 'vw.brain', c: 40, w: 80 },
];
const PREFETCH = 4;
const NATIVE = '1.2.840.10008.1.2.1';

function value(ds, tag) {
  const v = ds[tag]?.Value;
  return v && v.length ? v[0] : undefined;
}

// The first part of a multipart/related body.
function firstPart(buffer, contentType) {
  const m = /boundary="?([^";]+)"?/i.exec(contentType || '');
  const bytes = new Uint8Array(buffer);
  if (!m) return bytes;
  const enc = new TextEncoder();
  const find = (needle, from) => {
    outer: for (let i = from; i <= bytes.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  };
  const start = find(enc.encode(`--${m[1]}`), 0);
  const headerEnd = find(enc.encode('\r\n\r\n'), start);
  const end = find(enc.encode(`\r\n--${m[1]}`), headerEnd + 4);
  return bytes.subarray(headerEnd + 4, end < 0 ? bytes.length : end);
}

class ImageSource {
  constructor(studyUid, seriesUid, sopUid) {
    this.base = `/dicom-web/studies/${studyUid}/series/${seriesUid}/instances/${sopUid}`;
    this.frames = new Map();
  }

  async meta() {
    if (!this.metaPromise) {
      this.metaPromise = api(`${this.base}/metadata`).then(([ds]) => {
        const pn = value(ds, '00100010');
        const wc = value(ds, '00281050');
        const ww = value(ds, '00281051');
        return {
          rows: value(ds, '00280010'), columns: value(ds, '00280011'),
          frames: Number(value(ds, '00280008') || 1),
          bits: value(ds, '00280100'), signed: value(ds, '00280103') === 1,
          samples: value(ds, '00280002') || 1,
          photometric: value(ds, '00280004') || 'MONOCHROME2',
          slope: Number(value(ds, '00281053') ?? 1), intercept: Number(value(ds, '00281052') ?? 0),
          window: wc !== undefined && ww !== undefined && Number(ww) > 0 ? { c: Number(wc), w: Number(ww) } : null,
          patient: personName([pn?.Alphabetic, pn?.Ideographic].filter((g) => g !== undefined).join('=')), patientId: value(ds, '00100020') || '',
          date: dicomDate(value(ds, '00080020')), description: value(ds, '00081030') || '',
          series: value(ds, '0008103E') || '', modality: value(ds, '00080060') || '',
          instance: value(ds, '00200013'),
        };
      });
    }
    return this.metaPromise;
  }

  /** {kind: 'grey', values: Float32Array, min, max} or {kind: 'rgb', bitmap}. */
  frame(n) {
    if (!this.frames.has(n)) this.frames.set(n, this.load(n).catch((e) => { this.frames.delete(n); throw e; }));
    return this.frames.get(n);
  }

  async load(n) {
    const m = await this.meta();
    if (m.samples !== 1) {
      const res = await api(`${this.base}/frames/${n}/rendered`, { raw: true, headers: { Accept: 'image/png' } });
      return { kind: 'rgb', bitmap: await createImageBitmap(await res.blob()) };
    }
    const res = await api(`${this.base}/frames/${n}`, {
      raw: true,
      headers: { Accept: `multipart/related; type="application/octet-stream"; transfer-syntax=${NATIVE}` },
    });
    const part = firstPart(await res.arrayBuffer(), res.headers.get('Content-Type'));
    const count = m.rows * m.columns;
    const buf = part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength);
    let raw;
    if (m.bits === 8) raw = new Uint8Array(buf, 0, count);
    else raw = m.signed ? new Int16Array(buf, 0, count) : new Uint16Array(buf, 0, count);
    const values = new Float32Array(count);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < count; i++) {
      const v = raw[i] * m.slope + m.intercept;
      values[i] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return { kind: 'grey', values, min, max };
  }
}

export async function viewerPage(view, [studyUid, seriesUid, sopUid]) {
  const base = `/api/studies/${encodeURIComponent(studyUid)}`;
  const [detail, ai] = await Promise.all([api(base), api(`${base}/ai`)]);
  const series = (detail.series || []).find((s) => s.series_instance_uid === seriesUid) || detail.series[0];
  const instances = series.instances;
  const sources = instances.map((i) => new ImageSource(studyUid, series.series_instance_uid, i.sop_instance_uid));
  const aiBySop = new Map();
  for (const r of ai.images) {
    const prev = aiBySop.get(r.sop_instance_uid);
    if (!prev || (r.high_risk && !prev.high_risk)) aiBySop.set(r.sop_instance_uid, r);
  }

  const state = {
    index: Math.max(0, instances.findIndex((i) => i.sop_instance_uid === sopUid)),
    frame: 1, window: null, invert: false, zoom: 1, pan: { x: 0, y: 0 }, fitted: true,
  };
  const canvas = h('canvas', { class: 'viewport', tabindex: 0 });
  const work = document.createElement('canvas');  // the image at native size, windowed
  const overlay = {
    tl: h('div', { class: 'ov tl' }), tr: h('div', { class: 'ov tr' }),
    bl: h('div', { class: 'ov bl' }), br: h('div', { class: 'ov br' }),
  };
  const stage = h('div', { class: 'stage' }, canvas, ...Object.values(overlay));
  const presetButtons = PRESETS.map((p, i) => h('button', { onclick: () => preset(i), title: `${i + 1}` }, t(p.key)));
  const toolbar = h('div', { class: 'toolbar' },
    h('a', { class: 'back', href: `#/study/${encodeURIComponent(studyUid)}` }, `← ${t('vw.back')}`),
    h('span', { class: 'muted' }, t('vw.presets')), ...presetButtons,
    h('button', { onclick: () => zoomBy(1.25) }, t('vw.zoomIn')),
    h('button', { onclick: () => zoomBy(0.8) }, t('vw.zoomOut')),
    h('button', { onclick: () => fit() }, t('vw.fit')),
    h('button', { onclick: () => { state.invert = !state.invert; draw(); } }, t('vw.invert')));
  view.className = 'viewer';
  view.append(toolbar, stage, h('p', { class: 'help muted' }, t('vw.help')));

  let current = null;  // {meta, img}
  let seq = 0;

  function setTransformForFit() {
    if (!current) return;
    const s = Math.min(canvas.width / work.width, canvas.height / work.height);
    state.zoom = s;
    state.pan = { x: (canvas.width - work.width * s) / 2, y: (canvas.height - work.height * s) / 2 };
  }

  function fit() { state.fitted = true; setTransformForFit(); paint(); }

  function zoomBy(f) {
    const cx = canvas.width / 2;
    const cy = canvas.height / 2;
    state.pan = { x: cx - (cx - state.pan.x) * f, y: cy - (cy - state.pan.y) * f };
    state.zoom *= f;
    state.fitted = false;
    paint();
  }

  function preset(i) {
    const p = PRESETS[i];
    state.window = p.c === undefined ? null : { c: p.c, w: p.w };
    draw();
  }

  function effectiveWindow() {
    if (state.window) return state.window;
    const { meta, img } = current;
    if (meta.window) return meta.window;
    return { c: (img.max + img.min) / 2, w: Math.max(1, img.max - img.min) };
  }

  // Windows the frame into the native-size canvas, then paints it.
  function draw() {
    if (!current) return;
    const { meta, img } = current;
    if (img.kind === 'rgb') {
      work.width = img.bitmap.width;
      work.height = img.bitmap.height;
      const ctx = work.getContext('2d');
      ctx.filter = state.invert ? 'invert(1)' : 'none';
      ctx.drawImage(img.bitmap, 0, 0);
    } else {
      work.width = meta.columns;
      work.height = meta.rows;
      const ctx = work.getContext('2d');
      const out = ctx.createImageData(meta.columns, meta.rows);
      const { c, w } = effectiveWindow();
      const lo = c - w / 2;
      const scale = 255 / w;
      const flip = (meta.photometric === 'MONOCHROME1') !== state.invert;
      const v = img.values;
      const d = out.data;
      for (let i = 0, j = 0; i < v.length; i++, j += 4) {
        let g = (v[i] - lo) * scale;
        g = g < 0 ? 0 : g > 255 ? 255 : g;
        if (flip) g = 255 - g;
        d[j] = d[j + 1] = d[j + 2] = g;
        d[j + 3] = 255;
      }
      ctx.putImageData(out, 0, 0);
    }
    paint();
  }

  function paint() {
    if (!current) return;
    const ctx = canvas.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = state.zoom < 4;
    ctx.setTransform(state.zoom, 0, 0, state.zoom, state.pan.x, state.pan.y);
    ctx.drawImage(work, 0, 0);
    annotate();
  }

  function annotate() {
    const { meta, img } = current;
    const inst = instances[state.index];
    const r = aiBySop.get(inst.sop_instance_uid);
    overlay.tl.replaceChildren(h('div', {}, meta.patient), h('div', {}, meta.patientId),
      h('div', {}, `${meta.date} ${meta.description}`), h('div', {}, `${meta.modality} ${meta.series}`));
    overlay.tr.replaceChildren(r ? h('div', { class: r.high_risk ? 'ai high' : r.status === 'failed' ? 'ai failed' : 'ai' },
      r.status === 'failed' ? `${t('risk.failed')}: ${r.reason}` : `${r.label} (${r.risk_score.toFixed(2)})`,
      h('div', { class: 'small' }, `${r.model} ${r.model_version}`)) : '');
    const win = img.kind === 'grey' ? effectiveWindow() : null;
    overlay.bl.replaceChildren(
      h('div', {}, t('vw.image', { i: state.index + 1, n: instances.length })),
      meta.frames > 1 ? h('div', {}, t('vw.frame', { f: state.frame, n: meta.frames })) : '',
      win ? h('div', {}, `W ${Math.round(win.w)} / L ${Math.round(win.c)}`) : h('div', {}, t('vw.color')),
      h('div', {}, `${Math.round(state.zoom * 100)}%`));
    overlay.br.replaceChildren(h('div', {}, `${meta.columns} × ${meta.rows}`));
    canvas.dataset.index = String(state.index + 1);
    canvas.dataset.frame = String(state.frame);
    canvas.dataset.window = win ? `${Math.round(win.c)},${Math.round(win.w)}` : '';
    canvas.dataset.ready = '1';
  }

  async function show() {
    const mine = ++seq;
    const src = sources[state.index];
    canvas.dataset.ready = '0';
    try {
      const meta = await src.meta();
      state.frame = Math.min(state.frame, meta.frames);
      const img = await src.frame(state.frame);
      if (mine !== seq) return;
      const first = !current;
      current = { meta, img };
      if (first || state.fitted) {
        work.width = img.kind === 'rgb' ? img.bitmap.width : meta.columns;
        work.height = img.kind === 'rgb' ? img.bitmap.height : meta.rows;
        setTransformForFit();
      }
      draw();
      const sop = instances[state.index].sop_instance_uid;
      history.replaceState(null, '', `#/viewer/${encodeURIComponent(studyUid)}/${encodeURIComponent(series.series_instance_uid)}/${encodeURIComponent(sop)}`);
      prefetch();
    } catch (e) {
      overlay.tl.replaceChildren(h('div', { class: 'error' }, errorText(e)));
    }
  }

  function prefetch() {
    for (let d = 1; d <= PREFETCH; d++) {
      for (const i of [state.index + d, state.index - d]) {
        if (i >= 0 && i < sources.length) sources[i].frame(1).catch(() => {});
      }
    }
    if (current && current.meta.frames > 1) {
      for (let f = state.frame + 1; f <= Math.min(current.meta.frames, state.frame + PREFETCH); f++) {
        sources[state.index].frame(f).catch(() => {});
      }
    }
  }

  function step(d) {
    const next = Math.min(instances.length - 1, Math.max(0, state.index + d));
    if (next === state.index) return;
    state.index = next;
    state.frame = 1;
    show();
  }

  function stepFrame(d) {
    if (!current) return;
    const next = Math.min(current.meta.frames, Math.max(1, state.frame + d));
    if (next === state.frame) return;
    state.frame = next;
    show();
  }

  // Mouse: left drag windows (horizontal: width, vertical: level); shift or middle drag pans.
  let drag = null;
  canvas.addEventListener('mousedown', (e) => {
    e.preventDefault();
    canvas.focus();
    const panning = e.button === 1 || e.shiftKey;
    drag = { x: e.clientX, y: e.clientY, panning, win: current && current.img.kind === 'grey' ? { ...effectiveWindow() } : null, pan: { ...state.pan } };
  });
  const onMove = (e) => {
    if (!drag || !current) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (drag.panning) {
      state.pan = { x: drag.pan.x + dx, y: drag.pan.y + dy };
      state.fitted = false;
      paint();
    } else if (drag.win) {
      const sens = Math.max(1, drag.win.w / 256);
      state.window = { c: drag.win.c + dy * sens, w: Math.max(1, drag.win.w + dx * sens) };
      draw();
    }
  };
  const onUp = () => { drag = null; };
  window.addEventListener('mousemove', onMove);
  window.addEventListener('mouseup', onUp);
  canvas.addEventListener('wheel', (e) => { e.preventDefault(); step(e.deltaY > 0 ? 1 : -1); }, { passive: false });

  const onKey = (e) => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'TEXTAREA') return;
    const keys = {
      ArrowDown: () => step(1), ArrowUp: () => step(-1), PageDown: () => step(5), PageUp: () => step(-5),
      ArrowRight: () => stepFrame(1), ArrowLeft: () => stepFrame(-1),
      '+': () => zoomBy(1.25), '=': () => zoomBy(1.25), '-': () => zoomBy(0.8),
      f: fit, F: fit, i: () => { state.invert = !state.invert; draw(); }, I: () => { state.invert = !state.invert; draw(); },
      Home: () => step(-instances.length), End: () => step(instances.length),
      Escape: () => { location.hash = `#/study/${encodeURIComponent(studyUid)}`; },
    };
    if (e.key >= '1' && e.key <= String(PRESETS.length)) { preset(Number(e.key) - 1); e.preventDefault(); return; }
    if (keys[e.key]) { keys[e.key](); e.preventDefault(); }
  };
  window.addEventListener('keydown', onKey);

  const resize = () => {
    canvas.width = stage.clientWidth;
    canvas.height = stage.clientHeight;
    if (state.fitted) setTransformForFit();
    paint();
  };
  const observer = new ResizeObserver(resize);
  observer.observe(stage);
  resize();
  await show();
  canvas.focus();

  return () => {
    window.removeEventListener('mousemove', onMove);
    window.removeEventListener('mouseup', onUp);
    window.removeEventListener('keydown', onKey);
    observer.disconnect();
  };
}
