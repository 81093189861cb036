import { afterEach, describe, expect, it } from 'vitest';
import { providerSchema } from '../../../src/config/schemas.ts';
import { createProviderAdapter } from '../../../src/llm/create-adapter.ts';
import type { ChatRequest, ProviderAdapter } from '../../../src/llm/types.ts';
import { closedPort, startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { DEFAULT_REPLY, type ErrorFixtureName, type FakeKind } from '../../support/provider-fixtures.ts';
import { failure } from '../../support/pas-failure.ts';

const KEY_ENV: Record<FakeKind, string | undefined> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  google: 'GEMINI_API_KEY',
  ollama: undefined,
};
const MODEL: Record<FakeKind, string> = {
  openai: 'gpt-4o',
  anthropic: 'claude-sonnet-4',
  google: 'gemini-2.5-flash',
  ollama: 'qwen2.5-coder:7b-instruct',
};
const FAKE_KEY = 'sk-test-FAKEKEY-0123456789abcdef';

let servers: FakeProvider[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(kind: FakeKind, opts: Omit<Parameters<typeof startFakeProvider>[0], 'kind'> = {}): Promise<FakeProvider> {
  const server = await startFakeProvider({ kind, ...opts });
  servers.push(server);
  return server;
}

function adapterFor(kind: FakeKind, baseUrl: string, extra: { timeout_s?: number; env?: NodeJS.ProcessEnv } = {}): ProviderAdapter {
  const keyEnv = KEY_ENV[kind];
  const config = providerSchema.parse({
    base_url: baseUrl,
    ...(keyEnv ? { api_key_env: keyEnv } : {}),
    timeout_s: extra.timeout_s ?? 5,
    models: { [MODEL[kind]]: { input_per_mtok: 1, output_per_mtok: 2 } },
  });
  const env = extra.env ?? (keyEnv ? { [keyEnv]: FAKE_KEY } : {});
  return createProviderAdapter(kind, config, { env });
}

function request(extra: Partial<ChatRequest> = {}): ChatRequest {
  return {
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hello.' },
    ],
    temperature: 0.2,
    maxTokens: 256,
    ...extra,
  };
}


const KINDS: FakeKind[] = ['ollama', 'openai', 'anthropic', 'google'];

describe.each(KINDS)('the %s adapter', (kind) => {
  it('parses the reply and the usage exactly as reported without streaming', async () => {
    const server = await serve(kind, { usage: { input: 123, output: 45, thinking: 6, cacheRead: 7, cacheWrite: 8 } });
    const res = await adapterFor(kind, server.url).chat(MODEL[kind], request());
    expect(res.text).toBe(DEFAULT_REPLY);
    expect(res.provider).toBe(kind);
    expect(res.model).toBe(MODEL[kind]);
    const expected = {
      ollama: { input: 123, output: 45 },
      openai: { input: 123, output: 45, thinking: 6, cache_read: 7 },
      anthropic: { input: 123, output: 45, cache_read: 7, cache_write: 8 },
      google: { input: 123, output: 45, thinking: 6, cache_read: 7 },
    }[kind];
    expect(res.usage).toEqual(expected);
  });

  it('streams text deltas through onToken and parses the final usage', async () => {
    const server = await serve(kind, { reply: 'one two three four', usage: { input: 11, output: 4, thinking: 2, cacheRead: 3, cacheWrite: 1 } });
    const tokens: string[] = [];
    const res = await adapterFor(kind, server.url).chat(MODEL[kind], request({ stream: true, onToken: (d) => tokens.push(d) }));
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.join('')).toBe('one two three four');
    expect(res.text).toBe('one two three four');
    const expected = {
      ollama: { input: 11, output: 4 },
      openai: { input: 11, output: 4, thinking: 2, cache_read: 3 },
      anthropic: { input: 11, output: 4, cache_read: 3, cache_write: 1 },
      google: { input: 11, output: 4, thinking: 2, cache_read: 3 },
    }[kind];
    expect(res.usage).toEqual(expected);
  });

  it('reports a count the provider did not send as null, never 0', async () => {
    const server = await serve(kind, { usage: { output: 9 } });
    const res = await adapterFor(kind, server.url).chat(MODEL[kind], request());
    expect(res.usage.input).toBeNull();
    expect(res.usage.output).toBe(9);
    for (const field of ['thinking', 'cache_read', 'cache_write'] as const) {
      if (field in res.usage) expect(res.usage[field]).toBeNull();
    }
  });

  it('sends the request in the provider wire format with the key from the environment', async () => {
    const server = await serve(kind);
    await adapterFor(kind, server.url).chat(MODEL[kind], request());
    const sent = server.requests[0]!;
    const body = sent.body as Record<string, unknown>;
    switch (kind) {
      case 'ollama':
        expect(sent.path).toBe('/api/chat');
        expect(body).toMatchObject({ model: MODEL.ollama, stream: false, options: { temperature: 0.2, num_predict: 256 } });
        expect(body.messages).toEqual(request().messages);
        break;
      case 'openai':
        expect(sent.path).toBe('/v1/chat/completions');
        expect(sent.headers.authorization).toBe(`Bearer ${FAKE_KEY}`);
        expect(body).toMatchObject({ model: 'gpt-4o', stream: false, temperature: 0.2, max_tokens: 256 });
        break;
      case 'anthropic':
        expect(sent.path).toBe('/v1/messages');
        expect(sent.headers['x-api-key']).toBe(FAKE_KEY);
        expect(sent.headers['anthropic-version']).toBe('2023-06-01');
        expect(body).toMatchObject({ model: 'claude-sonnet-4', system: 'You are terse.', max_tokens: 256, messages: [{ role: 'user', content: 'Say hello.' }] });
        break;
      case 'google':
        expect(sent.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
        expect(sent.headers['x-goog-api-key']).toBe(FAKE_KEY);
        expect(body).toMatchObject({
          contents: [{ role: 'user', parts: [{ text: 'Say hello.' }] }],
          systemInstruction: { parts: [{ text: 'You are terse.' }] },
          generationConfig: { temperature: 0.2, maxOutputTokens: 256 },
        });
        break;
    }
  });

  it('asks for streaming the way the provider expects', async () => {
    const server = await serve(kind);
    await adapterFor(kind, server.url).chat(MODEL[kind], request({ stream: true }));
    const sent = server.requests[0]!;
    const body = sent.body as Record<string, unknown>;
    if (kind === 'google') expect(sent.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    else expect(body.stream).toBe(true);
    if (kind === 'openai') expect(body.stream_options).toEqual({ include_usage: true });
  });

  const table: [ErrorFixtureName, string, boolean][] = [
    ['rate_limited', 'PAS_ERR_LLM_RATE_LIMITED', true],
    ['overloaded', 'PAS_ERR_LLM_OVERLOADED', true],
    ['server', 'PAS_ERR_LLM_SERVER', true],
    ['bad_request', 'PAS_ERR_LLM_BAD_REQUEST', false],
    ['context_length', 'PAS_ERR_LLM_CONTEXT_LENGTH', false],
    ['auth', 'PAS_ERR_LLM_AUTH', false],
    ['not_found', 'PAS_ERR_LLM_BAD_REQUEST', false],
    ...(kind === 'ollama' ? [] : ([['quota', 'PAS_ERR_LLM_QUOTA', false]] as [ErrorFixtureName, string, boolean][])),
  ];
  it.each(table)('maps the provider %s answer to %s', async (name, code, retryable) => {
    const server = await serve(kind, { script: [{ error: name }] });
    const err = await failure(adapterFor(kind, server.url).chat(MODEL[kind], request()));
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.details).toMatchObject({ provider: kind, model: MODEL[kind] });
    expect(err.message).not.toContain(FAKE_KEY);
  });

  it('maps an error frame in the middle of a stream to PAS_ERR_LLM_STREAM after the first token', async () => {
    const server = await serve(kind, { script: ['midstream-error'] });
    const tokens: string[] = [];
    const err = await failure(adapterFor(kind, server.url).chat(MODEL[kind], request({ stream: true, onToken: (d) => tokens.push(d) })));
    expect(err.code).toBe('PAS_ERR_LLM_STREAM');
    expect(err.retryable).toBe(true);
    expect(tokens).toHaveLength(1);
  });

  it('maps a cut JSON body to PAS_ERR_LLM_MALFORMED', async () => {
    const server = await serve(kind, { script: ['malformed'] });
    const err = await failure(adapterFor(kind, server.url).chat(MODEL[kind], request()));
    expect(err.code).toBe('PAS_ERR_LLM_MALFORMED');
  });

  it('maps a garbage stream frame to PAS_ERR_LLM_MALFORMED', async () => {
    const server = await serve(kind, { script: ['malformed'] });
    const err = await failure(adapterFor(kind, server.url).chat(MODEL[kind], request({ stream: true })));
    expect(err.code).toBe('PAS_ERR_LLM_MALFORMED');
  });

  it('gives up on a provider that never answers after its timeout_s', async () => {
    const server = await serve(kind, { script: ['hang'] });
    const started = Date.now();
    const err = await failure(adapterFor(kind, server.url, { timeout_s: 0.2 }).chat(MODEL[kind], request()));
    expect(err.code).toBe('PAS_ERR_LLM_TIMEOUT');
    expect(err.details.timeoutMs).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('maps a refused connection to PAS_ERR_LLM_CONNECTION', async () => {
    const port = await closedPort();
    const base = kind === 'openai' ? `http://127.0.0.1:${port}/v1` : `http://127.0.0.1:${port}`;
    const err = await failure(adapterFor(kind, base).chat(MODEL[kind], request()));
    expect(err.code).toBe('PAS_ERR_LLM_CONNECTION');
    expect(err.details.errno).toBe('ECONNREFUSED');
  });

  it('maps a reset socket to PAS_ERR_LLM_CONNECTION', async () => {
    const server = await serve(kind, { script: ['reset'] });
    const err = await failure(adapterFor(kind, server.url).chat(MODEL[kind], request()));
    expect(err.code).toBe('PAS_ERR_LLM_CONNECTION');
  });

  it('reports the caller cancelling as PAS_ERR_TASK_CANCELLED, not a timeout', async () => {
    const server = await serve(kind, { script: ['hang'] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 50);
    const err = await failure(adapterFor(kind, server.url).chat(MODEL[kind], request({ signal: controller.signal })));
    expect(err.code).toBe('PAS_ERR_TASK_CANCELLED');
  });
});

describe('provider specifics', () => {
  it('keeps the retry-after seconds of a 429 in details.retryAfterMs', async () => {
    const server = await serve('anthropic', { script: [{ error: 'rate_limited' }] });
    const err = await failure(adapterFor('anthropic', server.url).chat('claude-sonnet-4', request()));
    expect(err.code).toBe('PAS_ERR_LLM_RATE_LIMITED');
    expect(err.details.retryAfterMs).toBe(3000);
    expect(err.details.requestId).toBe('req_011CSHoEeqs5C35K2UUqR7Fy');
  });

  it('reads an HTTP-date retry-after relative to now', async () => {
    const at = new Date(Date.now() + 10_000).toUTCString();
    const server = await serve('openai', { script: [{ error: 'rate_limited', headers: { 'retry-after': at } }] });
    const err = await failure(adapterFor('openai', server.url).chat('gpt-4o', request()));
    expect(err.details.retryAfterMs).toBeGreaterThan(7_000);
    expect(err.details.retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it('takes the Gemini RetryInfo delay as retry-after', async () => {
    const server = await serve('google', { script: [{ error: 'rate_limited' }] });
    const err = await failure(adapterFor('google', server.url).chat('gemini-2.5-flash', request()));
    expect(err.code).toBe('PAS_ERR_LLM_RATE_LIMITED');
    expect(err.details.retryAfterMs).toBe(4000);
  });

  it('treats an Anthropic overloaded error frame before any text as a stream error', async () => {
    const server = await serve('anthropic', { script: ['early-stream-error'] });
    const err = await failure(adapterFor('anthropic', server.url).chat('claude-sonnet-4', request({ stream: true })));
    expect(err.code).toBe('PAS_ERR_LLM_STREAM');
    expect(err.details.type).toBe('overloaded_error');
  });

  it('treats a stream that stops without its closing frame as a stream error', async () => {
    const server = await serve('openai', { script: ['truncated'] });
    const err = await failure(adapterFor('openai', server.url).chat('gpt-4o', request({ stream: true })));
    expect(err.code).toBe('PAS_ERR_LLM_STREAM');
  });

  it('fails with PAS_ERR_LLM_AUTH before sending when the key variable is empty', async () => {
    const server = await serve('openai');
    const err = await failure(adapterFor('openai', server.url, { env: {} }).chat('gpt-4o', request()));
    expect(err.code).toBe('PAS_ERR_LLM_AUTH');
    expect(err.message).toContain('OPENAI_API_KEY');
    expect(server.requests).toHaveLength(0);
  });

  it('never puts the API key in the message even when the server echoes it', async () => {
    const server = await serve('openai', { script: [{ error: 'auth' }] });
    const err = await failure(adapterFor('openai', server.url).chat('gpt-4o', request()));
    expect(err.code).toBe('PAS_ERR_LLM_AUTH');
    expect(err.message).toContain('Incorrect API key provided: [REDACTED]');
    expect(JSON.stringify(err.details)).not.toContain(FAKE_KEY);
  });

  it('lets the provider env var override the models.yaml base URL, normalizing a bare OLLAMA_HOST', async () => {
    const server = await serve('ollama');
    const port = new URL(server.origin).port;
    const adapter = adapterFor('ollama', 'http://127.0.0.1:1', { env: { OLLAMA_HOST: `127.0.0.1:${port}` } });
    const res = await adapter.chat('qwen2.5-coder:7b-instruct', request());
    expect(res.text).toBe(DEFAULT_REPLY);
    expect(server.requests).toHaveLength(1);
  });

  it('speaks the OpenAI protocol to any provider entry whose kind is openai', async () => {
    const server = await serve('openai');
    const config = providerSchema.parse({ kind: 'openai', base_url: server.url, models: { 'local-model': { input_per_mtok: 0, output_per_mtok: 0 } } });
    const res = await createProviderAdapter('vllm', config, { env: {} }).chat('local-model', request());
    expect(res.provider).toBe('vllm');
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });
});
