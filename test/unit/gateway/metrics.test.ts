import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/gateway/metrics.ts';

const lines = (text: string, name: string): string[] =>
  text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));

describe('metrics', () => {
  it('renders zeroed task and job counters before anything happened', async () => {
    const text = await createMetrics({ defaultMetrics: false }).render();
    expect(lines(text, 'pas_tasks_total')).toEqual([
      'pas_tasks_total{status="started"} 0',
      'pas_tasks_total{status="completed"} 0',
      'pas_tasks_total{status="failed"} 0',
      'pas_tasks_total{status="cancelled"} 0',
    ]);
    expect(lines(text, 'pas_jobs_total')).toContain('pas_jobs_total{status="accepted"} 0');
    expect(lines(text, 'pas_budget_refusals_total')).toEqual(['pas_budget_refusals_total 0']);
    expect(lines(text, 'pas_queue_depth')).toEqual(['pas_queue_depth 0']);
    expect(text).toContain('# TYPE pas_tasks_total counter');
    expect(text).toContain('# HELP pas_queue_depth Tasks waiting in the programmer pool queue.');
  });

  it('counts tasks and jobs by status', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.taskStarted();
    metrics.taskStarted();
    metrics.taskStarted();
    metrics.taskCompleted();
    metrics.taskFailed();
    metrics.countTask('cancelled');
    metrics.countJob('accepted');
    metrics.countJob('partial');
    const text = await metrics.render();
    expect(lines(text, 'pas_tasks_total')).toEqual([
      'pas_tasks_total{status="started"} 3',
      'pas_tasks_total{status="completed"} 1',
      'pas_tasks_total{status="failed"} 1',
      'pas_tasks_total{status="cancelled"} 1',
    ]);
    expect(lines(text, 'pas_jobs_total')).toEqual([
      'pas_jobs_total{status="accepted"} 1',
      'pas_jobs_total{status="running"} 0',
      'pas_jobs_total{status="completed"} 0',
      'pas_jobs_total{status="partial"} 1',
      'pas_jobs_total{status="failed"} 0',
      'pas_jobs_total{status="cancelled"} 0',
    ]);
  });

  it('counts agents by role and state from the function at each scrape, skipping breakers', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let tree = [
      { role: 'architect', state: 'IDLE' },
      { role: 'programmer', state: 'EXECUTING' },
      { role: 'programmer', state: 'EXECUTING' },
      { role: 'programmer', state: 'FAILED' },
      { role: 'breaker', state: 'IDLE' },
    ];
    metrics.setAgentStates(() => tree);
    let agents = lines(await metrics.render(), 'pas_agents');
    expect(agents).toContain('pas_agents{role="architect",state="IDLE"} 1');
    expect(agents).toContain('pas_agents{role="programmer",state="EXECUTING"} 2');
    expect(agents).toContain('pas_agents{role="programmer",state="FAILED"} 1');
    expect(agents).toContain('pas_agents{role="manager",state="IDLE"} 0');
    expect(agents.some((line) => line.includes('breaker'))).toBe(false);

    tree = [{ role: 'programmer', state: 'IDLE' }];
    agents = lines(await metrics.render(), 'pas_agents');
    expect(agents).toContain('pas_agents{role="programmer",state="EXECUTING"} 0');
    expect(agents).toContain('pas_agents{role="programmer",state="IDLE"} 1');
    expect(agents).toContain('pas_agents{role="architect",state="IDLE"} 0');
  });

  it('reads queue depth and daily spend as numbers or functions', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let depth = 4;
    metrics.setQueueDepth(() => depth);
    metrics.setDailySpend(1.25);
    let text = await metrics.render();
    expect(lines(text, 'pas_queue_depth')).toEqual(['pas_queue_depth 4']);
    expect(lines(text, 'pas_daily_spend_usd')).toEqual(['pas_daily_spend_usd 1.25']);
    depth = 0;
    metrics.setDailySpend(() => 2.5);
    text = await metrics.render();
    expect(lines(text, 'pas_queue_depth')).toEqual(['pas_queue_depth 0']);
    expect(lines(text, 'pas_daily_spend_usd')).toEqual(['pas_daily_spend_usd 2.5']);
  });

  it('counts reported tokens by kind, skips unreported ones and adds cost', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.recordUsage('anthropic', 'claude-sonnet-4', { input: 1000, output: 200, thinking: null, cache_read: 50 }, 0.006);
    metrics.recordUsage('anthropic', 'claude-sonnet-4', { input: 500, output: 100 }, 0.003);
    metrics.recordUsage('ollama', 'qwen2.5-coder:7b-instruct', { input: null, output: null }, 0);
    const text = await metrics.render();
    expect(lines(text, 'pas_llm_tokens_total')).toEqual([
      'pas_llm_tokens_total{provider="anthropic",model="claude-sonnet-4",kind="input"} 1500',
      'pas_llm_tokens_total{provider="anthropic",model="claude-sonnet-4",kind="output"} 300',
      'pas_llm_tokens_total{provider="anthropic",model="claude-sonnet-4",kind="cache_read"} 50',
    ]);
    expect(lines(text, 'pas_llm_cost_usd_total')).toEqual([
      'pas_llm_cost_usd_total{provider="anthropic",model="claude-sonnet-4"} 0.009000000000000001',
      'pas_llm_cost_usd_total{provider="ollama",model="qwen2.5-coder:7b-instruct"} 0',
    ]);
  });

  it('counts budget refusals', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.budgetRefused();
    metrics.budgetRefused();
    expect(lines(await metrics.render(), 'pas_budget_refusals_total')).toEqual(['pas_budget_refusals_total 2']);
  });

  it('sets 1 for the current breaker state from breaker transitions and ignores other roles', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.onTransition({ agentId: 'breaker:openai/gpt-4o', role: 'breaker', to: 'open' });
    metrics.onTransition({ agentId: 'Prog-001', role: 'programmer', to: 'FAILED' });
    let text = await metrics.render();
    expect(lines(text, 'pas_breaker_state')).toEqual([
      'pas_breaker_state{model="openai/gpt-4o",state="closed"} 0',
      'pas_breaker_state{model="openai/gpt-4o",state="open"} 1',
      'pas_breaker_state{model="openai/gpt-4o",state="halfOpen"} 0',
    ]);
    metrics.onTransition({ agentId: 'breaker:openai/gpt-4o', role: 'breaker', to: 'EXECUTING' });
    metrics.setBreakerState('ollama/a', 'closed');
    text = await metrics.render();
    expect(lines(text, 'pas_breaker_state')).toEqual([
      'pas_breaker_state{model="openai/gpt-4o",state="closed"} 0',
      'pas_breaker_state{model="openai/gpt-4o",state="open"} 0',
      'pas_breaker_state{model="openai/gpt-4o",state="halfOpen"} 1',
      'pas_breaker_state{model="ollama/a",state="closed"} 1',
      'pas_breaker_state{model="ollama/a",state="open"} 0',
      'pas_breaker_state{model="ollama/a",state="halfOpen"} 0',
    ]);
  });

  it('observes HTTP durations into histogram buckets by method, route and status', async () => {
    const metrics = createMetrics({ defaultMetrics: false, httpBuckets: [0.1, 1] });
    metrics.httpObserve('get', '/api/jobs/:id', 200, 0.05);
    metrics.httpObserve('GET', '/api/jobs/:id', 200, 0.5);
    metrics.httpObserve('POST', '/api/jobs', 400, 2);
    const text = await metrics.render();
    expect(lines(text, 'pas_http_request_duration_seconds_bucket')).toEqual([
      'pas_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/jobs/:id",status="200"} 1',
      'pas_http_request_duration_seconds_bucket{le="1",method="GET",route="/api/jobs/:id",status="200"} 2',
      'pas_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/jobs/:id",status="200"} 2',
      'pas_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/api/jobs",status="400"} 0',
      'pas_http_request_duration_seconds_bucket{le="1",method="POST",route="/api/jobs",status="400"} 0',
      'pas_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/api/jobs",status="400"} 1',
    ]);
    expect(lines(text, 'pas_http_request_duration_seconds_count')).toEqual([
      'pas_http_request_duration_seconds_count{method="GET",route="/api/jobs/:id",status="200"} 2',
      'pas_http_request_duration_seconds_count{method="POST",route="/api/jobs",status="400"} 1',
    ]);
    expect(lines(text, 'pas_http_request_duration_seconds_sum')).toEqual([
      'pas_http_request_duration_seconds_sum{method="GET",route="/api/jobs/:id",status="200"} 0.55',
      'pas_http_request_duration_seconds_sum{method="POST",route="/api/jobs",status="400"} 2',
    ]);
  });

  it('includes default process metrics in its own registry, not the global one', async () => {
    const metrics = createMetrics();
    const text = await metrics.render();
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await globalRegistry.getSingleMetric('pas_tasks_total')).toBeUndefined();
    // Two instances in one process do not collide.
    expect(() => createMetrics()).not.toThrow();
  });
});
