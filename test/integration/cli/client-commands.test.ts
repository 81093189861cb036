/**
 * `pas submit`, `pas status` and `pas agents` against a running tree (a real runtime and gateway
 * with the scripted model and real git), through the real `bin/pas.mjs`.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { startScriptedTree, untilTerminal, type ScriptedTree } from '../jobs/jobs-support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function pas(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/pas.mjs'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, PAS_CONFIG_DIR: SHIPPED_CONFIGS, PAS_API_TOKEN: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `main` in this process, its output captured (faster than a process per case). */
async function inProcess(args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** A port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const FILES = { 'lib/one.js': 'export const one = 1;\n', 'lib/two.js': 'export const two = 2;\n' };

function entries(task: string): CassetteEntry[] {
  return [
    {
      match: { purpose: 'plan', contains: task },
      reply: JSON.stringify({ subtasks: [{ instruction: 'Set one to 10 [one].', files: ['lib/one.js'] }, { instruction: 'Set two to 20 [two].', files: ['lib/two.js'] }] }),
      usage: { input: 60, output: 20 },
    },
    { match: { purpose: 'edit', contains: '[one]' }, reply: 'lib/one.js\n<<<<<<< SEARCH\nexport const one = 1;\n=======\nexport const one = 10;\n>>>>>>> REPLACE\n', usage: { input: 20, output: 5 } },
    { match: { purpose: 'edit', contains: '[two]' }, reply: 'lib/two.js\n<<<<<<< SEARCH\nexport const two = 2;\n=======\nexport const two = 20;\n>>>>>>> REPLACE\n', usage: { input: 20, output: 5 } },
  ];
}

// Each case starts `node bin/pas.mjs` (tsx compiles on start): seconds per process on a busy machine.
describe('pas submit, status and agents', { timeout: 90_000 }, () => {
  let tree: ScriptedTree | undefined;
  let repo: TempRepo | undefined;
  let cwd: string | undefined;

  afterEach(async () => {
    await tree?.close();
    await repo?.cleanup();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
    tree = repo = cwd = undefined;
  });

  it('submits with --files a b and a relative --repo, waits with progress, and exits 0 when the job completed', async () => {
    tree = await startScriptedTree(entries('Bump both'));
    repo = await createTempRepo(FILES);
    const run = await pas(['submit', 'Bump both constants', '--lane', 'Code', '--files', 'lib/one.js', 'lib/two.js', '--repo', 'repo', '--wait', '--poll-ms', '100', '--url', tree.url], { cwd: repo.root });

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = /^job (\w+) accepted$/m.exec(run.stdout)?.[1];
    expect(id).toBeDefined();
    expect(run.stdout).toMatch(new RegExp(`^job ${id} (running|accepted).*subtasks done$`, 'm'));
    expect(run.stdout).toMatch(/^status {4}completed$/m);
    expect(run.stdout).toContain(`branch    pas/job-${id}`);
    expect(run.stdout).toMatch(new RegExp(`^${id}-t1 +completed +Prog-\\d{3} +native +1 +yes `, 'm'));
    const stored = tree.runtime.getJob(id!)!;
    expect(stored.spec.files).toEqual(['lib/one.js', 'lib/two.js']);
    expect(stored.spec.repo).toBe(path.resolve(repo.root, 'repo'));
    expect(await gitOut(repo.repo, 'show', `pas/job-${id}:lib/two.js`)).toBe('export const two = 20;');
  });

  it('exits 1 from --wait when the job does not complete', async () => {
    // No edit replies: every subtask fails, so the job fails.
    tree = await startScriptedTree(entries('Bump both').slice(0, 1));
    repo = await createTempRepo(FILES);
    const run = await pas(['submit', 'Bump both, unscripted', '--files', 'lib/one.js', 'lib/two.js', '--repo', repo.repo, '--wait', '--poll-ms', '100', '--url', tree.url]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^status {4}failed$/m);
    expect(run.stdout).toContain('PAS_ERR_LLM_CASSETTE');
  });

  it('shows the jobs, one job with its subtasks, and the agents, found by --port-offset', async () => {
    tree = await startScriptedTree(entries('Bump both'));
    repo = await createTempRepo(FILES);
    const offset = String(tree.portOffset);
    const submitted = await pas(['submit', 'Bump both quietly', '--files', 'lib/one.js', 'lib/two.js', '--repo', repo.repo, '--port-offset', offset]);
    expect(submitted.code).toBe(0);
    const id = /^job (\w+) accepted$/m.exec(submitted.stdout)![1]!;
    expect(submitted.stdout).toContain(`pas status ${id}`);
    await untilTerminal(`${tree.url}/api/jobs/${id}`);

    const list = await pas(['status', '--port-offset', offset]);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^JOB +STATUS +LANE +MANAGER +SUBTASKS +DURATION +ACCEPTED +TASK$/);
    expect(list.stdout).toMatch(new RegExp(`^${id} +completed +Code +Mgr-Code-0\\d +2/2 +[\\d.]+s +\\S+ +Bump both quietly$`, 'm'));

    const one = await pas(['status', id, '--port-offset', offset]);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^status {4}completed$/m);
    expect(one.stdout).toMatch(/^SUBTASK +STATUS +PROGRAMMER +EXECUTOR +TRY +MERGED +TIME +FILES +ERROR$/m);
    expect(one.stdout).toMatch(new RegExp(`^${id}-t2 +completed +Prog-\\d{3} +native +1 +yes +[\\d.]+s +lib/two.js$`, 'm'));

    const agents = await pas(['agents', '--url', tree.url]);
    expect(agents.code).toBe(0);
    const lines = agents.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^AGENT +ROLE +STATE +PORT +LLM +TASK$/);
    expect(lines).toHaveLength(1 + tree.runtime.topology.agents.length);
    expect(agents.stdout).toMatch(/^Prog-006 +programmer +IDLE +\d+ +anthropic\/claude-sonnet-4 +-$/m);
    expect(agents.stdout).toMatch(/^Mgr-Code-01 +manager +IDLE +\d+ +google\/gemini-2.5-flash +-$/m);

    const json = await pas(['agents', '--json', '--url', tree.url]);
    expect(JSON.parse(json.stdout).map((a: { agent: string }) => a.agent)).toContain('Architect');
  });

  it('sends PAS_API_TOKEN as a bearer token', async () => {
    tree = await startScriptedTree(entries('Bump both'), { gatewayOptions: { token: 'cli-secret' } });
    repo = await createTempRepo(FILES);
    const refused = await pas(['submit', 'Bump both with a token', '--repo', repo.repo, '--url', tree.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('PAS_ERR_UNAUTHORIZED');
    const accepted = await pas(['submit', 'Bump both with a token', '--repo', repo.repo, '--url', tree.url], { env: { PAS_API_TOKEN: 'cli-secret' } });
    expect(accepted.code).toBe(0);
    expect(tree.runtime.journal.countJobs()).toBe(1);
  });

  it('exits 2 with a clear message for bad arguments, and 1 naming the URL when no tree answers', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const cases: Array<[string[], RegExp]> = [
      [['submit', '--url', url], /task is missing/],
      [['submit', 'Fix', 'it', '--url', url], /one task only/],
      [['submit', 'Fix it', '--lane', 'Sales', '--url', url], /--lane must be one of Code, Models, Data, DevSecOps, Docs/],
      [['submit', 'Fix it', '--executor', 'cursor', '--url', url], /--executor must be one of native, aider, claude-code, codex, gemini-cli, opencode, got "cursor"/],
      [['submit', 'Fix it', '--files', '--wait', '--url', url], /--files/],
      [['submit', 'Fix it', '--url', 'ftp://x'], /--url takes an http\(s\) URL/],
      [['submit', 'Fix it', '--port-offset', 'lots'], /--port-offset takes a whole number/],
      [['submit', 'Fix it', '--colour'], /^pas submit: unknown option --colour\. .*\(pas submit --help lists the options\)$/m],
      [['status', 'a', 'b', '--url', url], /one job id at most/],
      [['agents', 'extra', '--url', url], /takes no arguments/],
    ];
    for (const [args, message] of cases) {
      const run = await inProcess(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
    }
    for (const args of [['submit', 'Fix it'], ['status'], ['agents']]) {
      const run = await inProcess([...args, '--url', url]);
      expect({ args, code: run.code }).toEqual({ args, code: 1 });
      expect(run.stderr).toContain(`cannot reach the PAS tree at ${url}`);
    }
    // The same through the real executable.
    const bad = await pas(['submit', 'Fix it', '--lane', 'Sales', '--url', url]);
    expect([bad.code, bad.stderr.trim()]).toEqual([2, 'pas submit: --lane must be one of Code, Models, Data, DevSecOps, Docs, got "Sales"']);
    const down = await pas(['status', '--url', url]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach the PAS tree at ${url}`);
  });

  it('exits 1 for an unknown job id', async () => {
    tree = await startScriptedTree([]);
    const run = await pas(['status', 'nosuchjob', '--url', tree.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('PAS_ERR_JOB_NOT_FOUND');
    expect(run.stderr).toContain('nosuchjob');
  });
});
