/**
 * A cluster whose two programmers (one on each of `w1` and `w2`) call a paid model in OpenAI's
 * format first and a free Ollama model as their backup, with no retry of a failed call: the
 * central process has no OpenAI key, each worker its own (the keys stay on the workers).
 */
import type { FakeProvider } from '../../support/fake-llm-server.ts';
import { startCluster, type Cluster } from './cluster-harness.ts';

export const PAID = 'openai/gpt-4o';
export const FREE = 'ollama/qwen2.5-coder:7b-instruct';

export function startPaidCluster(openai: FakeProvider, ollama: FakeProvider, options: { offlineAfterMs: number; workerKey: string }): Promise<Cluster> {
  const urls = { OPENAI_BASE_URL: openai.url, OLLAMA_HOST: ollama.url };
  return startCluster({
    workers: ['w1', 'w2'],
    programmersPerWorker: 1,
    editDelayMs: 0,
    offlineAfterMs: options.offlineAfterMs,
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
