/**
 * The LLM gateway on the gateway port (CONTRACT §9) against fake provider servers that speak each
 * provider's real wire format: pass-through byte for byte, streams as they arrive, usage measured
 * per task, per-task credentials, budgets before every call, failover on the backup.
 */
import { Agent, createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { anthropicBody, REAL_KEYS, startGatewayRig, type GatewayRig } from './llm-gateway-support.ts';

let rig: GatewayRig | undefined;
const servers: Server[] = [];

afterEach(async () => {
  await rig?.close();
  rig = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
});

/** One POST on its own connection (no kept-alive socket from an earlier test's server). */
function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string; headers: Headers }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: h });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('LLM gateway: Anthropic Messages', () => {
  it('passes the request through byte for byte (unknown fields, tools, thinking, cache control) with the real key and answers exactly what the provider answered', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['anthropic/claude-sonnet-4', 'anthropic/claude-3-7-sonnet']);
    const body = anthropicBody('claude-sonnet-4', false);
    const via = await post(`${access.baseUrl('anthropic')}/v1/messages?beta=true`, body, {
      'x-api-key': access.credential,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
      'x-unknown-header': 'kept',
    });
    expect(via.status).toBe(200);
    const seen = rig.fakes.anthropic.requests[0]!;
    expect(seen.path).toBe('/v1/messages?beta=true');
    expect(seen.raw).toBe(body);
    expect(seen.headers['x-api-key']).toBe(REAL_KEYS.ANTHROPIC_API_KEY);
    expect(seen.headers['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14');
    expect(seen.headers['x-unknown-header']).toBe('kept');
    expect(JSON.stringify(seen.headers)).not.toContain(access.credential);

    const direct = await post(`${rig.fakes.anthropic.url}/v1/messages`, body, { 'x-api-key': 'direct' });
    expect(via.text).toBe(direct.text);
  });

  it('lets a task credential through when PAS_API_TOKEN guards the API (the credential is the caller\'s auth)', async () => {
    const saved = process.env.PAS_API_TOKEN;
    process.env.PAS_API_TOKEN = 'pas-api-token-for-this-test';
    try {
      rig = await startGatewayRig();
    } finally {
      if (saved === undefined) delete process.env.PAS_API_TOKEN;
      else process.env.PAS_API_TOKEN = saved;
    }
    const access = rig.open(['anthropic/claude-sonnet-4']);
    const ok = await post(`${access.baseUrl('anthropic')}/v1/messages`, anthropicBody('claude-sonnet-4', false), { 'x-api-key': access.credential });
    expect(ok.status).toBe(200);
    const api = await post(`${rig.tree.url}/api/jobs`, JSON.stringify({ task: 'x' }), {});
    expect(api.status).toBe(401);
  });

  it('serves call after call on one kept-alive connection, as a CLI sends them (plain and streamed answers)', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['anthropic/claude-sonnet-4']);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 6; i++) {
        const answer = await new Promise<{ status: number; text: string; reused: boolean }>((resolve, reject) => {
          const body = anthropicBody('claude-sonnet-4', i % 2 === 1);
          const req = request(`${access.baseUrl('anthropic')}/v1/messages`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-api-key': access.credential } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString('utf8')));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text, reused: req.reusedSocket }));
          });
          req.on('error', reject);
          req.end(body);
        });
        expect(answer.status).toBe(200);
        expect(answer.reused).toBe(i > 0);
        expect(answer.text).toContain(i % 2 === 1 ? 'message_stop' : '"type":"message"');
      }
      expect(access.spent()!.calls).toBe(6);
    } finally {
      agent.destroy();
    }
  });

  it('answers Claude Code\'s HEAD connectivity check', async () => {
    rig = await startGatewayRig();
    const res = await fetch(`${rig.tree.url}/llm/anthropic/`, { method: 'HEAD' });
    expect(res.status).toBe(200);
  });

  it('streams the answer through as it arrives: the first chunk reaches the caller before the provider has finished', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let upstreamDone = false;
    const gated = createServer((req, res: ServerResponse) => {
      req.resume();
      req.on('end', async () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4","usage":{"input_tokens":7,"output_tokens":1}}}\n\n');
        await released;
        res.write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n');
        res.write('event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}\n\n');
        res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
        upstreamDone = true;
      });
    });
    servers.push(gated);
    await new Promise<void>((r) => gated.listen(0, '127.0.0.1', () => r()));
    const gatedUrl = `http://127.0.0.1:${(gated.address() as AddressInfo).port}`;
    rig = await startGatewayRig({ extraProviders: { gated: { kind: 'anthropic', url: gatedUrl } } });
    const access = rig.open(['gated/claude-sonnet-4'], { taskId: 'stream-task' });

    const res = await fetch(`${access.baseUrl('anthropic')}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': access.credential },
      body: anthropicBody('claude-sonnet-4', true),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('message_start');
    expect(upstreamDone).toBe(false);
    release();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('message_stop');
    expect(upstreamDone).toBe(true);
    // The usage read on the side: message_start's input, message_delta's final output.
    await until(() => access.spent() !== undefined);
    expect(access.spent()).toMatchObject({ calls: 1, tokens: { input: 7, output: 3 } });
  });

  it('ends the provider\'s answer when the caller hangs up mid-stream, and drops a call that was waiting for a provider slot when its caller hangs up', async () => {
    let upstreamClosed = 0;
    const stalled = createServer((req, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4","usage":{"input_tokens":7,"output_tokens":1}}}\n\n');
        res.on('close', () => upstreamClosed++);
      });
    });
    servers.push(stalled);
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
    rig = await startGatewayRig({ extraProviders: { stalled: { kind: 'anthropic', url } }, concurrency: { initial: 1, stagger_ms: 0 } });
    const access = rig.open(['stalled/claude-sonnet-4']);
    const limiter = rig.tree.runtime.llmGateway!.limiter;
    const call = () => {
      const controller = new AbortController();
      const answer = fetch(`${access.baseUrl('anthropic')}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': access.credential }, body: anthropicBody('claude-sonnet-4', true), signal: controller.signal });
      return { controller, answer };
    };
    const first = call();
    const reader = (await first.answer).body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('message_start');
    // The only slot is taken: a second call waits for it, then its caller gives up.
    const second = call();
    second.answer.catch(() => undefined);
    await until(() => limiter.viewOf('stalled').waiting === 1);
    second.controller.abort();
    await until(() => limiter.viewOf('stalled').waiting === 0);
    expect(limiter.viewOf('stalled').in_flight).toBe(1);
    first.controller.abort();
    await until(() => upstreamClosed === 1);
    await until(() => limiter.viewOf('stalled').in_flight === 0);
    expect(upstreamClosed).toBe(1);
  });

  it('refuses an unknown, a revoked and a missing credential with Anthropic\'s own 401, without calling the provider', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['anthropic/claude-sonnet-4']);
    const url = `${access.baseUrl('anthropic')}/v1/messages`;
    const foreign = await post(url, anthropicBody('claude-sonnet-4', false), { 'x-api-key': 'sk-ant-someone-elses-key' });
    expect(foreign.status).toBe(401);
    expect(JSON.parse(foreign.text)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const missing = await post(url, anthropicBody('claude-sonnet-4', false), {});
    expect(missing.status).toBe(401);
    access.end();
    const revoked = await post(url, anthropicBody('claude-sonnet-4', false), { 'x-api-key': access.credential });
    expect(revoked.status).toBe(401);
    expect(rig.fakes.anthropic.requests).toHaveLength(0);
  });

  it('attributes each call\'s usage to the task whose credential made it', async () => {
    rig = await startGatewayRig({ fake: { anthropic: { script: [{ reply: 'a', usage: { input: 100, output: 10 } }, { reply: 'b', usage: { input: 200, output: 20 } }, { reply: 'c', usage: { input: 300, output: 30 } }] } } });
    const a = rig.open(['anthropic/claude-sonnet-4'], { taskId: 't-a', jobId: 'j-1', programmerId: 'Prog-006' });
    const b = rig.open(['anthropic/claude-sonnet-4'], { taskId: 't-b', jobId: 'j-1', programmerId: 'Prog-007' });
    const call = (x: typeof a) => post(`${x.baseUrl('anthropic')}/v1/messages`, anthropicBody('claude-sonnet-4', false), { 'x-api-key': x.credential });
    expect((await call(a)).status).toBe(200);
    expect((await call(b)).status).toBe(200);
    expect((await call(a)).status).toBe(200);
    expect(a.spent()).toMatchObject({ calls: 2, tokens: { input: 400, output: 40 }, provider: 'anthropic', model: 'claude-sonnet-4', usedBackup: false });
    expect(b.spent()).toMatchObject({ calls: 1, tokens: { input: 200, output: 20 } });
    // $3 / $15 per million tokens.
    expect(a.spent()!.costUsd).toBeCloseTo((400 * 3 + 40 * 15) / 1e6, 9);
    expect(rig.tree.runtime.llmGateway!.ledger.jobSpent('j-1')).toBeCloseTo((600 * 3 + 60 * 15) / 1e6, 9);
  });
});

describe('LLM gateway: budgets before every call', () => {
  it('stops a multi-turn run when the job budget runs out: the next call is refused in Anthropic\'s format and never reaches the provider', async () => {
    rig = await startGatewayRig({ maxJobSpendUsd: 0.0005 });
    const access = rig.open(['anthropic/claude-sonnet-4'], { jobId: 'job-budget', taskId: 'turns' });
    const turn = () => post(`${access.baseUrl('anthropic')}/v1/messages`, anthropicBody('claude-sonnet-4', true), { 'x-api-key': access.credential });
    // Default usage 25 in / 12 out costs 0.000255 USD a turn: two turns pass, the third starts past the budget.
    expect((await turn()).status).toBe(200);
    expect((await turn()).status).toBe(200);
    const third = await turn();
    expect(third.status).toBe(400);
    expect(JSON.parse(third.text)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('PAS_ERR_BUDGET_EXHAUSTED') } });
    expect(rig.fakes.anthropic.requests).toHaveLength(2);
    expect(access.budgetRefusal()).toMatchObject({ code: 'PAS_ERR_BUDGET_EXHAUSTED', details: { scope: 'job', jobId: 'job-budget' } });
  });

  it('takes a job\'s own max_job_spend_usd from the job body', async () => {
    rig = await startGatewayRig();
    const res = await post(`${rig.tree.url}/api/jobs`, JSON.stringify({ task: 'one file', files: ['a.ts'], max_job_spend_usd: 0.25 }), {});
    expect(res.status).toBe(202);
    const jobId = JSON.parse(res.text).job_id as string;
    expect(rig.tree.runtime.llmGateway!.jobLimit(jobId)).toBe(0.25);
    const bad = await post(`${rig.tree.url}/api/jobs`, JSON.stringify({ task: 'x', max_job_spend_usd: -1 }), {});
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.details.field).toBe('max_job_spend_usd');
    // Let the job end before the tree and its scratch repository go away.
    await rig.tree.runtime.waitForJob(jobId, 30_000).catch(() => undefined);
  });

  it('refuses paid calls once the daily budget is spent, in OpenAI\'s format, while free models still answer', async () => {
    rig = await startGatewayRig({ maxDailySpendUsd: 0 });
    const paid = rig.open(['openai/gpt-4o']);
    const refused = await post(`${paid.baseUrl('openai')}/chat/completions`, '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}', { authorization: `Bearer ${paid.credential}` });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text)).toMatchObject({ error: { type: 'insufficient_quota', code: 'insufficient_quota' } });
    expect(rig.fakes.openai.requests).toHaveLength(0);
    const free = rig.open(['ollama/qwen2.5-coder:7b-instruct']);
    const ok = await post(`${free.baseUrl('ollama')}/api/chat`, '{"model":"qwen2.5-coder:7b-instruct","messages":[{"role":"user","content":"hi"}],"stream":false}', { authorization: `Bearer ${free.credential}` });
    expect(ok.status).toBe(200);
  });
});

describe('LLM gateway: failover and breakers', () => {
  it('moves calls to the backup during a 529 storm on the primary, renaming the model, and stops trying the primary once its breaker opens', async () => {
    const storm = Array.from({ length: 3 }, () => [{ error: 'overloaded' as const }, 'ok' as const]).flat();
    rig = await startGatewayRig({ fake: { anthropic: { script: storm } }, failureThreshold: 3 });
    const access = rig.open(['anthropic/claude-sonnet-4', 'anthropic/claude-3-7-sonnet'], { taskId: 'storm' });
    for (let i = 0; i < 5; i++) {
      const res = await post(`${access.baseUrl('anthropic')}/v1/messages`, anthropicBody('claude-sonnet-4', true), { 'x-api-key': access.credential });
      expect(res.status).toBe(200);
      expect(res.text).toContain('message_stop');
    }
    const models = rig.fakes.anthropic.requests.map((r) => (r.body as { model: string }).model);
    // Three 529s open the primary's breaker; the last two calls go straight to the backup.
    expect(models).toEqual(['claude-sonnet-4', 'claude-3-7-sonnet', 'claude-sonnet-4', 'claude-3-7-sonnet', 'claude-sonnet-4', 'claude-3-7-sonnet', 'claude-3-7-sonnet', 'claude-3-7-sonnet']);
    expect(rig.tree.runtime.breakers.state('anthropic/claude-sonnet-4')).toBe('open');
    expect(access.spent()).toMatchObject({ calls: 5, usedBackup: true, model: 'claude-3-7-sonnet' });
    // The failed-over body is the caller's own, only the model renamed.
    const backupBody = rig.fakes.anthropic.requests[1]!.body as Record<string, unknown>;
    expect(backupBody).toMatchObject({ x_pas_unknown: { nested: [1, 2, { z: null }] }, thinking: { type: 'enabled', budget_tokens: 1024 } });
    // Every 529 halved the provider's concurrency limit (answered calls add it back slowly).
    const limit = rig.tree.runtime.llmGateway!.limiter.viewOf('anthropic');
    expect(limit.throttles).toBe(3);
    expect(limit.limit).toBeLessThan(8);
  });

  it('shows each provider\'s current concurrency limit on /api/models, /api/pool and /metrics', async () => {
    rig = await startGatewayRig({ fake: { openai: { script: [{ error: 'rate_limited' }] } }, concurrency: { initial: 6 } });
    const access = rig.open(['openai/gpt-4o']);
    await post(`${access.baseUrl('openai')}/chat/completions`, '{"model":"gpt-4o","messages":[]}', { authorization: `Bearer ${access.credential}` });
    const models = (await (await fetch(`${rig.tree.url}/api/models`)).json()) as { providers: Array<{ provider: string; limit: number; throttles: number; saturated: boolean }> };
    expect(models.providers.find((p) => p.provider === 'openai')).toMatchObject({ limit: 3, throttles: 1, saturated: true });
    expect(models.providers.find((p) => p.provider === 'anthropic')).toMatchObject({ limit: 6, throttles: 0, saturated: false });
    const pool = (await (await fetch(`${rig.tree.url}/api/pool`)).json()) as { llm_providers: unknown[]; saturated_providers: string[] };
    expect(pool.llm_providers).toHaveLength(models.providers.length);
    await until(() => rig!.tree.runtime.poolStatus().saturated_providers.includes('openai'));
    const metrics = await (await fetch(`${rig.tree.url}/metrics`)).text();
    expect(metrics).toContain('pas_llm_provider_concurrency_limit{provider="openai"} 3');
    expect(metrics).toContain('pas_llm_provider_concurrency_limit{provider="anthropic"} 6');
  });

  it('passes the provider\'s own error through when there is no backup to try', async () => {
    rig = await startGatewayRig({ fake: { openai: { script: [{ error: 'rate_limited' }] } } });
    const access = rig.open(['openai/gpt-4o']);
    const res = await post(`${access.baseUrl('openai')}/chat/completions`, '{"model":"gpt-4o","messages":[]}', { authorization: `Bearer ${access.credential}` });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
  });
});

describe('LLM gateway: the other wire formats', () => {
  it('OpenAI Responses: streams Codex\'s format through and reads the usage from response.completed', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['openai/gpt-4o'], { taskId: 'codex' });
    const body = '{"model":"gpt-4o","input":[{"role":"user","content":"hi"}],"stream":true,"store":false,"reasoning":{"effort":"low"}}';
    const res = await post(`${access.baseUrl('openai')}/responses`, body, { authorization: `Bearer ${access.credential}` });
    expect(res.status).toBe(200);
    expect(res.text).toContain('event: response.completed');
    expect(rig.fakes.openai.requests[0]!.raw).toBe(body);
    expect(rig.fakes.openai.requests[0]!.headers.authorization).toBe(`Bearer ${REAL_KEYS.OPENAI_API_KEY}`);
    expect(access.spent()).toMatchObject({ tokens: { input: 19, output: 10, cache_read: 0, thinking: 0 } });
  });

  it('OpenAI Chat Completions: reads the usage of the last chunk of a stream', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['openai/gpt-4o']);
    const res = await post(`${access.baseUrl('openai')}/chat/completions`, '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}', { authorization: `Bearer ${access.credential}` });
    expect(res.status).toBe(200);
    expect(res.text).toContain('data: [DONE]');
    expect(access.spent()).toMatchObject({ tokens: { input: 19, output: 10 } });
  });

  it('Gemini: takes the key from x-goog-api-key or ?key=, keeps ?alt=sse, never forwards the credential', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['google/gemini-2.5-flash'], { taskId: 'gemini' });
    const body = '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"write_file"}]}]}';
    const streamed = await post(`${access.baseUrl('google')}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=${access.credential}`, body, {});
    expect(streamed.status).toBe(200);
    const plain = await post(`${access.baseUrl('google')}/v1beta/models/gemini-2.5-flash:generateContent`, body, { 'x-goog-api-key': access.credential });
    expect(plain.status).toBe(200);
    const [first, second] = rig.fakes.google.requests;
    expect(first!.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(first!.raw).toBe(body);
    expect(first!.headers['x-goog-api-key']).toBe(REAL_KEYS.GEMINI_API_KEY);
    expect(second!.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(access.spent()).toMatchObject({ calls: 2, tokens: { input: 16, output: 18 } });
    const foreign = await post(`${access.baseUrl('google')}/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-not-ours`, body, {});
    expect(foreign.status).toBe(401);
    expect(JSON.parse(foreign.text)).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED' } });
  });

  it('Ollama: passes the NDJSON stream through and reads the counts of its done line', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['ollama/qwen2.5-coder:7b-instruct']);
    const res = await post(`${access.baseUrl('ollama')}/api/chat`, '{"model":"qwen2.5-coder:7b-instruct","messages":[{"role":"user","content":"hi"}]}', { authorization: `Bearer ${access.credential}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('ndjson');
    expect(res.text.trim().split('\n').length).toBeGreaterThan(2);
    expect(access.spent()).toMatchObject({ tokens: { input: 26, output: 11 }, costUsd: 0 });
  });

  it('refuses a task\'s call to a provider family it was not given, in that family\'s format', async () => {
    rig = await startGatewayRig();
    const access = rig.open(['ollama/qwen2.5-coder:7b-instruct']);
    const res = await post(`${access.baseUrl('anthropic')}/v1/messages`, anthropicBody('claude-sonnet-4', false), { 'x-api-key': access.credential });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LLM gateway: the scripted model over the wire', () => {
  it('answers offline in the caller\'s format through the mounted scripted wire, tool calls included, and measures its usage', async () => {
    const served: Array<{ route: string; model?: string; agentId?: string }> = [];
    const toolUse = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4","usage":{"input_tokens":40,"output_tokens":1}}}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"Write","input":{}}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"file_path\\":\\"/w/a.ts\\",\\"content\\":\\"x\\"}"}}\n\n',
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ];
    rig = await startGatewayRig({
      services: {
        offline: true,
        scriptedWire: async (route, _body, call) => {
          served.push({ route, ...(call?.model ? { model: call.model } : {}), ...(call?.agentId ? { agentId: call.agentId } : {}) });
          return { status: 200, headers: { 'content-type': 'text/event-stream' }, chunks: toolUse };
        },
      },
    });
    const access = rig.open(['anthropic/claude-sonnet-4'], { programmerId: 'Prog-007' });
    const res = await post(`${access.baseUrl('anthropic')}/v1/messages`, anthropicBody('claude-sonnet-4', true), { 'x-api-key': access.credential });
    expect(res.status).toBe(200);
    expect(res.text).toBe(toolUse.join(''));
    expect(served).toEqual([{ route: 'anthropic-messages', model: 'claude-sonnet-4', agentId: 'Prog-007' }]);
    expect(rig.fakes.anthropic.requests).toHaveLength(0);
    expect(access.spent()).toMatchObject({ calls: 1, tokens: { input: 40, output: 9 }, costUsd: 0 });
  });
});

describe('LLM gateway: an answer that breaks off before its first byte', () => {
  it('moves the call to the backup when the primary resets the connection, and the caller sees only the backup\'s answer', async () => {
    rig = await startGatewayRig({ fake: { openai: { script: ['reset'] } } });
    const access = rig.open(['openai/gpt-4o', 'openai/gpt-4o-mini']);
    const res = await post(`${access.baseUrl('openai')}/chat/completions`, '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}', { authorization: `Bearer ${access.credential}` });
    expect(res.status).toBe(200);
    expect(res.text).toContain('data: [DONE]');
    expect(rig.fakes.openai.requests.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o', 'gpt-4o-mini']);
    expect(access.spent()).toMatchObject({ calls: 1, usedBackup: true, model: 'gpt-4o-mini' });
  });
});
