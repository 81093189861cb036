import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { modelsSchema } from '../../../src/config/schemas.ts';
import { isPasError } from '../../../src/errors.ts';
import { createProviderAdapter } from '../../../src/llm/create-adapter.ts';
import { createScriptedAdapter, loadCassette } from '../../../src/llm/providers/scripted-adapter.ts';
import type { ChatRequest } from '../../../src/llm/types.ts';

const req = (content: string, meta: ChatRequest['meta'] = {}): ChatRequest => ({ messages: [{ role: 'system', content: 'sys' }, { role: 'user', content }], meta });

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

describe('the scripted adapter', () => {
  it('answers with the first matching entry that has uses left', async () => {
    const adapter = createScriptedAdapter([
      { match: { purpose: 'plan' }, reply: 'first plan', times: 1 },
      { match: { purpose: 'plan' }, reply: 'later plans' },
      { match: { agent: 'Prog-002', regex: '^edit (\\w+)\\.ts$' }, reply: 'edit for Prog-002' },
      { match: { contains: 'edit' }, reply: 'any edit', usage: { input: 5, output: 2 } },
    ]);
    expect((await adapter.chat('scripted', req('x', { purpose: 'plan' }))).text).toBe('first plan');
    expect((await adapter.chat('scripted', req('x', { purpose: 'plan' }))).text).toBe('later plans');
    expect((await adapter.chat('scripted', req('edit main.ts', { agentId: 'Prog-002' }))).text).toBe('edit for Prog-002');
    const other = await adapter.chat('scripted', req('edit main.ts', { agentId: 'Prog-003' }));
    expect(other.text).toBe('any edit');
    expect(other.usage).toEqual({ input: 5, output: 2 });
    expect(adapter.remaining()).toEqual([0, Infinity, Infinity, Infinity]);
    expect(adapter.calls.map((c) => c.entry)).toEqual([0, 1, 2, 3]);
  });

  it('reports null usage when the entry gives none', async () => {
    const adapter = createScriptedAdapter([{ reply: 'ok' }]);
    expect((await adapter.chat('m', req('hi'))).usage).toEqual({ input: null, output: null });
  });

  it('streams the reply through onToken in pieces that join to the reply', async () => {
    const adapter = createScriptedAdapter([{ reply: 'line one\n  line two ' }]);
    const tokens: string[] = [];
    const res = await adapter.chat('m', { ...req('hi'), stream: true, onToken: (t) => tokens.push(t) });
    expect(tokens.length).toBeGreaterThan(2);
    expect(tokens.join('')).toBe(res.text);
  });

  it('throws the scripted error code', async () => {
    const adapter = createScriptedAdapter([{ error: { code: 'PAS_ERR_LLM_RATE_LIMITED' }, times: 1 }, { reply: 'after' }]);
    await expect(adapter.chat('m', req('hi'))).rejects.toMatchObject({ code: 'PAS_ERR_LLM_RATE_LIMITED', retryable: true });
    expect((await adapter.chat('m', req('hi'))).text).toBe('after');
  });

  it('names the first line of the prompt when nothing matches', async () => {
    const adapter = createScriptedAdapter([{ match: { contains: 'zzz' }, reply: 'x' }]);
    const err = await adapter.chat('m', req('Refactor utils.ts\nmore detail')).catch((e: unknown) => e);
    expect(isPasError(err, 'PAS_ERR_LLM_CASSETTE')).toBe(true);
    expect((err as Error).message).toContain('"Refactor utils.ts"');
  });

  it('waits delay_ms and can be cancelled while waiting', async () => {
    const waited: number[] = [];
    const adapter = createScriptedAdapter([{ reply: 'slow', delay_ms: 25 }], { sleep: async (ms) => void waited.push(ms) });
    await adapter.chat('m', req('hi'));
    expect(waited).toEqual([25]);
    const real = createScriptedAdapter([{ reply: 'slow', delay_ms: 10_000 }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled')), 20);
    await expect(real.chat('m', { ...req('hi'), signal: controller.signal })).rejects.toThrow('cancelled');
  });

  it('refuses an entry without reply or error and an unknown error code', () => {
    expect(() => createScriptedAdapter([{ match: {} }])).toThrow(/reply or an error/);
    expect(() => createScriptedAdapter([{ error: { code: 'PAS_ERR_NOPE' } }])).toThrow(/PAS_ERR/);
  });

  it('loads a YAML cassette relative to the configs folder of a scripted provider', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-cassette-'));
    dirs.push(dir);
    await writeFile(
      path.join(dir, 'demo.yaml'),
      ['entries:', '  - match: {purpose: plan}', '    reply: |', '      step 1', '    usage: {input: 3, output: 4}', '  - reply: fallback', ''].join('\n'),
    );
    expect(loadCassette(path.join(dir, 'demo.yaml'))).toHaveLength(2);
    const models = modelsSchema.parse({ providers: { scripted: { cassette: 'demo.yaml', models: { scripted: { input_per_mtok: 0, output_per_mtok: 0 } } } } });
    const adapter = createProviderAdapter('scripted', models.providers.scripted!, { configDir: dir });
    const res = await adapter.chat('scripted', req('x', { purpose: 'plan' }));
    expect(res).toMatchObject({ text: 'step 1\n', usage: { input: 3, output: 4 }, provider: 'scripted' });
  });

  it('reports a broken cassette file with its path', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-cassette-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'bad.yaml'), '- match: {colour: red}\n  reply: x\n');
    expect(() => loadCassette(path.join(dir, 'bad.yaml'))).toThrow(/bad\.yaml/);
    expect(() => loadCassette(path.join(dir, 'missing.yaml'))).toThrow(/not found/);
  });
});
