/**
 * The shared programmer pool as a node of the tree: every Manager hands its subtasks to the
 * same pool, which routes them to any programmer (by its strategy), so programmers are drawn
 * under the pool, not under a Manager that does not own them.
 */
import { h, setData, setText } from './dom.js';

/**
 * @param {HTMLElement[]} tiles the programmer tiles
 * @param {{ managers: number }} info
 */
export function poolNode(tiles, { managers }) {
  const stats = h('span', { class: 'pool-stats', text: '' });
  const head = h(
    'div',
    { class: 'pool-node', id: 'pool-node', role: 'group', 'aria-label': 'Programmer pool, shared by every Manager' },
    h('span', { class: 'node-head' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'name', text: 'Programmer pool' })),
    h('span', { class: 'pool-sub', text: `shared by all ${managers} Managers` }),
    stats,
  );
  const root = h(
    'section',
    { class: 'pool-branch', 'aria-label': 'Programmers of the shared pool' },
    head,
    h('div', { class: 'prog-row', role: 'list' }, tiles.map((t) => {
      t.setAttribute('role', 'listitem');
      return t;
    })),
  );
  return {
    root,
    /** GET /api/pool */
    update(pool) {
      if (!pool) return;
      const parts = [`${pool.strategy?.replace(/_/g, ' ') ?? ''}`, `${pool.running ?? 0} running`, `${pool.available ?? 0}/${pool.pool_size ?? tiles.length} idle`, `${pool.total_queue_depth ?? 0} queued`];
      if (pool.using_backup) parts.push(`${pool.using_backup} on backup`);
      if (pool.budget_exhausted) parts.push('budget spent');
      setText(stats, parts.filter(Boolean).join(' · '));
      setData(head, 'state', (pool.running ?? 0) > 0 ? 'EXECUTING' : 'IDLE');
    },
  };
}
