/**
 * CONTRACT §4 on real sockets: every default agent on its own port (at the test's port offset)
 * and under /agents/{agentId}/… on the gateway, the Manager/Director/Architect job endpoints,
 * the Programmer task endpoints, and the gateway's own /api.
 */
import type { TreeNode } from '../../../src/runtime/transition-record.ts';
import { describe, expect, it } from 'vitest';
import { inProcessServices } from '../../support/in-process-services.ts';
import { DEFAULT_AGENTS, GATEWAY_BASE_PORT, http, until, useCleanup } from './gateway-helpers.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

const PROGRAMMER_LLMS: Record<string, { primary: string; backup: string; capabilities: string[] }> = {
  ...Object.fromEntries(
    ['Prog-001', 'Prog-002', 'Prog-003', 'Prog-004', 'Prog-005'].map((id) => [
      id,
      { primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'ollama/qwen2.5-coder:14b-instruct', capabilities: ['fast', 'free'] },
    ]),
  ),
  ...Object.fromEntries(
    ['Prog-006', 'Prog-007'].map((id) => [id, { primary: 'anthropic/claude-sonnet-4', backup: 'anthropic/claude-3-7-sonnet', capabilities: ['premium', 'reasoning', 'paid'] }]),
  ),
  'Prog-008': { primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', capabilities: ['premium', 'reasoning', 'paid'] },
  ...Object.fromEntries(
    ['Prog-009', 'Prog-010'].map((id) => [id, { primary: 'ollama/deepseek-coder-v3:14b', backup: 'ollama/deepseek-coder-v3:7b', capabilities: ['free', 'experimental'] }]),
  ),
};

const JOB_STATES = ['accepted', 'running', 'completed', 'partial', 'failed', 'cancelled'];

describe('agent endpoints on their own ports and under /agents/{agentId} on the gateway', () => {
  const cleanup = useCleanup();

  it('every default agent answers /health on its own port with the contract fields, and the same under /agents/{id}/health', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const gateway = tree.gateway!;
    expect(gateway.port).toBe(GATEWAY_BASE_PORT + tree.portOffset);
    expect([...gateway.agentPorts.keys()].sort()).toEqual(DEFAULT_AGENTS.map((a) => a.id).sort());

    for (const agent of DEFAULT_AGENTS) {
      const port = agent.port + tree.portOffset;
      expect(gateway.agentPorts.get(agent.id)).toBe(port);
      const own = await http(`http://127.0.0.1:${port}/health`);
      expect(own.status, agent.id).toBe(200);
      expect(own.headers.get('content-type')).toMatch(/^application\/json/);
      expect(own.body).toMatchObject({ status: 'ok', agent: agent.id, role: agent.role, port, state: 'IDLE' });

      if (agent.role === 'programmer') {
        const want = PROGRAMMER_LLMS[agent.id]!;
        expect(own.body).toMatchObject({
          programmer_id: agent.id,
          llm: { current: want.primary, primary: want.primary, backup: want.backup, using_backup: false, circuit_open: false, failures: 0 },
          capabilities: want.capabilities,
        });
      } else if (agent.role === 'manager') {
        expect(own.body.llm).toMatchObject({ current: 'google/gemini-2.5-flash', primary: 'google/gemini-2.5-flash', backup: 'anthropic/claude-haiku-4', using_backup: false, circuit_open: false, failures: 0 });
      }

      const viaGateway = await http(`${tree.url}/agents/${agent.id}/health`);
      expect(viaGateway.status, agent.id).toBe(200);
      expect(viaGateway.body).toEqual(own.body);
    }
  });

  it('a Manager takes a job on its own port (202 {job_id}), reports it under /status/{job_id} and shows the pool in the contract shape', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 10 }) });
    const mgr = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Mgr-Code-01')}`;

    const submitted = await http(`${mgr}/submit`, { body: { task: 'add logging', files: ['src/a.ts', 'src/b.ts'] } });
    expect(submitted.status).toBe(202);
    expect(submitted.body.job_id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_:.-]*$/);
    const jobId: string = submitted.body.job_id;

    const early = await http(`${mgr}/status/${jobId}`);
    expect(early.status).toBe(200);
    expect(early.body).toMatchObject({ job_id: jobId, task: 'add logging', files: ['src/a.ts', 'src/b.ts'] });
    expect(JOB_STATES).toContain(early.body.status);

    await tree.runtime.waitForJob(jobId, 20_000);
    const done = await http(`${mgr}/status/${jobId}`);
    expect(done.body).toMatchObject({ job_id: jobId, status: 'completed', lane: 'Code', manager_id: 'Mgr-Code-01', progress: { total: 2, done: 2 } });
    expect(done.body.tasks.map((t: { status: string }) => t.status)).toEqual(['completed', 'completed']);
    // The same job on the gateway, under the Manager's prefix and under /api/jobs.
    expect((await http(`${tree.url}/agents/Mgr-Code-01/status/${jobId}`)).body).toEqual(done.body);
    expect((await http(`${tree.url}/api/jobs/${jobId}`)).body).toEqual(done.body);

    const pool = await http(`${mgr}/programmer_pool/status`);
    expect(pool.status).toBe(200);
    expect(pool.body).toMatchObject({ pool_size: 10, available: 10, unavailable: 0, using_backup: 0, total_queue_depth: 0 });
    expect(pool.body.programmers).toHaveLength(10);
    expect(pool.body.programmers.map((p: { id: string }) => p.id)).toEqual(DEFAULT_AGENTS.filter((a) => a.role === 'programmer').map((a) => a.id));
    expect((await http(`${tree.url}/agents/Mgr-Code-01/programmer_pool/status`)).body).toEqual(pool.body);
    expect((await http(`${tree.url}/api/pool`)).body).toEqual(pool.body);
  });

  it('the Architect and a Director take jobs on their own ports and report them under /status/{job_id}', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    for (const [agent, lane] of [['Architect', 'Docs'], ['Dir-Data', undefined]] as const) {
      const base = `http://127.0.0.1:${tree.gateway!.agentPorts.get(agent)}`;
      const submitted = await http(`${base}/submit`, { body: { task: `job via ${agent}`, ...(lane ? { lane } : {}) } });
      expect(submitted.status, agent).toBe(202);
      const jobId: string = submitted.body.job_id;
      await tree.runtime.waitForJob(jobId, 20_000);
      const status = await http(`${base}/status/${jobId}`);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ job_id: jobId, status: 'completed', lane: lane ?? 'Data' });
    }
  });

  it('codes a fault injected over HTTP by the role of the agent that failed, and shows it in its health and on the feed', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    const failures: Record<string, string | undefined> = {};
    tree.runtime.onTransition((r) => {
      if (r.to === 'FAILED') failures[r.agentId] = r.error;
    });
    const expected = { Architect: 'PAS_ERR_ARCHITECT_FAILED', 'Dir-Code': 'PAS_ERR_DIRECTOR_FAILED', 'Mgr-Code-01': 'PAS_ERR_MANAGER_FAILED', 'Prog-001': 'PAS_ERR_PROGRAMMER_FAILED' };
    for (const [agent, code] of Object.entries(expected)) {
      expect((await http(`${tree.url}/api/agents/${agent}/fault`, { body: {} })).status, agent).toBe(202);
      await until(() => failures[agent] !== undefined, 5_000);
      expect(failures[agent], agent).toBe(code);
      if (agent === 'Prog-001') continue; // its supervisor restarts it at once
      const health = await http(`${tree.url}/api/agents/${agent}`);
      expect(health.body, agent).toMatchObject({ state: 'FAILED', failure: { code } });
    }
  });

  it('a Programmer takes a task on /execute (202) and reports it under /status/{task_id}; chat messages are accepted', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    const base = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Prog-004')}`;
    const queued = await http(`${base}/execute`, { body: { task_id: 'direct-1', instruction: 'rename foo to bar', files: ['src/x.ts'] } });
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ task_id: 'direct-1', programmer_id: 'Prog-004', status: 'queued' });

    await until(async () => (await http(`${base}/status/direct-1`)).body?.status === 'completed', 10_000, 'task completed');
    const status = await http(`${base}/status/direct-1`);
    expect(status.body).toMatchObject({ task_id: 'direct-1', programmer_id: 'Prog-004', status: 'completed', files: ['src/x.ts'] });
    expect((await http(`${tree.url}/agents/Prog-004/status/direct-1`)).body).toEqual(status.body);

    const chat = await http(`${base}/agent_chat/receive`, { body: { from: 'Mgr-Code-01', message: 'hello', kind: 'question' } });
    expect(chat.status).toBe(202);
    expect(chat.body).toMatchObject({ received: true, agent: 'Prog-004' });
    expect(tree.runtime.inbox('Prog-004')).toMatchObject([{ from: 'Mgr-Code-01', message: 'hello', kind: 'question' }]);
  });

  it('the gateway /api answers the tree, agents, one agent, jobs, the pool, models with breaker states and the LLM settings', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    const api = `${tree.url}/api`;

    const treeAnswer = await http(`${api}/tree`);
    expect(treeAnswer.status).toBe(200);
    const agents = Object.values(treeAnswer.body.tree as Record<string, TreeNode>).filter((n: { role: string }) => n.role !== 'breaker');
    expect(agents.map((n: { agentId: string }) => n.agentId)).toEqual(DEFAULT_AGENTS.map((a) => a.id));
    for (const node of agents) expect(node).toMatchObject({ role: expect.any(String), state: 'IDLE', parent: node.role === 'architect' ? null : expect.any(String) });
    const breakers = Object.values(treeAnswer.body.tree as Record<string, TreeNode>).filter((n: { role: string }) => n.role === 'breaker');
    expect(breakers.length).toBe(tree.runtime.topology.breakers.length);
    expect(breakers.every((b: { state: string }) => b.state === 'closed')).toBe(true);

    const list = await http(`${api}/agents`);
    expect(list.body.agents.map((a: { agent: string }) => a.agent)).toEqual(DEFAULT_AGENTS.map((a) => a.id));
    const one = await http(`${api}/agents/Prog-008`);
    expect(one.body).toMatchObject({ agent: 'Prog-008', programmer_id: 'Prog-008', llm: { primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini' } });

    const posted = await http(`${api}/jobs`, { body: { task: 'document the API', lane: 'Docs', files: ['docs/api.md'] } });
    expect(posted.status).toBe(202);
    expect(posted.body).toMatchObject({ job_id: expect.any(String), status: 'accepted' });
    const jobId: string = posted.body.job_id;
    await tree.runtime.waitForJob(jobId, 20_000);
    const jobs = await http(`${api}/jobs`);
    expect(jobs.body.total).toBe(1);
    expect(jobs.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([jobId]);
    expect((await http(`${api}/jobs?status=completed&limit=5`)).body.total).toBe(1);
    expect((await http(`${api}/jobs?status=failed`)).body).toEqual({ total: 0, jobs: [] });
    expect((await http(`${api}/jobs/${jobId}`)).body).toMatchObject({ job_id: jobId, status: 'completed', lane: 'Docs', manager_id: 'Mgr-Docs-01' });

    const pool = await http(`${api}/pool`);
    expect(Object.keys(pool.body)).toEqual(expect.arrayContaining(['pool_size', 'available', 'unavailable', 'using_backup', 'total_queue_depth', 'programmers']));

    // Trip one model's breaker: /api/models and the programmers using it show it.
    const threshold = tree.runtime.config.pool.failover.circuit_breaker.failure_threshold;
    for (let i = 0; i < threshold; i++) tree.runtime.send('breaker:openai/gpt-4o', { type: 'call.failed', at: Date.now() });
    const models = await http(`${api}/models`);
    const byRef = new Map<string, JsonAnswer>(models.body.models.map((m: { ref: string }) => [m.ref, m]));
    expect(byRef.get('openai/gpt-4o')).toMatchObject({ provider: 'openai', model: 'gpt-4o', free: false, breaker: { id: 'breaker:openai/gpt-4o', state: 'open', failures: threshold }, used_by: ['Prog-008'] });
    expect(byRef.get('ollama/qwen2.5-coder:7b-instruct')).toMatchObject({ free: true, breaker: { state: 'closed', failures: 0 } });
    expect((await http(`${api}/agents/Prog-008`)).body.llm).toMatchObject({ current: 'openai/gpt-4o-mini', using_backup: true, circuit_open: true, failures: threshold });
    expect((await http(`${api}/pool`)).body.using_backup).toBe(1);

    const settings = await http(`${api}/settings/llm`);
    expect(settings.status).toBe(200);
    const ids = settings.body.agents.map((a: { agent_id: string }) => a.agent_id);
    expect(ids).toEqual(expect.arrayContaining(['Architect', 'Mgr-Code-01', 'Prog-001', 'Prog-010']));
    expect(settings.body.agents.find((a: { agent_id: string }) => a.agent_id === 'Mgr-Docs-01')).toMatchObject({ role: 'manager', primary: 'google/gemini-2.5-flash', backup: 'anthropic/claude-haiku-4' });
    expect(settings.body.models.find((m: { ref: string }) => m.ref === 'openai/gpt-4o')).toEqual({ ref: 'openai/gpt-4o', free: false, breaker: 'open' });
  });

  it('GET /metrics has HELP and TYPE lines for agents by state, tasks, queue depth, breakers, tokens and cost by model and HTTP durations', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    const posted = await http(`${tree.url}/api/jobs`, { body: { task: 'two files', files: ['a.ts', 'b.ts'] } });
    await tree.runtime.waitForJob(posted.body.job_id, 20_000);
    const threshold = tree.runtime.config.pool.failover.circuit_breaker.failure_threshold;
    for (let i = 0; i < threshold; i++) tree.runtime.send('breaker:openai/gpt-4o', { type: 'call.failed', at: Date.now() });

    const answer = await http(`${tree.url}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = answer.text;
    const families: Record<string, string> = {
      pas_agents: 'gauge',
      pas_tasks_total: 'counter',
      pas_jobs_total: 'counter',
      pas_queue_depth: 'gauge',
      pas_breaker_state: 'gauge',
      pas_llm_tokens_total: 'counter',
      pas_llm_cost_usd_total: 'counter',
      pas_http_request_duration_seconds: 'histogram',
    };
    for (const [name, type] of Object.entries(families)) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'));
      expect(text).toMatch(new RegExp(`^# TYPE ${name} ${type}$`, 'm'));
    }
    const sample = (line: string) => {
      const found = text.split('\n').find((l) => l.startsWith(`${line} `));
      return found === undefined ? undefined : Number(found.slice(line.length + 1));
    };
    expect(sample('pas_agents{role="programmer",state="IDLE"}')).toBe(10);
    expect(sample('pas_agents{role="manager",state="IDLE"}')).toBe(7);
    expect(sample('pas_agents{role="director",state="IDLE"}')).toBe(5);
    expect(sample('pas_agents{role="architect",state="IDLE"}')).toBe(1);
    expect(sample('pas_tasks_total{status="started"}')).toBe(2);
    expect(sample('pas_tasks_total{status="completed"}')).toBe(2);
    expect(sample('pas_tasks_total{status="failed"}')).toBe(0);
    expect(sample('pas_jobs_total{status="completed"}')).toBe(1);
    expect(sample('pas_queue_depth')).toBe(0);
    expect(sample('pas_breaker_state{model="openai/gpt-4o",state="open"}')).toBe(1);
    expect(sample('pas_breaker_state{model="openai/gpt-4o",state="closed"}')).toBe(0);
    expect(sample('pas_breaker_state{model="anthropic/claude-sonnet-4",state="closed"}')).toBe(1);
    expect(sample('pas_llm_tokens_total{provider="scripted",model="scripted",kind="input"}')).toBe(200);
    expect(sample('pas_llm_tokens_total{provider="scripted",model="scripted",kind="output"}')).toBe(40);
    expect(sample('pas_llm_cost_usd_total{provider="scripted",model="scripted"}')).toBe(0);
    expect(sample('pas_http_request_duration_seconds_count{method="POST",route="/api/jobs",status="202"}')).toBe(1);
  });
});
