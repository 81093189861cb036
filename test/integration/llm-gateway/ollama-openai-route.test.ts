/**
 * `POST /llm/ollama/v1/chat/completions`: Ollama's OpenAI-compatible Chat Completions through the
 * LLM gateway (what opencode speaks to an Ollama model): the call reaches the Ollama provider's
 * `/v1/chat/completions` and its usage is measured for the task like any other call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { startGatewayRig, type GatewayRig } from './llm-gateway-support.ts';

let rig: GatewayRig | undefined;
let upstream: FakeProvider | undefined;
afterEach(async () => {
  await rig?.close();
  await upstream?.close();
  rig = upstream = undefined;
});

describe('the LLM gateway\'s OpenAI-compatible route to Ollama models', () => {
  it('passes a Chat Completions call to the Ollama provider\'s /v1/chat/completions and measures its usage for the task', async () => {
    // An OpenAI-compatible server stands for Ollama's /v1 (it speaks Chat Completions there).
    upstream = await startFakeProvider({ kind: 'openai', usage: { input: 321, output: 12 } });
    rig = await startGatewayRig({ extraProviders: { 'ollama-local': { kind: 'ollama', url: upstream.origin } } });
    const access = rig.open(['ollama-local/m-1'], { taskId: 'ollama-compat' });
    expect(access.baseUrl('ollama')).toBe(`${rig.tree.url}/llm/ollama`);

    const res = await fetch(`${access.baseUrl('ollama')}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm-1', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: 'chat.completion' });
    expect(upstream.requests.map((r) => r.path)).toEqual(['/v1/chat/completions']);
    expect(access.spent()).toMatchObject({ calls: 1, provider: 'ollama-local', model: 'm-1', tokens: { input: 321, output: 12 } });

    const refused = await fetch(`${access.baseUrl('ollama')}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer pas-task-forged', 'content-type': 'application/json' }, body: '{"model":"m-1","messages":[]}' });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
  });
});
