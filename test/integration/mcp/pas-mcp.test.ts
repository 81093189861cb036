/**
 * `pas mcp` as another agent uses it: the official MCP TypeScript SDK's Client starts
 * `bin/pas.mjs mcp` over stdio and drives a real tree (scripted model, real git): it lists the
 * tools, submits a job, follows it to the end, cancels another, and gets errors as tool results.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { startScriptedTree, until, type ScriptedTree } from '../jobs/jobs-support.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let tree: ScriptedTree | undefined;
let repo: TempRepo | undefined;
let client: Client | undefined;
afterEach(async () => {
  await client?.close();
  await tree?.close();
  await repo?.cleanup();
  tree = repo = client = undefined;
});

const ENTRIES: CassetteEntry[] = [
  { match: { purpose: 'plan', contains: 'Bump' }, reply: JSON.stringify({ subtasks: [{ instruction: 'Set one to 10 [one].', files: ['lib/one.js'] }, { instruction: 'Set two to 20 [two].', files: ['lib/two.js'] }] }) },
  { match: { purpose: 'edit', contains: '[one]' }, reply: 'lib/one.js\n<<<<<<< SEARCH\nexport const one = 1;\n=======\nexport const one = 10;\n>>>>>>> REPLACE\n' },
  { match: { purpose: 'edit', contains: '[two]' }, reply: 'lib/two.js\n<<<<<<< SEARCH\nexport const two = 2;\n=======\nexport const two = 20;\n>>>>>>> REPLACE\n' },
  { match: { purpose: 'plan', contains: 'Slow' }, reply: JSON.stringify({ subtasks: [{ instruction: 'Slow [slow].', files: ['lib/one.js'] }] }) },
  { match: { purpose: 'edit', contains: '[slow]' }, reply: 'lib/one.js\n<<<<<<< SEARCH\n=======\n// slow\n>>>>>>> REPLACE\n', delay_ms: 120_000 },
];

type ToolAnswer = { structuredContent?: Record<string, JsonAnswer>; content: Array<{ type: string; text?: string }>; isError?: boolean };

async function connect(url: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(ROOT, 'bin/pas.mjs'), 'mcp', '--url', url],
    cwd: ROOT,
    env: { PATH: process.env.PATH!, PAS_CONFIG_DIR: SHIPPED_CONFIGS },
    stderr: 'pipe',
  });
  const c = new Client({ name: 'pas-test-client', version: '1.0.0' });
  await c.connect(transport);
  return c;
}

const call = async (c: Client, name: string, args: Record<string, unknown> = {}) => (await c.callTool({ name, arguments: args })) as ToolAnswer;

describe('pas mcp', { timeout: 90_000 }, () => {
  it('lists its four tools, submits a job, follows it to completion, and cancels another', async () => {
    tree = await startScriptedTree(ENTRIES);
    repo = await createTempRepo({ 'lib/one.js': 'export const one = 1;\n', 'lib/two.js': 'export const two = 2;\n' });
    client = await connect(tree.url);

    expect(client.getServerVersion()).toMatchObject({ name: 'pas', version: '0.1.0' });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['cancel_job', 'job_status', 'list_agents', 'submit_job']);
    expect(tools.find((t) => t.name === 'submit_job')!.inputSchema.required).toEqual(['task']);

    const submitted = await call(client, 'submit_job', { task: 'Bump both', files: ['lib/one.js', 'lib/two.js'], repo: repo.repo, lane: 'Code' });
    expect(submitted.isError).toBeFalsy();
    const jobId = submitted.structuredContent!.job_id as string;
    expect(JSON.parse(submitted.content[0]!.text!)).toMatchObject({ job_id: jobId, status: 'accepted' });

    let job: Record<string, JsonAnswer> = {};
    await until(async () => {
      job = (await call(client!, 'job_status', { job_id: jobId })).structuredContent!;
      return ['completed', 'partial', 'failed', 'cancelled'].includes(job.status);
    }, 100);
    expect(job.status).toBe('completed');
    expect(job.tasks.map((t: { status: string }) => t.status)).toEqual(['completed', 'completed']);
    expect(await gitOut(repo.repo, 'show', `pas/job-${jobId}:lib/two.js`)).toBe('export const two = 20;');

    const slow = (await call(client, 'submit_job', { task: 'Slow one', files: ['lib/one.js'], repo: repo.repo })).structuredContent!.job_id as string;
    await until(() => tree!.runtime.getJob(slow)?.status === 'running');
    const cancelled = await call(client, 'cancel_job', { job_id: slow });
    expect(cancelled.structuredContent).toEqual({ job_id: slow, cancelling: true });
    await until(async () => (await call(client!, 'job_status', { job_id: slow })).structuredContent!.status === 'cancelled', 100);

    const listed = (await call(client, 'job_status')).structuredContent!;
    expect(listed.jobs.map((j: { job_id: string }) => j.job_id)).toEqual(expect.arrayContaining([jobId, slow]));
    const agents = (await call(client, 'list_agents')).structuredContent!;
    expect(agents.agents.map((a: { agent: string }) => a.agent)).toContain('Prog-010');
  });

  it('answers bad input and unknown jobs as tool errors with the PAS error code, and keeps serving', async () => {
    tree = await startScriptedTree(ENTRIES);
    client = await connect(tree.url);
    const missing = await call(client, 'job_status', { job_id: 'nosuchjob' });
    expect(missing.isError).toBe(true);
    expect(missing.content[0]!.text).toMatch(/^PAS_ERR_JOB_NOT_FOUND: .*nosuchjob/);
    const badVerify = await call(client, 'submit_job', { task: 'x', verify: '[broken' });
    expect(badVerify.isError).toBe(true);
    expect(badVerify.content[0]!.text).toMatch(/^PAS_ERR_BAD_REQUEST: verify: "\[broken" starts with \[/);
    const badLane = await call(client, 'submit_job', { task: 'x', lane: 'Nope' });
    expect(badLane.isError).toBe(true);
    expect((await call(client, 'list_agents')).isError).toBeFalsy();
  });
});
