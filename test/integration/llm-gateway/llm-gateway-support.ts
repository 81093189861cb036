/**
 * A tree whose four providers are fake protocol servers, with the LLM gateway listening on the
 * gateway port; helpers to open a task's credential and call the gateway as a CLI would.
 */
import type { TaskLlmAccess } from '../../../src/llm/gateway/llm-gateway.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { startFakeProvider, type FakeProvider, type FakeProviderOptions } from '../../support/fake-llm-server.ts';
import type { FakeKind } from '../../support/provider-fixtures.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { BASE_URL_ENV, setEnv } from '../programmer/programmer-harness.ts';

export const REAL_KEYS = {
  ANTHROPIC_API_KEY: 'sk-ant-real-key-never-in-a-child-0001',
  OPENAI_API_KEY: 'sk-openai-real-key-never-in-a-child-0002',
  GEMINI_API_KEY: 'AIza-real-key-never-in-a-child-0003',
} as const;

export interface GatewayRig {
  tree: TestTree;
  cfg: TempConfig;
  fakes: Record<FakeKind, FakeProvider>;
  /** Extra providers by models.yaml name. */
  extra: Record<string, { url: string }>;
  open(models: string[], ids?: { jobId?: string; taskId?: string; programmerId?: string }): TaskLlmAccess;
  close(): Promise<void>;
}

export interface RigOptions {
  fake?: Partial<Record<FakeKind, Omit<FakeProviderOptions, 'kind'>>>;
  /** More providers: name → {kind, url} (e.g. a second Anthropic-compatible server). */
  extraProviders?: Record<string, { kind: FakeKind; url: string }>;
  maxJobSpendUsd?: number;
  maxDailySpendUsd?: number;
  failureThreshold?: number;
  concurrency?: { initial?: number; stagger_ms?: number };
  services?: Parameters<typeof createDefaultServices>[0];
}

let taskSeq = 0;

export async function startGatewayRig(options: RigOptions = {}): Promise<GatewayRig> {
  const restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), ...REAL_KEYS });
  const fakes = {} as Record<FakeKind, FakeProvider>;
  for (const kind of ['anthropic', 'openai', 'google', 'ollama'] as const) fakes[kind] = await startFakeProvider({ kind, ...options.fake?.[kind] });
  const cfg = tempConfig('pas-llmgw-');
  cfg.edit('models.yaml', (doc) => {
    doc.setIn(['providers', 'anthropic', 'base_url'], fakes.anthropic.url);
    doc.setIn(['providers', 'openai', 'base_url'], fakes.openai.url);
    doc.setIn(['providers', 'google', 'base_url'], fakes.google.url);
    doc.setIn(['providers', 'ollama', 'base_url'], fakes.ollama.url);
    for (const [name, p] of Object.entries(options.extraProviders ?? {})) {
      const models = p.kind === 'anthropic' ? { 'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 } } : { 'm-1': { input_per_mtok: 1, output_per_mtok: 1 } };
      doc.setIn(['providers', name], doc.createNode({ kind: p.kind, base_url: p.url, api_key_env: 'ANTHROPIC_API_KEY', timeout_s: 30, models }));
    }
  });
  cfg.edit('programmer_pool.yaml', (doc) => {
    if (options.maxJobSpendUsd !== undefined) doc.setIn(['cost_optimization', 'max_job_spend_usd'], options.maxJobSpendUsd);
    if (options.maxDailySpendUsd !== undefined) doc.setIn(['cost_optimization', 'max_daily_spend_usd'], options.maxDailySpendUsd);
    if (options.failureThreshold !== undefined) doc.setIn(['failover', 'circuit_breaker', 'failure_threshold'], options.failureThreshold);
    if (options.concurrency) doc.set('llm_concurrency', doc.createNode(options.concurrency));
  });
  let tree: TestTree;
  try {
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices(options.services ?? {}), agentPorts: false });
  } catch (err) {
    restoreEnv();
    cfg.cleanup();
    await Promise.all(Object.values(fakes).map((f) => f.close()));
    throw err;
  }
  return {
    tree,
    cfg,
    fakes,
    extra: Object.fromEntries(Object.entries(options.extraProviders ?? {}).map(([n, p]) => [n, { url: p.url }])),
    open(models, ids = {}) {
      taskSeq++;
      return tree.runtime.llmGateway!.openTask(
        { jobId: ids.jobId ?? `job-${taskSeq}`, taskId: ids.taskId ?? `task-${taskSeq}`, programmerId: ids.programmerId ?? 'Prog-006', models },
        60_000,
      );
    },
    async close() {
      await tree.close();
      await Promise.all(Object.values(fakes).map((f) => f.close()));
      cfg.cleanup();
      restoreEnv();
    },
  };
}

/** A JSON body with unknown fields, tools, thinking and cache control, written with odd spacing. */
export function anthropicBody(model: string, stream: boolean): string {
  return `{"model":"${model}",  "max_tokens":64000,"stream":${stream},
 "thinking":{"type":"enabled","budget_tokens":1024},"x_pas_unknown":{"nested":[1,2,{"z":null}]},
 "system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
 "tools":[{"name":"Write","description":"write a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}}}}],
 "messages":[{"role":"user","content":[{"type":"text","text":"édit the file ✓"}]}]}`;
}
