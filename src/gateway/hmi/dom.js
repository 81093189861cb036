/** Small DOM and formatting helpers. Text always goes in through textContent, never as HTML. */

/**
 * h('div', { class: 'x', dataset: { state: 'IDLE' }, onclick }, 'text', child…)
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Sets text only when it changed (keeps layout and screen readers calm). */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function setData(el, key, value) {
  const v = String(value);
  if (el.dataset[key] !== v) el.dataset[key] = v;
}

export const fmtInt = (n) => (typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '—');

export function fmtUsd(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  if (n === 0) return '$0.00';
  if (Math.abs(n) < 0.01) return `$${n.toFixed(4)}`;
  return `$${n.toFixed(2)}`;
}

export function fmtDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function fmtClock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString('en-GB', { hour12: false });
}

/** `ollama/qwen2.5-coder:7b-instruct` → `qwen2.5-coder:7b` (the pill label; the title keeps the full ref). */
export function shortModel(ref) {
  const model = String(ref ?? '').replace(/^breaker:/, '');
  const name = model.includes('/') ? model.slice(model.indexOf('/') + 1) : model;
  return name.replace(/-instruct$/, '');
}

/** A breaker's own state shown in the agents' vocabulary (CONTRACT §6). */
export function breakerAsAgentState(state) {
  if (state === 'open') return 'FAILED';
  if (state === 'halfOpen') return 'EXECUTING';
  return 'IDLE';
}

export const BREAKER_WORDS = { closed: 'closed', open: 'open (failing)', halfOpen: 'half-open (probe in flight)' };
