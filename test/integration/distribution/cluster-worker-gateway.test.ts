/**
 * Agent CLIs on a `pas worker` host reach their models only through that worker's own loopback
 * LLM gateway (CONTRACT §9, §11): a real nats-server, the central `pas up` and one `pas worker`
 * whose two programmers run the real Claude Code and Codex binaries against a local model server
 * in each provider's wire format. The provider keys are set in the worker's environment only (the
 * central process has none); each CLI's environment, read from /proc while its request is in
 * flight, holds the worker gateway's base URL and a per-task credential, never a key; the
 * provider sees the worker's key; the job merges; the central receipt holds what the worker's
 * gateway measured. A cancelled job's credential stops working on the worker at once.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { environsIn, type ChildEnviron } from '../../support/child-environ.ts';
import { startFakeAgentProvider, type AgentTurn, type FakeAgentProvider } from '../../support/fake-agent-provider.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { startCluster, type Cluster } from './cluster-harness.ts';

/** The worker host's own keys: recognizable, so a leak anywhere shows. */
const WORKER_KEYS = { ANTHROPIC_API_KEY: 'sk-ant-worker-host-only-key-5d1e', OPENAI_API_KEY: 'sk-openai-worker-host-only-key-8c4a' };
const PRICES: Record<string, readonly [number, number]> = { 'claude-primary': [3, 15], 'claude-backup': [1, 5], 'gpt-primary': [2.5, 10], 'gpt-backup': [0.15, 0.6] };
const CLI = {
  'Prog-001': { executor: 'claude-code', model: 'claude-primary', provider: 'anthropic', keyVar: 'ANTHROPIC_API_KEY' },
  'Prog-002': { executor: 'codex', model: 'gpt-primary', provider: 'openai', keyVar: 'PAS_CODEX_API_KEY' },
} as const;
type ProgId = keyof typeof CLI;

interface Seen {
  environ: ChildEnviron[];
  /** Codex reads its base URL from the run's private config.toml. */
  codexConfig: string | undefined;
}

let provider: FakeAgentProvider;
let cluster: Cluster;
let workspaces: string;
let workerGateway: string;
const seen = new Map<string, Seen>();

/** The file a subtask's prompt names (one per subtask). */
const fileIn = (requestText: string) => /\\n- (src\/[a-z]+\.txt)\\n/.exec(requestText)?.[1];

/** What runs in the worker's checkouts while a CLI's request is in flight, keyed by the file it works on. */
function capture(file: string): void {
  const environ = environsIn(workspaces);
  const home = environ.flatMap((e) => e.env).find((e) => e.startsWith('CODEX_HOME='))?.slice('CODEX_HOME='.length);
  let codexConfig: string | undefined;
  try {
    codexConfig = home ? readFileSync(path.join(home, 'config.toml'), 'utf8') : undefined;
  } catch {
    codexConfig = undefined;
  }
  seen.set(file, { environ, codexConfig });
}

function credentialIn(s: Seen, keyVar: string): string {
  const values = new Set(s.environ.flatMap((e) => e.env).filter((e) => e.startsWith(`${keyVar}=`)).map((e) => e.slice(keyVar.length + 1)));
  expect(values.size).toBe(1);
  return [...values][0]!;
}

beforeAll(async () => {
  provider = await startFakeAgentProvider();
  cluster = await startCluster({
    workers: ['w1'],
    programmersPerWorker: 2,
    editDelayMs: 0,
    online: {
      configure: (cfg) => {
        cfg.edit('models.yaml', (doc) => {
          doc.setIn(['providers', 'anthropic', 'base_url'], provider.origin);
          doc.setIn(['providers', 'openai', 'base_url'], provider.openaiUrl);
          for (const [model, [input, output]] of Object.entries(PRICES)) {
            doc.setIn(['providers', model.startsWith('claude') ? 'anthropic' : 'openai', 'models', model], doc.createNode({ input_per_mtok: input, output_per_mtok: output }));
          }
        });
        cfg.edit('programmer_pool.yaml', (doc) => {
          doc.setIn(['programmers', 0, 'primary_llm'], 'anthropic/claude-primary');
          doc.setIn(['programmers', 0, 'backup_llm'], 'anthropic/claude-backup');
          doc.setIn(['programmers', 0, 'executor'], 'claude-code');
          doc.setIn(['programmers', 1, 'primary_llm'], 'openai/gpt-primary');
          doc.setIn(['programmers', 1, 'backup_llm'], 'openai/gpt-backup');
          doc.setIn(['programmers', 1, 'executor'], 'codex');
          doc.set('claude_code', doc.createNode({ binary: agentCliBin('claude'), timeout_s: 60, max_retries: 0 }));
          doc.set('codex', doc.createNode({ binary: agentCliBin('codex'), timeout_s: 60, max_retries: 0 }));
        });
      },
      // The central process has no key: the models are the worker's.
      centralEnv: { ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' },
      workerEnv: WORKER_KEYS,
    },
  });
  workspaces = path.join(cluster.workers.get('w1')!.dataDir, 'workspaces');
  const listening = await cluster.waitWorkerLog('w1', (e) => e.msg === 'worker LLM gateway listening');
  workerGateway = String(listening.url);
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  await provider?.close();
});

describe('agent CLIs on a pas worker, through the worker\'s own LLM gateway (real binaries)', () => {
  it('gives each CLI the worker\'s loopback gateway and a task credential, never the host\'s key; the job merges and each receipt holds what the worker\'s gateway measured', { timeout: 150_000 }, async () => {
    expect(workerGateway).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(workerGateway).not.toBe(cluster.central.url);
    const write = (requestText: string): AgentTurn => {
      const file = fileIn(requestText);
      if (!file) throw new Error('the prompt names no file');
      capture(file);
      return { write: { path: file, content: `written on the worker: ${file}\n` }, usage: { input: 1300, output: 90 } };
    };
    for (const { model } of Object.values(CLI)) provider.scripts.set(model, [write, { text: 'Done.', usage: { input: 1500, output: 15 } }]);

    const id = await cluster.submit(['src/one.txt', 'src/two.txt'], 'Create the files');
    const job = await cluster.waitJob(id, 120_000);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    // One subtask on each programmer: both CLIs ran on the worker.
    expect(new Set(job.tasks.map((t) => t.programmer_id))).toEqual(new Set(['Prog-001', 'Prog-002']));
    for (const f of ['src/one.txt', 'src/two.txt']) expect(await gitOut(cluster.repo.repo, 'show', `${job.merged_branch}:${f}`)).toBe(`written on the worker: ${f}`);

    const receipts = job.receipt_files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { task_id: string; tokens: Record<string, unknown>; cost_usd: number }));
    expect(receipts).toHaveLength(2);
    for (const task of job.tasks) {
      const cli = CLI[task.programmer_id as ProgId];
      // What ran in the CLI's checkout while its request was in flight.
      const run = [...seen.entries()].find(([, s]) => s.environ.some((e) => e.env.some((v) => v.startsWith(`${cli.keyVar}=`))))?.[1];
      expect(run, `${cli.executor} was seen running`).toBeDefined();
      const all = run!.environ.flatMap((e) => e.env);
      for (const key of Object.values(WORKER_KEYS)) expect(all.join('\n')).not.toContain(key);
      expect(credentialIn(run!, cli.keyVar)).toMatch(/^pas-task-/);
      if (cli.executor === 'claude-code') expect(all).toContain(`ANTHROPIC_BASE_URL=${workerGateway}/llm/anthropic`);
      else expect(run!.codexConfig).toContain(`base_url = "${workerGateway}/llm/openai/v1"`);

      // The provider saw the worker's key on every call of this CLI (the worker's gateway forwarded it).
      const calls = provider.callsTo(cli.model);
      expect(calls.length).toBeGreaterThanOrEqual(2);
      for (const c of calls) {
        if (cli.provider === 'anthropic') expect(c.headers['x-api-key']).toBe(WORKER_KEYS.ANTHROPIC_API_KEY);
        else expect(c.headers.authorization).toBe(`Bearer ${WORKER_KEYS.OPENAI_API_KEY}`);
      }
      // The central receipt holds the usage the worker's gateway measured: what the provider sent, priced.
      const receipt = receipts.find((r) => r.task_id === task.task_id)!;
      const sent = provider.sentUsage(cli.model);
      expect(receipt).toMatchObject({ agent_id: task.programmer_id, provider: cli.provider, model: cli.model, status: 'completed', used_backup: false });
      expect(receipt.tokens).toMatchObject({ input: sent.input, output: sent.output });
      const [pin, pout] = PRICES[cli.model]!;
      expect(receipt.cost_usd).toBeCloseTo((sent.input * pin + sent.output * pout) / 1e6, 9);
    }
    // Every call was measured by the worker's gateway, attributed to the job's tasks.
    const measured = cluster.workerLog('w1').filter((e) => e.msg === 'llm gateway call');
    expect(measured).toHaveLength(provider.requests.filter((r) => r.answered !== 'none').length);
    for (const m of measured) expect(m.jobId).toBe(id);
    // The keys appear in no log of either process.
    const logs = JSON.stringify([cluster.workerLog('w1'), cluster.centralLog()]);
    for (const key of Object.values(WORKER_KEYS)) expect(logs).not.toContain(key);
  });

  it('ends a task\'s credential on the worker\'s gateway the moment its job is cancelled', { timeout: 120_000 }, async () => {
    seen.clear();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const hang = (requestText: string): AgentTurn => {
      if (requestText.includes('probe-from-the-test')) return { text: 'pong', usage: { input: 5, output: 1 } };
      capture(fileIn(requestText) ?? 'unknown');
      return { text: 'never mind', waitFor: held };
    };
    for (const { model } of Object.values(CLI)) provider.scripts.set(model, [hang]);
    const before = provider.requests.length;
    const id = await cluster.submit(['src/three.txt'], 'Create the file');
    const deadline = Date.now() + 60_000;
    while (!seen.has('src/three.txt')) {
      if (Date.now() > deadline) throw new Error(`no CLI request reached the provider: ${JSON.stringify(await cluster.job(id))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const task = (await cluster.job(id)).tasks[0]!;
    const cli = CLI[task.programmer_id as ProgId];
    const credential = credentialIn(seen.get('src/three.txt')!, cli.keyVar);
    const call = () =>
      cli.provider === 'anthropic'
        ? fetch(`${workerGateway}/llm/anthropic/v1/messages`, { method: 'POST', headers: { 'x-api-key': credential, 'content-type': 'application/json' }, body: JSON.stringify({ model: cli.model, max_tokens: 10, messages: [{ role: 'user', content: 'probe-from-the-test' }] }) })
        : fetch(`${workerGateway}/llm/openai/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: cli.model, input: 'probe-from-the-test' }) });
    // While the task runs, its credential works on the worker's gateway.
    const live = await call();
    expect(live.status, await live.clone().text()).toBe(200);
    await live.arrayBuffer();

    const cancelled = await fetch(`${cluster.central.url}/api/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBeLessThan(300);
    const job = await cluster.waitJob(id, 60_000);
    expect(job.status).toBe('cancelled');
    const calls = provider.requests.length;
    const refused = await call();
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject(cli.provider === 'anthropic' ? { type: 'error', error: { type: 'authentication_error' } } : { error: { code: 'invalid_api_key' } });
    // The refused call never reached the provider.
    expect(provider.requests.length).toBe(calls);
    expect(calls).toBeGreaterThan(before);
    release();
  });

  it('stops a CLI on the worker before its next call once the job\'s own budget (max_job_spend_usd) is spent, and the subtask fails PAS_ERR_BUDGET_EXHAUSTED', { timeout: 120_000 }, async () => {
    // The first call costs about 0.005 USD on either model; the job may spend 0.001.
    for (const { model } of Object.values(CLI)) {
      provider.scripts.set(model, [
        (text) => ({ write: { path: fileIn(text)!, content: 'first\n' }, usage: { input: 1200, output: 80 } }),
        { write: { path: 'src/extra.txt', content: 'second\n' }, usage: { input: 1200, output: 80 } },
        { text: 'Done.', usage: { input: 100, output: 10 } },
      ]);
    }
    const before = provider.requests.length;
    const res = await fetch(`${cluster.central.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'Create the file', files: ['src/four.txt'], repo: cluster.repo.repo, max_job_spend_usd: 0.001 }) });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { job_id: string }).job_id;
    const job = await cluster.waitJob(id, 90_000);
    expect(job.status).not.toBe('completed');
    expect(JSON.stringify(job)).toContain('PAS_ERR_BUDGET_EXHAUSTED');
    // One call reached a provider; the worker's gateway refused every later one of the job.
    expect(provider.requests.slice(before).filter((r) => r.answered !== 'none')).toHaveLength(1);
    const refusals = cluster.workerLog('w1').filter((e) => e.msg === 'agent CLI stopped: the gateway refused a call for budget');
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals[0]).toMatchObject({ scope: 'job', jobId: id, limitUsd: 0.001 });
  });
});
