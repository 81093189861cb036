/**
 * A cluster whose two programmers (one on each of `w1` and `w2`) call a paid model in OpenAI's
 * format first and a free Ollama model as their backup, with no retry of a failed call: the
 * central process has no OpenAI key, each worker its own (the keys stay on the workers).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FakeProvider } from '../../support/fake-llm-server.ts';
import { GREET_INSTRUCTION, http, PAID_CALL_USD } from '../programmer/programmer-harness.ts';
import { startCluster, type Cluster } from './cluster-harness.ts';

export const PAID = 'openai/gpt-4o';
export const FREE = 'ollama/qwen2.5-coder:7b-instruct';

export { MISSING_EDIT, PAID_CALL_USD as CALL_USD, PAID_USAGE as USAGE } from '../programmer/programmer-harness.ts';

export interface ReceiptLine {
  task_id: string;
  status: string;
  provider: string | null;
  model: string | null;
  tokens: { input: number | null; output: number | null };
  cost_usd: number;
  error?: { code: string };
}

/** The task's lines in the central process's receipts files. */
export function receiptsOf(cluster: Cluster, taskId: string): ReceiptLine[] {
  const dir = path.join(cluster.centralDataDir, 'receipts');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ReceiptLine))
    .filter((r) => r.task_id === taskId);
}

export function startPaidCluster(openai: FakeProvider, ollama: FakeProvider, options: { offlineAfterMs: number; workerKey: string; ackWaitMs?: number }): Promise<Cluster> {
  const urls = { OPENAI_BASE_URL: openai.url, OLLAMA_HOST: ollama.url };
  return startCluster({
    workers: ['w1', 'w2'],
    programmersPerWorker: 1,
    editDelayMs: 0,
    offlineAfterMs: options.offlineAfterMs,
    ...(options.ackWaitMs !== undefined ? { ackWaitMs: options.ackWaitMs } : {}),
    online: {
      configure(cfg) {
        cfg.edit('programmer_pool.yaml', (doc) => {
          for (const i of [0, 1]) {
            doc.setIn(['programmers', i, 'primary_llm'], PAID);
            doc.setIn(['programmers', i, 'backup_llm'], FREE);
          }
          doc.setIn(['failover', 'max_retries'], 0);
        });
      },
      centralEnv: { ...urls, OPENAI_API_KEY: '' },
      workerEnv: { ...urls, OPENAI_API_KEY: options.workerKey },
    },
  });
}

/**
 * Sends the greet task to the programmer of `worker` and waits until its first paid answer (an
 * edit that does not apply) is counted centrally and the correction it asks for has reached the
 * paid model (admitted centrally first: a paid model gets no lease). Answers the programmer's URL.
 */
export async function untilCorrectionAsked(cluster: Cluster, openai: FakeProvider, worker: string, taskId: string, repo: string): Promise<string> {
  const programmer = [...cluster.hostOf].find(([, host]) => host === worker)![0];
  const base = cluster.agentUrl(programmer);
  const accepted = await http(`${base}/execute`, { body: { task_id: taskId, instruction: GREET_INSTRUCTION, files: ['src/greet.ts'], repo } });
  if (accepted.status !== 202) throw new Error(`the task was not accepted: ${accepted.status} ${accepted.text}`);
  await cluster.waitWorkerLog(worker, (e) => e.taskId === taskId && typeof e.msg === 'string' && e.msg.startsWith('edit reply refused'), 30_000);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const pool = await http(`${cluster.central.url}/api/pool`);
    if ((pool.body.budget as { spent_today_usd: number }).spent_today_usd >= PAID_CALL_USD && openai.requests.length === 2) return base;
    if (Date.now() > deadline) throw new Error(`the paid call was not counted (or the correction not asked for) in time: ${openai.requests.length} request(s)`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
