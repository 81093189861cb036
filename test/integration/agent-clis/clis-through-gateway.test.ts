/**
 * The real Claude Code and Codex binaries run by a PAS tree reach their models only through
 * PAS's LLM gateway (CONTRACT §9): each run gets the gateway's `/llm/...` base URL and a per-task
 * credential (read from /proc/<pid>/environ of the running CLI while its request is in flight:
 * never the real key), the provider sees the real key, every call is attributed to the task's
 * job, task and programmer, and the receipt holds what the gateway measured. A job budget that
 * runs out mid-run stops the CLI before its next call (PAS_ERR_BUDGET_EXHAUSTED); a 529 storm on
 * the primary moves the calls to the backup without failing the subtask; a foreign or ended
 * credential gets the provider-shaped 401.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { environsIn } from '../../support/child-environ.ts';
import { startFakeAgentProvider, type AgentTurn, type FakeAgentProvider, type ModelScript } from '../../support/fake-agent-provider.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { agentUrl, BASE_URL_ENV, http, openFeed, readReceipts, receiptOf, setEnv, until, waitForTask, type FeedClient } from '../programmer/programmer-harness.ts';

const REAL = { ANTHROPIC_API_KEY: 'sk-ant-real-key-never-in-a-cli-7f3a', OPENAI_API_KEY: 'sk-openai-real-key-never-in-a-cli-2b9c' };
const PRICES: Record<string, readonly [number, number]> = { 'claude-primary': [3, 15], 'claude-backup': [1, 5], 'gpt-primary': [2.5, 10], 'gpt-backup': [0.15, 0.6] };

type Cli = 'claude-code' | 'codex';
const CLI: Record<Cli, { primary: string; backup: string; keyVar: string; baseVar: string; base: (origin: string) => string; calls: (p: FakeAgentProvider, model: string) => number }> = {
  'claude-code': { primary: 'claude-primary', backup: 'claude-backup', keyVar: 'ANTHROPIC_API_KEY', baseVar: 'ANTHROPIC_BASE_URL', base: (o) => `${o}/llm/anthropic`, calls: (p, m) => p.callsTo(m).length },
  codex: { primary: 'gpt-primary', backup: 'gpt-backup', keyVar: 'PAS_CODEX_API_KEY', baseVar: '', base: (o) => `${o}/llm/openai/v1`, calls: (p, m) => p.callsTo(m).length },
};

let provider: FakeAgentProvider | undefined;
let fixture: TempRepo | undefined;
let cfg: TempConfig | undefined;
let tree: TestTree | undefined;
let feed: FeedClient | undefined;
let restoreEnv: (() => void) | undefined;
afterEach(async () => {
  feed?.close();
  await tree?.close();
  await provider?.close();
  await fixture?.cleanup();
  cfg?.cleanup();
  restoreEnv?.();
  feed = tree = provider = fixture = cfg = restoreEnv = undefined;
});

async function boot(scripts: Record<string, ModelScript>, options: { maxJobSpendUsd?: number; failureThreshold?: number } = {}) {
  restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), ...REAL });
  provider = await startFakeAgentProvider(scripts);
  fixture = await createTempRepo({ 'README.md': '# gw\n', 'src/index.js': 'export {};\n' });
  cfg = tempConfig('pas-cli-gw-');
  cfg.edit('models.yaml', (doc) => {
    doc.setIn(['providers', 'anthropic', 'base_url'], provider!.origin);
    doc.setIn(['providers', 'openai', 'base_url'], provider!.openaiUrl);
    for (const [model, [input, output]] of Object.entries(PRICES)) {
      doc.setIn(['providers', model.startsWith('claude') ? 'anthropic' : 'openai', 'models', model], doc.createNode({ input_per_mtok: input, output_per_mtok: output }));
    }
  });
  cfg.edit('programmer_pool.yaml', (doc) => {
    doc.set('pool_size', 2);
    doc.set(
      'programmers',
      doc.createNode([
        { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary_llm: 'anthropic/claude-primary', backup_llm: 'anthropic/claude-backup', capabilities: ['premium'], executor: 'claude-code' },
        { id: 'Prog-002', port: 6152, parent: 'Mgr-Code-01', primary_llm: 'openai/gpt-primary', backup_llm: 'openai/gpt-backup', capabilities: ['premium'], executor: 'codex' },
      ]),
    );
    doc.set('capability_routing', doc.createNode({}));
    doc.setIn(['failover', 'max_retries'], 0);
    if (options.failureThreshold !== undefined) doc.setIn(['failover', 'circuit_breaker', 'failure_threshold'], options.failureThreshold);
    if (options.maxJobSpendUsd !== undefined) doc.setIn(['cost_optimization', 'max_job_spend_usd'], options.maxJobSpendUsd);
    doc.set('claude_code', doc.createNode({ binary: agentCliBin('claude'), timeout_s: 60, max_retries: 0 }));
    doc.set('codex', doc.createNode({ binary: agentCliBin('codex'), timeout_s: 60, max_retries: 0 }));
  });
  const logFile = path.join(cfg.dir, 'pas.log');
  const logger = pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true }));
  tree = await startTestTree({ config: loadConfig(cfg.dir), services: createDefaultServices({}), logger });
  feed = await openFeed(tree.url);
  return { logFile, workspaces: path.join(tree.runtime.dataDir, 'workspaces') };
}

async function execute(cli: Cli, body: { task_id: string; job_id: string; instruction: string; files: string[] }) {
  const prog = agentUrl(tree!, cli === 'claude-code' ? 'Prog-001' : 'Prog-002');
  const accepted = await http(`${prog}/execute`, { body: { ...body, repo: fixture!.repo } });
  expect(accepted.status, accepted.text).toBe(202);
  return waitForTask(prog, body.task_id, 120_000);
}

function gatewayCalls(logFile: string): Array<Record<string, unknown>> {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'llm gateway call');
}

const write = (file: string, content: string, usage = { input: 1200, output: 80 }): AgentTurn => ({ write: { path: file, content }, usage });

describe.each(['claude-code', 'codex'] as const)('%s behind PAS\'s LLM gateway (real binary)', (cli) => {
  const c = CLI[cli];

  it('runs with the gateway URL and a task credential, never the real key; every call is attributed to the job, task and programmer and the receipt holds what the gateway measured', { timeout: 180_000 }, async () => {
    let seen: Array<{ pid: number; env: string[] }> = [];
    let workspaces = '';
    let release!: () => void;
    const extraDone = new Promise<void>((resolve) => (release = resolve));
    const { logFile, workspaces: ws } = await boot({
      [c.primary]: [
        () => {
          // The CLI's first request is in flight: read the environment of everything it runs.
          seen = environsIn(workspaces);
          return write('src/greeting.txt', `hello from ${cli}\n`);
        },
        () => ({ text: 'Created src/greeting.txt.', usage: { input: 1500, output: 20 }, waitFor: extraDone }),
      ],
    });
    workspaces = ws;
    const task = execute(cli, { task_id: `${cli}-gw-1`, job_id: `job-${cli}-1`, instruction: 'Create src/greeting.txt saying hello.', files: ['src/greeting.txt'] });

    // While the run waits for its second answer, the task's credential works on the gateway.
    await until(() => seen.length > 0 && c.calls(provider!, c.primary) >= 2, 'the CLI\'s second request', 90_000);
    const all = seen.flatMap((s) => s.env);
    for (const real of Object.values(REAL)) expect(all.join('\n')).not.toContain(real);
    const credentials = new Set(all.filter((e) => e.startsWith(`${c.keyVar}=`)).map((e) => e.slice(c.keyVar.length + 1)));
    expect(credentials.size).toBe(1);
    const credential = [...credentials][0]!;
    expect(credential).toMatch(/^pas-task-/);
    if (c.baseVar) expect(all).toContain(`${c.baseVar}=${c.base(tree!.url)}`);
    else {
      // Codex reads its base URL from the private config.toml the run was given.
      const home = all.find((e) => e.startsWith('CODEX_HOME='))!.slice('CODEX_HOME='.length);
      expect(readFileSync(path.join(home, 'config.toml'), 'utf8')).toContain(`base_url = "${c.base(tree!.url)}"`);
    }
    // A call the test makes with the task's credential counts for the task like the CLI's own.
    const extra = cli === 'claude-code'
      ? await fetch(`${tree!.url}/llm/anthropic/v1/messages`, { method: 'POST', headers: { 'x-api-key': credential, 'content-type': 'application/json' }, body: JSON.stringify({ model: c.primary, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }) })
      : await fetch(`${tree!.url}/llm/openai/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: c.primary, input: 'hi', stream: true }) });
    expect(extra.status).toBe(200);
    await extra.arrayBuffer();
    release();

    const done = await task;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(await gitOut(fixture!.repo, 'show', `${done.result.branch}:src/greeting.txt`)).toBe(`hello from ${cli}`);
    // The provider saw the real key on every call; the CLI never had it.
    for (const r of provider!.callsTo(c.primary)) {
      expect(cli === 'claude-code' ? r.headers['x-api-key'] : r.headers.authorization).toBe(cli === 'claude-code' ? REAL.ANTHROPIC_API_KEY : `Bearer ${REAL.OPENAI_API_KEY}`);
    }

    // Three answered calls (the CLI's two and the test's): the receipt sums what the gateway measured, not what the CLI reported.
    const sent = provider!.sentUsage(c.primary);
    expect(provider!.callsTo(c.primary)).toHaveLength(3);
    const receipt = receiptOf(tree!, `${cli}-gw-1`);
    expect(receipt).toMatchObject({ job_id: `job-${cli}-1`, agent_id: cli === 'claude-code' ? 'Prog-001' : 'Prog-002', provider: c.primary.startsWith('claude') ? 'anthropic' : 'openai', model: c.primary, used_backup: false, status: 'completed' });
    expect(receipt.tokens).toMatchObject({ input: sent.input, output: sent.output });
    const [pin, pout] = PRICES[c.primary]!;
    expect(receipt.cost_usd).toBeCloseTo((sent.input * pin + sent.output * pout) / 1e6, 9);
    const calls = gatewayCalls(logFile);
    expect(calls).toHaveLength(3);
    for (const call of calls) expect(call).toMatchObject({ jobId: `job-${cli}-1`, taskId: `${cli}-gw-1`, agentId: cli === 'claude-code' ? 'Prog-001' : 'Prog-002' });

    // The credential ended with the task; a made-up one never worked: both get the provider's own 401.
    for (const key of [credential, 'pas-task-forged0000000000000000000000000000']) {
      const after = cli === 'claude-code'
        ? await fetch(`${tree!.url}/llm/anthropic/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: '{"model":"claude-primary","max_tokens":1,"messages":[]}' })
        : await fetch(`${tree!.url}/llm/openai/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"model":"gpt-primary","input":"hi"}' });
      expect(after.status).toBe(401);
      expect(await after.json()).toMatchObject(cli === 'claude-code' ? { type: 'error', error: { type: 'authentication_error' } } : { error: { code: 'invalid_api_key' } });
    }
    expect(provider!.callsTo(c.primary)).toHaveLength(3);

    // No real key and no credential in the log, the receipts or the feed.
    const everything = [readFileSync(logFile, 'utf8'), JSON.stringify(readReceipts(tree!)), feed!.raw.join('\n')].join('\n');
    for (const real of Object.values(REAL)) expect(everything).not.toContain(real);
    expect(everything).not.toContain(credential);
  });

  it('stops the run before its next call once the job\'s budget is spent mid-run, and fails the subtask PAS_ERR_BUDGET_EXHAUSTED', { timeout: 180_000 }, async () => {
    // The first call costs about 0.005 USD; the job may spend 0.001: the second call is refused.
    await boot(
      {
        [c.primary]: [
          write('src/a.txt', 'a\n'),
          write('src/b.txt', 'b\n'),
          { text: 'done', usage: { input: 100, output: 10 } },
        ],
      },
      { maxJobSpendUsd: 0.001 },
    );
    const done = await execute(cli, { task_id: `${cli}-gw-2`, job_id: `job-${cli}-2`, instruction: 'Create src/a.txt and src/b.txt.', files: ['src/a.txt', 'src/b.txt'] });
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(done.error.details).toMatchObject({ scope: 'job', jobId: `job-${cli}-2`, limitUsd: 0.001 });
    // One call reached the provider; the refused one never did, and the CLI did not retry it.
    expect(c.calls(provider!, c.primary)).toBe(1);
    expect(c.calls(provider!, c.backup)).toBe(0);
    const sent = provider!.sentUsage(c.primary);
    expect(receiptOf(tree!, `${cli}-gw-2`)).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_BUDGET_EXHAUSTED' }, tokens: { input: sent.input, output: sent.output } });
  });

  it('moves the calls to the backup model during a 529 storm on the primary, without failing the subtask', { timeout: 180_000 }, async () => {
    const { logFile } = await boot(
      {
        [c.primary]: { fail: 529 },
        [c.backup]: [write('src/greeting.txt', 'hello from the backup\n'), { text: 'Created it.', usage: { input: 1500, output: 20 } }],
      },
      { failureThreshold: 1 },
    );
    const done = await execute(cli, { task_id: `${cli}-gw-3`, job_id: `job-${cli}-3`, instruction: 'Create src/greeting.txt saying hello.', files: ['src/greeting.txt'] });
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(await gitOut(fixture!.repo, 'show', `${done.result.branch}:src/greeting.txt`)).toBe('hello from the backup');
    // The first call met the 529 and went on to the backup within the same call; the breaker then kept the primary out.
    expect(c.calls(provider!, c.primary)).toBe(1);
    expect(c.calls(provider!, c.backup)).toBe(2);
    const sent = provider!.sentUsage(c.backup);
    expect(receiptOf(tree!, `${cli}-gw-3`)).toMatchObject({ status: 'completed', model: c.backup, used_backup: true, tokens: { input: sent.input, output: sent.output } });
    // The CLI never saw the 529: the gateway answered both of its calls from the backup.
    const calls = gatewayCalls(logFile);
    expect(calls).toHaveLength(2);
    for (const call of calls) expect(call).toMatchObject({ taskId: `${cli}-gw-3`, ref: `${c.primary.startsWith('claude') ? 'anthropic' : 'openai'}/${c.backup}`, usedBackup: true });
  });
});
