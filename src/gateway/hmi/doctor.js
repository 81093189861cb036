/**
 * What `pas doctor` found, on the tree: a model that cannot be used (no API key, server
 * unreachable, not pulled) gets a warning mark on every breaker pill that names it, with the
 * reason and the one-line fix in its tooltip, and the tree panel lists the problems.
 */
import { h } from './dom.js';

/** model ref → the failing doctor row */
let unusable = new Map();

export function unusableModel(ref) {
  return unusable.get(ref) ?? null;
}

/** GET /api/doctor → marks; answers 404 when the gateway was started without the checks. */
export async function loadDoctor(api, box) {
  const result = await api('/api/doctor');
  if (!result.ok) {
    unusable = new Map();
    box.hidden = true;
    return false;
  }
  const rows = result.body.rows ?? [];
  unusable = new Map(rows.filter((r) => r.model && r.status === 'fail').map((r) => [r.model, r]));
  const problems = rows.filter((r) => r.status === 'fail');
  box.hidden = problems.length === 0;
  box.replaceChildren(
    h('strong', { text: `${problems.length} problem${problems.length === 1 ? '' : 's'} found at start-up (pas doctor):` }),
    h('ul', {}, problems.map((r) => h('li', { dataset: { check: r.check } }, h('code', { text: r.check.replace(/^model /, '') }), ` ${r.detail} — fix: ${r.fix}`))),
  );
  return true;
}
