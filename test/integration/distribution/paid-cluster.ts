/**
 * A cluster whose two programmers (one on each of `w1` and `w2`) call a paid model in OpenAI's
 * format first and a free Ollama model as their backup, with no retry of a failed call: the
 * central process has no OpenAI key, each worker its own (the keys stay on the workers).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FakeProvider } from '../../support/fake-llm-server.ts';
import { startCluster, type Cluster } from './cluster-harness.ts';

export const PAID = 'openai/gpt-4o';
export const FREE = 'ollama/qwen2.5-coder:7b-instruct';

/** What one OpenAI answer costs at models.yaml's gpt-4o prices with this usage. */
export const USAGE = { input: 1200, output: 340, cacheRead: 200, thinking: 0 };
export const CALL_USD = 0.00615;
/** An edit whose SEARCH is not in the file: the programmer asks the model once more to correct it. */
export const MISSING_EDIT = ['src/greet.ts', '```ts', '<<<<<<< SEARCH', 'export const nothing = 0;', '=======', 'export const nothing = 1;', '>>>>>>> REPLACE', '```'].join('\n');

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
