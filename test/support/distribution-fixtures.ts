/** One valid example of every `pas.v1.*` message, for tests of the schemas and of what carries them. */
import type { Message, MessageKind, ResultMessage, TaskMessage } from '../../src/distribution/messages.ts';

const SHA = 'a'.repeat(40);
const NOW = '2026-11-30T09:00:00.000Z';

export const exampleTask: TaskMessage = {
  kind: 'pas.v1.task',
  job_id: 'job-1',
  task_id: 't1',
  attempt_id: 'job-1:t1:a1',
  programmer_id: 'Prog-011',
  task: { id: 't1', jobId: 'job-1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: 'add a test', files: ['src/a.ts'], verify: ['npm-test'] },
  repo_key: 'app-0123456789ab',
  base_commit: SHA,
  bundle_object: 'job-1_t1_a1.base.bundle',
  bundle_full: false,
  branch: 'pas/job-1/t1',
  sent_at: NOW,
};

export const exampleResult: ResultMessage = {
  kind: 'pas.v1.result',
  attempt_id: 'job-1:t1:a1',
  job_id: 'job-1',
  task_id: 't1',
  programmer_id: 'Prog-011',
  worker_id: 'gpu-1',
  outcome: { status: 'ok', base_commit: SHA, commit: 'b'.repeat(40), bundle_object: 'job-1_t1_a1.result.bundle', summary: 'done' },
  receipt: { provider: 'ollama', model: 'qwen2.5-coder:7b-instruct', used_backup: false, tokens: { input: 120, output: null }, cost_usd: 0, duration_ms: 850, kpi: { files_changed: 1, lines_added: 3, lines_removed: 0 }, started_at: NOW, finished_at: NOW },
};

/** One valid example of every kind, so each schema is exercised both ways. */
export const EXAMPLE_MESSAGES: { [K in MessageKind]: Message<K> } = {
  'pas.v1.register': { kind: 'pas.v1.register', worker_id: 'gpu-1', host_name: 'gpu-box', programmer_ids: ['Prog-011', 'Prog-012'], capabilities: ['native', 'claude-code'], pid: 4242, version: '0.1.0', started_at: NOW, repo_haves: { 'app-0123456789ab': [SHA] } },
  'pas.v1.registered': { kind: 'pas.v1.registered', worker_id: 'gpu-1', accepted: ['Prog-011'], refused: [{ programmer_id: 'Prog-012', error: { code: 'PAS_ERR_DIST_BAD_MESSAGE', retryable: false, message: 'owned by gpu-2' } }], heartbeat_ms: 1000, offline_after_ms: 5000 },
  'pas.v1.heartbeat': { kind: 'pas.v1.heartbeat', worker_id: 'gpu-1', seq: 7, pid: 4242, sent_at: NOW, running: [{ programmer_id: 'Prog-011', attempt_id: 'job-1:t1:a1' }] },
  'pas.v1.task': exampleTask,
  'pas.v1.result': exampleResult,
  'pas.v1.progress': { kind: 'pas.v1.progress', attempt_id: 'job-1:t1:a1', task_id: 't1', programmer_id: 'Prog-011', seq: 1, at: NOW, progress: { kind: 'file', path: 'src/a.ts', change: 'update' } },
  'pas.v1.cancel': { kind: 'pas.v1.cancel', attempt_id: 'job-1:t1:a1', task_id: 't1', programmer_id: 'Prog-011', reason: 'job cancelled' },
  'pas.v1.cancelled': { kind: 'pas.v1.cancelled', attempt_id: 'job-1:t1:a1', found: true },
  'pas.v1.breaker': { kind: 'pas.v1.breaker', op: 'outcome', call_id: 'c-1', worker_id: 'gpu-1', model: 'anthropic/claude-sonnet-4', ok: false, error: { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: '502' }, at: NOW },
  'pas.v1.breaker_reply': { kind: 'pas.v1.breaker_reply', call_id: 'c-2', model: 'anthropic/claude-sonnet-4', state: 'halfOpen', allow: true },
  'pas.v1.spend': { kind: 'pas.v1.spend', call_id: 'c-1', worker_id: 'gpu-1', programmer_id: 'Prog-011', attempt_id: 'job-1:t1:a1', model: 'anthropic/claude-sonnet-4', tokens: { input: 1000, output: 200, cache_read: null }, cost_usd: 0.006, at: NOW },
  'pas.v1.central': { kind: 'pas.v1.central', instance: '0123456789abcdef', pid: 4242, host: 'central-box', since: NOW },
};
