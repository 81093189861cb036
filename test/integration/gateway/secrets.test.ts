/**
 * API keys never leave the process: with keys in the environment and providers that echo the
 * key back in their error messages, no HTTP answer and no feed message during real jobs (the
 * real LLM client, executors and planner; only the providers are local fakes) holds a key.
 */
import { describe, expect, it } from 'vitest';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { startFakeProvider, type FakeBehaviour } from '../../support/fake-llm-server.ts';
import { createTempRepo } from '../../support/git-fixtures.ts';
import { DEFAULT_AGENTS, http, until, useCleanup } from './gateway-helpers.ts';

const KEYS = {
  ANTHROPIC_API_KEY: 'sk-ant-test-123456789',
  OPENAI_API_KEY: 'sk-openai-test-abcdef987654',
  GEMINI_API_KEY: 'AIza-gemini-test-key-5555',
};

function echo(status: number, body: unknown, times = 40): FakeBehaviour[] {
  return Array.from({ length: times }, () => ({ status, body }));
}

describe('secrets on the gateway', () => {
  const cleanup = useCleanup();

  it('API keys set in the environment appear in no HTTP answer and no feed message during jobs, even when a provider echoes them', async () => {
    const anthropic = await startFakeProvider({
      kind: 'anthropic',
      script: echo(401, { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key: ${KEYS.ANTHROPIC_API_KEY}` } }),
    });
    const google = await startFakeProvider({
      kind: 'google',
      script: echo(400, { error: { code: 400, message: `API key not valid. Please pass a valid API key. (${KEYS.GEMINI_API_KEY})`, status: 'INVALID_ARGUMENT' } }),
    });
    const ollama = await startFakeProvider({ kind: 'ollama' });
    cleanup.defer(() => Promise.all([anthropic.close(), google.close(), ollama.close()]));
    const saved = { ...process.env };
    cleanup.defer(() => {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    });
    Object.assign(process.env, KEYS, { ANTHROPIC_BASE_URL: anthropic.url, GOOGLE_GEMINI_BASE_URL: google.url, OLLAMA_HOST: ollama.url, OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
    delete process.env.PAS_API_TOKEN;

    const repo = await createTempRepo({ 'README.md': '# demo\n', 'src/a.ts': 'export const a = 1;\n' });
    cleanup.defer(() => repo.cleanup());
    const tree = await cleanup.tree({ services: createDefaultServices({}) });
    const feed = await cleanup.feed(tree.url);
    const answers: string[] = [];
    const get = async (url: string) => {
      const answer = await http(url);
      answers.push(`${url} ${answer.status} ${JSON.stringify(Object.fromEntries(answer.headers as unknown as Iterable<[string, string]>))} ${answer.text}`);
      return answer;
    };

    // A job the Architect classifies and a Manager plans (both through the echoing Google fake, then
    // the Anthropic backup), and a task pinned to a programmer whose models are Anthropic's.
    const job = await http(`${tree.url}/api/jobs`, { body: { task: 'add a line to the readme', files: ['README.md'], repo: repo.repo } });
    expect(job.status).toBe(202);
    const direct = await http(`http://127.0.0.1:${tree.gateway!.agentPorts.get('Prog-006')}/execute`, {
      body: { task_id: 'secret-check', instruction: 'add a comment to a.ts', files: ['src/a.ts'], repo: repo.repo },
    });
    expect(direct.status).toBe(202);
    answers.push(job.text, direct.text);

    await tree.runtime.waitForJob(job.body.job_id, 25_000);
    await until(async () => ['completed', 'failed'].includes((await http(`${tree.url}/agents/Prog-006/status/secret-check`)).body?.status), 25_000, 'the direct task to end');

    // The keys did reach the providers (so an echo had something to leak) and came back in their answers.
    expect(anthropic.requests.some((r) => r.headers['x-api-key'] === KEYS.ANTHROPIC_API_KEY)).toBe(true);
    expect(google.requests.some((r) => r.headers['x-goog-api-key'] === KEYS.GEMINI_API_KEY || r.path.includes(KEYS.GEMINI_API_KEY))).toBe(true);
    const task = await get(`${tree.url}/agents/Prog-006/status/secret-check`);
    expect(task.body.status).toBe('failed');
    expect(task.body.error).toMatchObject({ code: expect.stringMatching(/^PAS_ERR_LLM_/) });
    expect(JSON.stringify(task.body.error)).toMatch(/x-api-key/);

    await get(`http://127.0.0.1:${tree.gateway!.agentPorts.get('Prog-006')}/status/secret-check`);
    await get(`${tree.url}/api/jobs`);
    await get(`${tree.url}/api/jobs/${job.body.job_id}`);
    for (const path of ['/api/tree', '/api/agents', '/api/pool', '/api/models', '/api/settings/llm', '/metrics', '/health']) await get(`${tree.url}${path}`);
    for (const agent of DEFAULT_AGENTS) await get(`http://127.0.0.1:${tree.gateway!.agentPorts.get(agent.id)}/health`);
    await get(`${tree.url}/api/agents/Prog-006`);
    await get(`http://127.0.0.1:${tree.gateway!.agentPorts.get('Mgr-Code-01')}/programmer_pool/status`);
    await get(`${tree.url}/api/jobs/no-such-job-${KEYS.OPENAI_API_KEY.slice(0, 4)}`);

    expect(feed.raw.length).toBeGreaterThan(1);
    const everything = [...answers, ...feed.raw].join('\n');
    for (const [name, key] of Object.entries(KEYS)) {
      expect(everything.includes(key), `${name} leaked`).toBe(false);
      expect(everything.includes(key.slice(-12)), `the tail of ${name} leaked`).toBe(false);
    }
  });
});
