/**
 * The PAS HMI: the agent tree live from /ws, status cards, jobs, spend, and LLM settings.
 * Plain ES modules, no framework, no CDN. Feed records are queued and painted once per
 * animation frame, so a burst of transitions costs one layout.
 */
import { connectFeed } from './feed.js';
import { BREAKER_WORDS, breakerAsAgentState, fmtClock, fmtDuration, fmtInt, fmtUsd, h, setData, setText, shortModel } from './dom.js';
import { loadDoctor, unusableModel } from './doctor.js';
import { mountJobForm } from './job-form.js';
import { poolNode } from './pool-node.js';
import { recordRun, renderTimeline } from './timeline.js';

const $ = (id) => document.getElementById(id);
/** When the feed stopped being live (null while live). */
let liveSince = null;
const ACTIVITY_MAX = 60;
const REFRESH_EVERY_MS = 5000;
const REFRESH_MIN_GAP_MS = 300;

/** Everything the page knows, refreshed from the API and the feed. */
const model = {
  /** agentId → TreeNode (agents and breakers) */
  nodes: new Map(),
  topologyKey: '',
  /** agentId → health view (GET /api/agents) */
  agents: new Map(),
  jobs: [],
  jobsTotal: 0,
  pool: null,
  models: [],
  /** agentId → { primary, backup } as saved */
  settings: new Map(),
  seq: 0,
};

/** The painted elements, by agent id. */
const view = {
  tree: new Map(),
  /** breaker id → Set of pill elements */
  pills: new Map(),
  cards: new Map(),
  jobs: new Map(),
  /** job ids whose subtask list the user opened or closed by hand */
  jobsOpen: new Map(),
};

// ---------------------------------------------------------------- API

function authHeaders() {
  const token = sessionStorage.getItem('pas-api-token');
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** fetch + JSON; a 401 on a write asks once for the gateway's API token. */
async function api(path, init = {}, retried = false) {
  const headers = { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...authHeaders(), ...(init.headers ?? {}) };
  let response;
  try {
    response = await fetch(path, { ...init, headers, cache: 'no-store' });
  } catch (err) {
    return { ok: false, status: 0, body: { error: { message: `the gateway did not answer (${err.message})` } } };
  }
  const body = await response.json().catch(() => null);
  if (response.status === 401 && !retried && init.method && init.method !== 'GET') {
    const token = window.prompt('This gateway needs its API token (PAS_API_TOKEN) for changes:');
    if (token) {
      sessionStorage.setItem('pas-api-token', token.trim());
      return api(path, init, true);
    }
  }
  return { ok: response.ok, status: response.status, body };
}

const errorText = (result) => result.body?.error?.message ?? `request failed with HTTP ${result.status}`;

// ---------------------------------------------------------------- frame batching

const dirty = { nodes: new Set(), header: false, activity: [], cards: false, jobs: false };
let frameQueued = false;
let frameTimer = 0;

function schedule() {
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(flush);
  // A hidden tab gets no animation frames; do not let the queue grow without bound.
  frameTimer = setTimeout(flush, 500);
}

function flush() {
  if (!frameQueued) return;
  frameQueued = false;
  clearTimeout(frameTimer);
  if (dirty.nodes.size > 0) {
    for (const id of dirty.nodes) paintNode(id);
    dirty.nodes.clear();
    dirty.header = true;
    dirty.cards = true;
  }
  if (dirty.activity.length > 0) {
    paintActivity(dirty.activity.splice(0));
  }
  if (dirty.header) {
    dirty.header = false;
    paintHeader();
  }
  if (dirty.cards) {
    dirty.cards = false;
    for (const id of view.cards.keys()) paintCard(id);
  }
  if (dirty.jobs) {
    dirty.jobs = false;
    paintJobs();
  }
}

// ---------------------------------------------------------------- feed

function applyTree(tree) {
  const key = tree
    .map((n) => `${n.agentId}<${n.parent ?? ''}[${(n.breakers ?? []).join(',')}]`)
    .sort()
    .join('|');
  model.nodes = new Map(tree.map((n) => [n.agentId, { ...n }]));
  if (key !== model.topologyKey) {
    model.topologyKey = key;
    buildTree();
    buildCards();
  }
  for (const id of model.nodes.keys()) dirty.nodes.add(id);
  schedule();
}

function applyRecord(record) {
  const node = model.nodes.get(record.agentId);
  if (!node) return;
  node.state = record.to;
  if (record.role === 'programmer' || record.role === 'manager') {
    if (record.to === 'EXECUTING') {
      if (record.jobId) node.jobId = record.jobId;
      if (record.taskId) node.taskId = record.taskId;
    } else {
      delete node.jobId;
      delete node.taskId;
    }
  }
  dirty.nodes.add(record.agentId);
}

const feed = connectFeed({
  onHello(hello, { since }) {
    model.seq = hello.seq;
    // The hello's tree is the truth at hello.seq. After a gap (the gateway no longer holds what
    // we missed, or it restarted) nothing else we hold can be trusted either: fetch it all again.
    // Settings are fetched on every reconnect, since a restart may have come with edited files.
    if (hello.gap) logNote(`Feed resumed with a gap (gateway now at seq ${hello.seq}); refreshed everything.`);
    else if (since !== null) logNote(`Reconnected; caught up from seq ${since}.`);
    applyTree(Object.values(hello.tree));
    void loadSettings();
    void loadDoctor(api, $('doctor')).then(() => {
      for (const id of model.nodes.keys()) dirty.nodes.add(id);
      schedule();
    });
    requestRefresh();
  },
  onRecord(record, { replayed }) {
    model.seq = Math.max(model.seq, record.seq);
    recordRun(record);
    if (record.role === 'programmer' && record.jobId) dirty.jobs = true;
    // Replayed records are older than the hello's tree, which already holds their effect.
    if (!replayed) applyRecord(record);
    dirty.activity.push({ ...record, replayed });
    if (record.role !== 'breaker' || record.to === 'open') requestRefresh();
    schedule();
  },
  onProgress(progress) {
    model.seq = Math.max(model.seq, progress.seq);
    const node = model.nodes.get(progress.agentId);
    if (!node || node.role !== 'programmer') return;
    node.activity = { line: progressLine(progress), ts: progress.ts, taskId: progress.taskId };
    if (view.cards.has(progress.agentId)) {
      dirty.cards = true;
      schedule();
    }
  },
  onMerge(merge) {
    // A branch of a job's merge queue moved: the job (its timeline's merge row) is fetched again.
    model.seq = Math.max(model.seq, merge.seq);
    dirty.jobs = true;
    requestRefresh();
    schedule();
  },
  onStatus: paintConnection,
});

/** One line for a feed `progress` message (what a coding agent just did). */
function progressLine(p) {
  switch (p.kind) {
    case 'file':
      return `${p.change === 'delete' ? 'deleted' : 'wrote'} ${p.path ?? 'a file'}${p.tool ? ` (${p.tool})` : ''}`;
    case 'command':
      return `ran ${p.command ?? 'a command'}${typeof p.exitCode === 'number' ? ` → exit ${p.exitCode}` : ''}`;
    case 'retry':
      return `retrying${p.status ? ` after HTTP ${p.status}` : ''}${p.attempt ? ` (attempt ${p.attempt})` : ''}`;
    case 'tool':
      return `used ${p.tool ?? 'a tool'}`;
    default:
      return `says: ${(p.text ?? '').replace(/\s+/g, ' ').slice(0, 120)}`;
  }
}

function paintConnection(status) {
  const box = $('conn');
  setData(box, 'conn', status.state);
  // The whole page says when what it shows may be stale: the tree greys out with the time of the last news.
  if (status.state === 'live') liveSince = null;
  else if (document.body.dataset.conn === 'live') liveSince = new Date();
  setData(document.body, 'conn', status.state);
  setText($('stale-text'), status.state === 'live' ? '' : `Not connected to the gateway${liveSince ? ` since ${fmtClock(liveSince.toISOString())}` : ''}: agent states, jobs and breakers shown may be out of date.`);
  const retry = $('reconnect-now');
  if (status.state === 'live') {
    setText($('conn-text'), 'Live');
    retry.hidden = true;
  } else if (status.state === 'connecting') {
    setText($('conn-text'), status.attempt > 0 ? `Reconnecting (attempt ${status.attempt})…` : 'Connecting…');
    retry.hidden = true;
  } else {
    setText($('conn-text'), `Disconnected — retrying in ${Math.ceil((status.retryInMs ?? 0) / 1000)} s`);
    retry.hidden = false;
  }
}
$('reconnect-now').addEventListener('click', () => feed.retryNow());

// ---------------------------------------------------------------- tree

const ROLE_WORD = { architect: 'Architect', director: 'Director', manager: 'Manager', programmer: 'Programmer' };

function childrenOf(id, role) {
  const out = [];
  for (const n of model.nodes.values()) if (n.parent === id && (!role || n.role === role)) out.push(n);
  return out; // the configured order (lanes as listed in pas.yaml, programmers by pool entry)
}

function nodeBox(node) {
  const dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  const name = h('span', { class: 'name', text: node.agentId });
  const state = h('span', { class: 'state' });
  const work = h('span', { class: 'work' });
  const withCard = node.role === 'manager' || node.role === 'programmer';
  // A programmer tile has room for its state beside the name; the narrower tiers show it below.
  const parts =
    node.role === 'programmer'
      ? [h('span', { class: 'node-head' }, dot, name, state), work]
      : [h('span', { class: 'node-head' }, dot, name), h('span', { class: 'node-sub' }, state, work)];
  const box = withCard
    ? h('a', { class: `node node-${node.role}`, href: `#card-${node.agentId}`, dataset: { agentId: node.agentId, role: node.role } }, ...parts)
    : h('div', { class: `node node-${node.role}`, role: 'group', dataset: { agentId: node.agentId, role: node.role } }, ...parts);
  if (withCard) {
    box.addEventListener('click', (event) => {
      event.preventDefault();
      focusCard(node.agentId);
    });
  }
  return { box, state, work };
}

function breakerPill(breakerId, which) {
  const pill = h('span', { class: `pill pill-${which}`, dataset: { breaker: breakerId } }, h('span', { class: 'pill-dot', 'aria-hidden': 'true' }), h('span', { class: 'pill-text', text: shortModel(breakerId) }));
  if (!view.pills.has(breakerId)) view.pills.set(breakerId, new Set());
  view.pills.get(breakerId).add(pill);
  return pill;
}

function buildTree() {
  view.tree.clear();
  view.pills.clear();
  const root = [...model.nodes.values()].find((n) => n.role === 'architect');
  const container = $('tree');
  if (!root) {
    container.replaceChildren(h('p', { class: 'empty', text: 'The gateway sent an empty tree.' }));
    return;
  }
  const branch = (node) => {
    const { box, state, work } = nodeBox(node);
    const li = h('li', { class: `branch branch-${node.role}`, dataset: { agentId: node.agentId } }, box);
    view.tree.set(node.agentId, { li, box, state, work, pills: [] });
    if (node.role === 'manager') {
      // Programmers belong to the shared pool, not to one Manager: they are drawn under the pool node.
    } else {
      const kids = childrenOf(node.agentId).filter((n) => n.role !== 'programmer' && n.role !== 'breaker');
      if (kids.length > 0) li.append(h('ul', { class: 'children', 'aria-label': `Reporting to ${node.agentId}` }, kids.map(branch)));
    }
    return li;
  };
  const tile = (node) => {
    const { box, state, work } = nodeBox(node);
    const ids = node.breakers ?? [];
    const pills = ids.map((id, i) => breakerPill(id, i === 0 ? 'primary' : 'backup'));
    const pillRow = h('span', { class: 'pills', role: 'list', 'aria-label': `Model breakers of ${node.agentId}` }, pills.map((p) => { p.setAttribute('role', 'listitem'); return p; }));
    const wrap = h('div', { class: 'tile', dataset: { agentId: node.agentId } }, box, pillRow);
    view.tree.set(node.agentId, { li: wrap, box, state, work, pills });
    return wrap;
  };
  const programmers = [...model.nodes.values()].filter((n) => n.role === 'programmer');
  const managers = [...model.nodes.values()].filter((n) => n.role === 'manager').length;
  view.poolNode = poolNode(programmers.map(tile), { managers });
  container.replaceChildren(h('ul', { class: 'tree-root' }, branch(root)), view.poolNode.root);
}

function managerWork(id, node) {
  const health = model.agents.get(id);
  const active = health?.active_jobs ?? [];
  const jobs = active.length > 0 ? active : node.jobId ? [node.jobId] : [];
  const parts = [];
  if (jobs.length > 0) parts.push(`job ${jobs.join(', ')}`);
  if (health?.queue_depth) parts.push(`${health.queue_depth} queued`);
  return parts.join(' · ');
}

function paintNode(id) {
  const node = model.nodes.get(id);
  if (!node) return;
  if (node.role === 'breaker') {
    const shown = breakerAsAgentState(node.state);
    for (const pill of view.pills.get(id) ?? []) {
      setData(pill, 'breakerState', node.state);
      setData(pill, 'state', shown);
      const cause = model.models.find((m) => `breaker:${m.ref}` === id)?.breaker?.cause;
      pill.title = `${id.replace(/^breaker:/, '')} — breaker ${BREAKER_WORDS[node.state] ?? node.state}${pill.classList.contains('pill-backup') ? ' (backup model)' : ' (primary model)'}${node.state !== 'closed' && cause ? `\nwhy: ${cause}` : ''}`;
      setData(pill, 'cause', node.state !== 'closed' && cause ? 'true' : 'false');
      const broken = unusableModel(id.replace(/^breaker:/, ''));
      setData(pill, 'unusable', broken ? 'true' : 'false');
      if (broken) pill.title += `\nunusable: ${broken.detail}\nfix: ${broken.fix}`;
      pill.setAttribute('aria-label', pill.title);
    }
    // The owner of a pill may now run on its backup.
    for (const n of model.nodes.values()) if (n.role === 'programmer' && n.breakers?.includes(id)) dirty.nodes.add(n.agentId);
    return;
  }
  const el = view.tree.get(id);
  if (!el) return;
  setData(el.box, 'state', node.state);
  setData(el.li, 'state', node.state);
  setText(el.state, node.state);
  let work = '';
  if (node.role === 'programmer') {
    if (node.state === 'EXECUTING' && node.jobId) work = `job ${node.jobId}${node.taskId ? ` · ${shortTask(node.taskId, node.jobId)}` : ''}`;
    else if (node.state === 'FAILED') work = 'failed — see its card';
    else work = `:${node.port ?? ''}`;
    const primary = node.breakers?.[0] ? model.nodes.get(node.breakers[0]) : undefined;
    const usingBackup = !!primary && primary.state !== 'closed' && (node.breakers?.length ?? 0) > 1;
    setData(el.box, 'backup', usingBackup);
    el.pills.forEach((pill, i) => setData(pill, 'inUse', usingBackup ? i === 1 : i === 0));
  } else if (node.role === 'manager') {
    work = managerWork(id, node) || `:${node.port ?? ''}`;
  } else {
    const inFlight = model.agents.get(id)?.jobs_in_flight ?? 0;
    work = inFlight > 0 ? `${inFlight} job${inFlight === 1 ? '' : 's'}` : node.role === 'director' && node.lane ? `${node.lane} lane` : 'routes jobs';
  }
  setText(el.work, work);
  const failure = model.agents.get(id)?.failure;
  // The Architect and Managers have no pills: their unusable models are named on the node itself.
  const chosen = node.role === 'programmer' ? null : model.settings.get(id);
  const broken = chosen ? [chosen.primary, chosen.backup].filter(Boolean).map((ref) => [ref, unusableModel(ref)]).filter(([, row]) => row) : [];
  setData(el.box, 'unusable', broken.length > 0 && broken.length === [chosen?.primary, chosen?.backup].filter(Boolean).length ? 'all' : broken.length > 0 ? 'some' : 'none');
  el.box.title = [
    node.state === 'FAILED' && failure ? `${id} failed: ${failure.code ?? ''}${failure.code ? ': ' : ''}${failure.message ?? ''}` : '',
    ...broken.map(([ref, row]) => `${ref} unusable: ${row.detail} — fix: ${row.fix}`),
  ].filter(Boolean).join('\n');
  el.box.setAttribute('aria-label', `${ROLE_WORD[node.role] ?? node.role} ${id}: ${node.state}${work ? `, ${work}` : ''}`);
}

/** `abc123-t2` → `t2`: the job is already named next to it. */
function shortTask(taskId, jobId) {
  return jobId && taskId.startsWith(`${jobId}-`) ? taskId.slice(jobId.length + 1) : taskId;
}

// ---------------------------------------------------------------- header

function paintHeader() {
  const executing = [...model.nodes.values()].filter((n) => n.role === 'programmer' && n.state === 'EXECUTING');
  const total = [...model.nodes.values()].filter((n) => n.role === 'programmer').length;
  setText($('exec-count'), executing.length);
  setText($('exec-label'), `of ${total} programmers executing`);
  const byJob = new Map();
  for (const n of executing) byJob.set(n.jobId ?? 'direct task', (byJob.get(n.jobId ?? 'direct task') ?? 0) + 1);
  setText($('exec-jobs'), byJob.size === 0 ? 'idle' : [...byJob].map(([job, count]) => `job ${job} ×${count}`).join(' · '));
  setData($('stat-exec'), 'active', executing.length > 0);

  const running = model.jobs.filter((j) => j.status === 'running' || j.status === 'accepted').length;
  setText($('jobs-running'), running);
  setText($('jobs-total'), `of ${model.jobsTotal} in the journal`);

  const limits = model.pool?.llm_providers ?? [];
  setText($('llm-limits'), limits.length === 0 ? '—' : limits.map((p) => `${p.provider} ${p.in_flight}/${p.limit}${p.saturated ? ' saturated' : ''}`).join(' · '));
  setData($('stat-llm'), 'saturated', limits.some((p) => p.saturated));

  const budget = model.pool?.budget;
  if (budget) {
    const ratio = budget.max_daily_spend_usd > 0 ? Math.min(1, budget.spent_today_usd / budget.max_daily_spend_usd) : 0;
    setText($('budget-text'), `${fmtUsd(budget.spent_today_usd)} of ${fmtUsd(budget.max_daily_spend_usd)}${budget.exhausted ? ' — exhausted' : ''}`);
    $('budget-fill').style.width = `${(ratio * 100).toFixed(1)}%`;
    const bar = $('budget-bar');
    bar.setAttribute('aria-valuenow', ratio.toFixed(3));
    bar.setAttribute('aria-valuetext', `${fmtUsd(budget.spent_today_usd)} spent of ${fmtUsd(budget.max_daily_spend_usd)}`);
    setData($('budget'), 'level', budget.exhausted ? 'exhausted' : ratio >= 0.8 ? 'high' : 'ok');
  }
  setText($('feed-seq'), `seq ${model.seq}`);
  $('feed-seq').dataset.seq = String(model.seq);
}

// ---------------------------------------------------------------- activity

function logNote(text) {
  dirty.activity.push({ note: text, ts: new Date().toISOString() });
  schedule();
}

function paintActivity(items) {
  const list = $('activity');
  for (const item of items) {
    let li;
    if (item.note) {
      li = h('li', { class: 'act act-note' }, h('time', { text: fmtClock(item.ts) }), h('span', { class: 'act-text', text: item.note }));
    } else {
      const to = item.role === 'breaker' ? breakerAsAgentState(item.to) : item.to;
      li = h(
        'li',
        { class: 'act', dataset: { seq: item.seq, state: to, replayed: item.replayed } },
        h('time', { text: fmtClock(item.ts) }),
        h('span', { class: 'act-agent', text: item.role === 'breaker' ? shortModel(item.agentId) : item.agentId }),
        h('span', { class: 'act-text' }, `${item.from} → `, h('strong', { text: item.to }), item.jobId ? ` · job ${item.jobId}` : ''),
        item.replayed ? h('span', { class: 'tag', text: 'replayed' }) : null,
      );
    }
    list.prepend(li);
  }
  while (list.children.length > ACTIVITY_MAX) list.lastElementChild.remove();
}

// ---------------------------------------------------------------- refresh from the API

let refreshing = false;
let refreshAgain = false;
let lastRefresh = 0;
let refreshTimer = 0;

function requestRefresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  const wait = Math.max(0, lastRefresh + REFRESH_MIN_GAP_MS - Date.now());
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, wait);
}

async function refresh() {
  refreshing = true;
  lastRefresh = Date.now();
  try {
    const [agents, jobs, pool, models] = await Promise.all([api('/api/agents'), api('/api/jobs?limit=25'), api('/api/pool'), api('/api/models')]);
    if (models.ok) {
      model.models = models.body.models;
      for (const m of model.models) dirty.nodes.add(`breaker:${m.ref}`);
    }
    if (agents.ok) {
      model.agents = new Map(agents.body.agents.map((a) => [a.agent, a]));
      for (const a of agents.body.agents) if (a.role !== 'programmer') dirty.nodes.add(a.agent);
      dirty.cards = true;
    }
    if (jobs.ok) {
      model.jobs = jobs.body.jobs;
      model.jobsTotal = jobs.body.total;
      dirty.jobs = true;
    }
    if (pool.ok) {
      model.pool = pool.body;
      view.poolNode?.update(pool.body);
    }
    dirty.header = true;
    schedule();
  } finally {
    refreshing = false;
    if (refreshAgain) {
      refreshAgain = false;
      requestRefresh();
    }
  }
}

async function loadSettings() {
  const [models, settings, health] = await Promise.all([api('/api/models'), api('/api/settings/llm'), api('/health')]);
  if (models.ok) model.models = models.body.models;
  if (settings.ok) model.settings = new Map(settings.body.agents.map((a) => [a.agent_id, { primary: a.primary, backup: a.backup }]));
  if (health.ok) setText($('run-id'), `run ${health.body.run_id}`);
  for (const card of view.cards.values()) fillSelects(card);
  dirty.cards = true;
  schedule();
}

// ---------------------------------------------------------------- cards

function buildCards() {
  const managers = [...model.nodes.values()].filter((n) => n.role === 'manager');
  const programmers = [...model.nodes.values()].filter((n) => n.role === 'programmer');
  const keep = new Map(view.cards);
  view.cards.clear();
  const make = (node) => {
    const old = keep.get(node.agentId);
    const card = old ?? createCard(node);
    view.cards.set(node.agentId, card);
    return card.root;
  };
  $('manager-cards').replaceChildren(...managers.map(make));
  $('programmer-cards').replaceChildren(...programmers.map(make));
}

function field(label, valueEl) {
  return h('div', { class: 'kv' }, h('dt', { text: label }), h('dd', {}, valueEl));
}

function createCard(node) {
  const id = node.agentId;
  const c = { id, role: node.role };
  c.state = h('span', { class: 'badge' });
  c.meta = h('p', { class: 'card-meta' });
  c.work = h('span');
  c.llm = h('span', { class: 'llm-current' });
  c.llmTag = h('span', { class: 'tag' });
  c.breaker = h('span', { class: 'pill pill-inline' }, h('span', { class: 'pill-dot', 'aria-hidden': 'true' }), h('span', { class: 'pill-text' }));
  c.queue = h('span');
  c.tokens = h('span');
  c.cost = h('span');
  c.extra = h('span');

  const primaryId = `primary-${id}`;
  const backupId = `backup-${id}`;
  c.primary = h('select', { id: primaryId, name: 'primary' });
  c.backup = h('select', { id: backupId, name: 'backup' });
  c.save = h('button', { type: 'submit', class: 'btn btn-primary', disabled: true }, 'Save', h('span', { class: 'sr-only', text: ` LLM settings of ${id}` }));
  c.revert = h('button', { type: 'button', class: 'btn', disabled: true }, 'Revert', h('span', { class: 'sr-only', text: ` LLM settings of ${id}` }));
  c.message = h('output', { class: 'form-msg', 'aria-live': 'polite', for: `${primaryId} ${backupId}` });
  c.form = h(
    'form',
    { class: 'llm-form', dataset: { agentId: id }, 'aria-label': `LLM settings of ${id}` },
    h('div', { class: 'field' }, h('label', { for: primaryId }, 'Primary LLM', h('span', { class: 'sr-only', text: ` of ${id}` })), c.primary),
    h('div', { class: 'field' }, h('label', { for: backupId }, 'Backup LLM', h('span', { class: 'sr-only', text: ` of ${id}` })), c.backup),
    h('div', { class: 'form-actions' }, c.save, c.revert),
    c.message,
  );
  const markDirty = () => {
    const saved = model.settings.get(id);
    const changed = !saved || c.primary.value !== saved.primary || c.backup.value !== (saved.backup ?? '');
    c.form.dataset.dirty = String(changed);
    c.save.disabled = !changed;
    c.revert.disabled = !changed;
    if (changed) showMessage(c, '', 'info');
  };
  c.primary.addEventListener('change', markDirty);
  c.backup.addEventListener('change', markDirty);
  c.revert.addEventListener('click', () => {
    c.form.dataset.dirty = 'false';
    fillSelects(c, true);
    markDirty();
    showMessage(c, '', 'info');
  });
  c.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void saveSettings(c);
  });

  c.heading = h('h4', { class: 'card-title', id: `card-title-${id}`, tabindex: '-1' }, id);
  c.root = h(
    'article',
    { class: `card card-${node.role}`, id: `card-${id}`, dataset: { agentId: id, role: node.role }, 'aria-labelledby': `card-title-${id}` },
    h('header', { class: 'card-head' }, c.heading, c.state),
    c.meta,
    h(
      'dl',
      { class: 'card-grid' },
      field(node.role === 'manager' ? 'Jobs' : 'Working on', c.work),
      field('LLM in use', h('span', { class: 'llm-line' }, c.llm, c.llmTag)),
      field('Breaker', c.breaker),
      field('Queue', c.queue),
      field('Tokens today', c.tokens),
      field('Cost today', c.cost),
      field(node.role === 'manager' ? 'Finished' : 'Tasks', c.extra),
      ...(node.role === 'programmer' ? [field('Agent activity', (c.activity = h('span', { class: 'agent-activity', 'aria-live': 'polite' })))] : []),
    ),
    c.form,
  );
  fillSelects(c);
  return c;
}

function showMessage(c, text, kind) {
  setText(c.message, text);
  c.message.dataset.kind = kind;
  c.message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

function modelOptions(select, includeNone) {
  const byProvider = new Map();
  for (const m of model.models) {
    if (!byProvider.has(m.provider)) byProvider.set(m.provider, []);
    byProvider.get(m.provider).push(m);
  }
  const children = [];
  if (includeNone) children.push(h('option', { value: '' }, '— none —'));
  for (const [provider, models] of byProvider) {
    children.push(
      h(
        'optgroup',
        { label: provider },
        models.map((m) => h('option', { value: m.ref }, `${m.ref}  ·  ${m.free ? 'free' : 'paid'}${m.breaker?.state && m.breaker.state !== 'closed' ? `  ·  breaker ${m.breaker.state}` : ''}`)),
      ),
    );
  }
  select.replaceChildren(...children);
}

/** Fills the dropdowns from /api/models and selects the saved choice (unless the user is mid-edit). */
function fillSelects(c, force = false) {
  if (model.models.length === 0) return;
  if (c.form.dataset.dirty === 'true' && !force) return;
  const saved = model.settings.get(c.id);
  modelOptions(c.primary, false);
  modelOptions(c.backup, true);
  if (saved) {
    ensureOption(c.primary, saved.primary);
    if (saved.backup) ensureOption(c.backup, saved.backup);
    c.primary.value = saved.primary;
    c.backup.value = saved.backup ?? '';
  }
}

/** A configured model missing from models.yaml still shows (so the page never lies about the file). */
function ensureOption(select, ref) {
  if ([...select.options].some((o) => o.value === ref)) return;
  select.append(h('option', { value: ref }, `${ref}  ·  not in models.yaml`));
}

async function saveSettings(c) {
  const body = { primary: c.primary.value, backup: c.backup.value === '' ? null : c.backup.value };
  c.save.disabled = true;
  c.form.setAttribute('aria-busy', 'true');
  showMessage(c, 'Saving…', 'info');
  const result = await api(`/api/settings/llm/${encodeURIComponent(c.id)}`, { method: 'PUT', body: JSON.stringify(body) });
  c.form.removeAttribute('aria-busy');
  if (!result.ok) {
    c.save.disabled = false;
    c.form.dataset.saved = 'error';
    showMessage(c, `Not saved: ${errorText(result)}`, 'error');
    return;
  }
  model.settings.set(c.id, { primary: result.body.primary, backup: result.body.backup ?? null });
  c.form.dataset.dirty = 'false';
  c.form.dataset.saved = 'ok';
  c.revert.disabled = true;
  fillSelects(c, true);
  const file = String(result.body.file ?? '');
  c.message.title = file;
  showMessage(c, `Saved to ${file.split(/[\\/]/).pop()}; ${c.id} now uses ${result.body.primary}${result.body.backup ? ` (backup ${result.body.backup})` : ''}.`, 'ok');
  // The live agent's health and the tree's breaker pills follow the new choice.
  const tree = await api('/api/tree');
  if (tree.ok) applyTree(Object.values(tree.body.tree));
  requestRefresh();
}

function paintCard(id) {
  const c = view.cards.get(id);
  const node = model.nodes.get(id);
  if (!c || !node) return;
  const health = model.agents.get(id);
  setText(c.state, node.state);
  setData(c.state, 'state', node.state);
  setData(c.root, 'state', node.state);

  const lane = node.lane ? `${node.lane} lane` : '';
  const caps = health?.capabilities?.length ? health.capabilities.join(', ') : '';
  setText(c.meta, [node.role === 'manager' ? `reports to ${node.parent}` : `under ${node.parent}`, lane, `port ${node.port}`, caps, health?.executor && health.executor !== 'native' ? `runs ${health.executor}` : ''].filter(Boolean).join(' · '));

  if (node.role === 'programmer') {
    const task = node.state === 'EXECUTING' && node.jobId ? { job_id: node.jobId, task_id: node.taskId } : health?.task;
    setText(c.work, task ? `job ${task.job_id}${task.task_id ? ` · ${task.task_id}` : ''}` : health?.failure ? `failed: ${health.failure.message}` : 'idle');
    const poolEntry = model.pool?.programmers?.find((p) => p.id === id);
    setText(c.queue, fmtInt(poolEntry?.queue_depth ?? 0));
    setText(c.extra, health ? `${fmtInt(health.stats?.completed)} done · ${fmtInt(health.stats?.failed)} failed` : '—');
    const act = node.activity;
    if (c.activity) setText(c.activity, act ? `${act.ts.slice(11, 19)} ${act.line}` : '—');
  } else {
    const active = health?.active_jobs ?? [];
    setText(c.work, active.length > 0 ? active.join(', ') : 'none running');
    setText(c.queue, fmtInt(health?.queue_depth ?? 0));
    setText(c.extra, fmtInt(health?.finished_jobs ?? 0));
  }
  const llm = health?.llm;
  if (llm) {
    setText(c.llm, llm.current);
    setText(c.llmTag, llm.using_backup ? 'backup' : 'primary');
    setData(c.llmTag, 'kind', llm.using_backup ? 'backup' : 'primary');
    const bstate = llm.breaker_state ?? 'closed';
    setData(c.breaker, 'breakerState', bstate);
    setData(c.breaker, 'state', breakerAsAgentState(bstate));
    setText(c.breaker.lastElementChild, `${BREAKER_WORDS[bstate] ?? bstate}${llm.failures ? ` · ${llm.failures} failures` : ''}`);
  }
  const usage = health?.usage_today;
  if (usage) {
    setText(c.tokens, `${fmtInt(usage.input_tokens)} in · ${fmtInt(usage.output_tokens)} out`);
    setText(c.cost, fmtUsd(usage.cost_usd));
  }
}

function focusCard(id) {
  const c = view.cards.get(id);
  if (!c) return;
  c.root.scrollIntoView({ behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth', block: 'center' });
  c.root.classList.remove('flash');
  void c.root.offsetWidth;
  c.root.classList.add('flash');
  c.heading.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- jobs


function paintJobs() {
  const list = $('jobs');
  setText($('jobs-count'), model.jobsTotal ? `${model.jobs.length} of ${model.jobsTotal}` : '');
  if (model.jobs.length === 0) return;
  const seen = new Set();
  const ordered = [];
  for (const job of model.jobs) {
    seen.add(job.job_id);
    const key = JSON.stringify(job);
    let entry = view.jobs.get(job.job_id);
    if (!entry) {
      entry = { key: '', root: h('article', { class: 'job', dataset: { jobId: job.job_id } }) };
      view.jobs.set(job.job_id, entry);
    }
    if (entry.key !== key) {
      entry.key = key;
      renderJob(entry.root, job);
    }
    ordered.push(entry.root);
  }
  for (const id of [...view.jobs.keys()]) if (!seen.has(id)) view.jobs.delete(id);
  const current = [...list.children];
  if (current.length !== ordered.length || current.some((el, i) => el !== ordered[i])) list.replaceChildren(...ordered);
}

function renderJob(root, job) {
  const total = job.progress?.total ?? 0;
  const done = job.progress?.done ?? 0;
  const running = (job.tasks ?? []).filter((t) => t.status === 'running').length;
  const ratio = total > 0 ? done / total : 0;
  root.dataset.status = job.status;
  const open = view.jobsOpen.has(job.job_id) ? view.jobsOpen.get(job.job_id) : job.status === 'running' || job.status === 'accepted' || (model.jobs[0]?.job_id === job.job_id);
  const details = h(
    'details',
    { class: 'subtasks', open },
    h('summary', {}, `Subtasks (${total})`, running ? h('span', { class: 'muted', text: ` · ${running} running` }) : null),
    h('ol', { class: 'task-list' }, (job.tasks ?? []).map((t) => taskRow(t))),
    job.receipts ? h('p', { class: 'receipts' }, 'Receipts: ', h('code', { text: job.receipts })) : null,
  );
  details.addEventListener('toggle', () => view.jobsOpen.set(job.job_id, details.open));
  const terminal = !['running', 'accepted'].includes(job.status);
  const rerun = terminal
    ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => rerunJob(job, rerun) }, 'Run again', h('span', { class: 'sr-only', text: ` (job ${job.job_id})` }))
    : h('button', { type: 'button', class: 'btn btn-small btn-danger', onclick: () => cancelJob(job, rerun) }, 'Cancel', h('span', { class: 'sr-only', text: ` job ${job.job_id}` }));
  const timeline = renderTimeline(job);
  const parts = [
    h(
      'header',
      { class: 'job-head' },
      h('span', { class: 'job-id', text: job.job_id }),
      h('span', { class: 'badge', dataset: { status: job.status }, text: job.status }),
      h('span', { class: 'muted', text: [job.manager_id, job.lane ? `${job.lane} lane` : null, job.executor ? `runs ${job.executor}` : null, job.duration_ms != null ? fmtDuration(job.duration_ms) : null].filter(Boolean).join(' · ') }),
      rerun,
    ),
    h('p', { class: 'job-task', text: job.task, title: job.task }),
    h(
      'div',
      { class: 'progress' },
      h('div', { class: 'bar', role: 'progressbar', 'aria-label': `Progress of job ${job.job_id}`, 'aria-valuemin': '0', 'aria-valuemax': String(total), 'aria-valuenow': String(done) }, h('span', { class: 'bar-fill', style: `width:${(ratio * 100).toFixed(1)}%` })),
      h('span', { class: 'progress-text', text: `${done}/${total} subtasks` }),
      job.cost_usd != null ? h('span', { class: 'muted', text: `${fmtUsd(job.cost_usd)} · ${fmtInt((job.tokens?.input ?? 0) + (job.tokens?.output ?? 0))} tokens` }) : null,
    ),
    job.error ? h('p', { class: 'job-error', text: `${job.error.code ?? 'error'}: ${job.error.message ?? ''}` }) : null,
    ...(job.notes ?? []).map((n) => h('p', { class: 'job-note', text: n })),
    timeline,
    job.merged_branch ? h('p', { class: 'muted small' }, 'Merged into ', h('code', { text: job.merged_branch })) : null,
    details,
  ];
  root.replaceChildren(...parts.filter(Boolean));
}

function taskRow(t) {
  const r = t.result ?? {};
  const receipt = [];
  if (r.provider && r.model) receipt.push(`${r.provider}/${r.model}${r.usedBackup ? ' (backup)' : ''}`);
  if (r.tokens) receipt.push(`${fmtInt(r.tokens.input)} in / ${fmtInt(r.tokens.output)} out`);
  if (r.costUsd != null) receipt.push(fmtUsd(r.costUsd));
  if (r.durationMs != null) receipt.push(fmtDuration(r.durationMs));
  if (r.kpi) receipt.push(`+${r.kpi.lines_added ?? 0}/−${r.kpi.lines_removed ?? 0}`);
  return h(
    'li',
    { class: 'task', dataset: { status: t.status, taskId: t.task_id } },
    h('span', { class: 'task-status', text: t.status }),
    h('span', { class: 'task-main' }, h('span', { class: 'task-files', text: (t.files ?? []).join(', ') || t.task_id, title: t.instruction }), h('span', { class: 'task-receipt', text: [t.programmer_id, t.executor, ...receipt].filter(Boolean).join(' · ') || 'waiting for a programmer' })),
    t.error ? h('span', { class: 'task-error', title: `${t.error.code ?? ''}: ${t.error.message ?? ''}`, text: t.error.message ?? t.error.code }) : null,
  );
}

async function cancelJob(job, button) {
  button.disabled = true;
  const result = await api(`/api/jobs/${encodeURIComponent(job.job_id)}/cancel`, { method: 'POST', body: '{}' });
  if (!result.ok) {
    button.disabled = false;
    logNote(`Could not cancel job ${job.job_id}: ${errorText(result)}`);
  } else {
    logNote(result.body.cancelling ? `Cancelling job ${job.job_id}.` : `Job ${job.job_id} had already ended.`);
  }
  requestRefresh();
}

async function rerunJob(job, button) {
  button.disabled = true;
  const body = {
    task: job.task,
    ...(job.files?.length ? { files: job.files } : {}),
    ...(job.repo ? { repo: job.repo } : {}),
    ...(job.lane ? { lane: job.lane } : {}),
    ...(job.verify?.length ? { verify: job.verify } : {}),
    ...(job.executor ? { executor: job.executor } : {}),
  };
  const result = await api('/api/jobs', { method: 'POST', body: JSON.stringify(body) });
  if (!result.ok) {
    button.disabled = false;
    logNote(`Could not submit the job again: ${errorText(result)}`);
  } else {
    logNote(`Submitted job ${result.body.job_id}.`);
  }
  requestRefresh();
}

// ---------------------------------------------------------------- start

mountJobForm($('job-form-slot'), {
  api,
  onSubmitted: (jobId) => {
    view.jobsOpen.set(jobId, true);
    logNote(`Submitted job ${jobId}.`);
    requestRefresh();
  },
});

await loadSettings();
void refresh();
setInterval(() => {
  if (!document.hidden) requestRefresh();
}, REFRESH_EVERY_MS);
window.addEventListener('pagehide', () => feed.close());
