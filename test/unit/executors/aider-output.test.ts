import { describe, expect, it } from 'vitest';
import type { ModelsConfigFile } from '../../../src/config/schemas.ts';
import { isPasError } from '../../../src/errors.ts';
import { aiderArgs, aiderEnv, aiderModelName, aiderRoot } from '../../../src/executors/aider-executor.ts';
import { parseAiderOutput, parseTokenCount } from '../../../src/executors/aider-output.ts';

describe('parseTokenCount', () => {
  it.each([
    ['512', 512],
    ['1,234', 1234],
    ['2.5k', 2500],
    ['12k', 12000],
    ['1.2M', 1_200_000],
    ['3M', 3_000_000],
  ])('reads %s as %d', (text, value) => {
    expect(parseTokenCount(text)).toBe(value);
  });

  it('answers null for text that is not a count', () => {
    expect(parseTokenCount('unknown')).toBeNull();
  });
});

describe('parseAiderOutput', () => {
  it('reads applied edits and a Tokens line with its Cost', () => {
    const out = [
      'Aider v0.86.1',
      'Model: anthropic/claude-sonnet-4 with diff edit format',
      'Git repo: none',
      'Tokens: 2.5k sent, 1.1k received. Cost: $0.01 message, $0.03 session.',
      'Applied edit to src/a.ts',
      'Applied edit to src/b.ts',
    ].join('\n');
    expect(parseAiderOutput(out)).toEqual({ applied: ['src/a.ts', 'src/b.ts'], tokens: { input: 2500, output: 1100 }, costUsd: 0.03 });
  });

  it('reads cache write and cache hit counts and a Cost on its own line', () => {
    const out = 'Tokens: 1,234 sent, 1.2k cache write, 3.4k cache hit, 512 received.\nCost: $0.0042 message, $0.0042 session.';
    expect(parseAiderOutput(out)).toEqual({
      applied: [],
      tokens: { input: 1234, output: 512, cache_write: 1200, cache_read: 3400 },
      costUsd: 0.0042,
    });
  });

  it('reads the older "cached" form as cache reads', () => {
    const out = 'Tokens: 10,000 sent, 2,000 cached, 300 received. Cost: $0.02 message, $0.02 session.';
    expect(parseAiderOutput(out).tokens).toEqual({ input: 10000, output: 300, cache_read: 2000 });
  });

  it('leaves the cost unknown when aider printed no Cost part', () => {
    const report = parseAiderOutput('Tokens: 12k sent, 1.5M received.');
    expect(report.tokens).toEqual({ input: 12000, output: 1_500_000 });
    expect(report.costUsd).toBeNull();
  });

  it('sums several Tokens lines and keeps the last session cost', () => {
    const out = [
      'Tokens: 1k sent, 100 received. Cost: $0.01 message, $0.01 session.',
      'Tokens: 2k sent, 200 received. Cost: $0.02 message, $0.03 session.',
    ].join('\n');
    expect(parseAiderOutput(out)).toMatchObject({ tokens: { input: 3000, output: 300 }, costUsd: 0.03 });
  });

  it('reports no usage and no edits for an API error', () => {
    const out = 'litellm.APIConnectionError: Ollama_chatException - [Errno 111] Connection refused\nRetrying in 0.2 seconds...';
    expect(parseAiderOutput(out)).toEqual({ applied: [], tokens: null, costUsd: null });
  });

  it('ignores ANSI colour codes around the lines', () => {
    const out = '\u001b[32mApplied edit to a.py\u001b[0m\r\n\u001b[2mTokens: 3k sent, 1k received.\u001b[0m';
    expect(parseAiderOutput(out)).toMatchObject({ applied: ['a.py'], tokens: { input: 3000, output: 1000 } });
  });
});

const models: ModelsConfigFile = {
  providers: {
    ollama: { base_url: 'http://127.0.0.1:11434', base_url_env: 'OLLAMA_HOST', timeout_s: 300, models: { 'qwen2.5-coder:7b-instruct': { input_per_mtok: 0, output_per_mtok: 0 } } },
    openai: { base_url: 'https://api.openai.com/v1', base_url_env: 'OPENAI_BASE_URL', api_key_env: 'OPENAI_API_KEY', timeout_s: 120, models: { 'gpt-4o': { input_per_mtok: 2.5, output_per_mtok: 10 } } },
    anthropic: { base_url: 'https://api.anthropic.com', base_url_env: 'ANTHROPIC_BASE_URL', api_key_env: 'ANTHROPIC_API_KEY', timeout_s: 120, models: { 'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 } } },
    google: { base_url: 'https://generativelanguage.googleapis.com', api_key_env: 'GEMINI_API_KEY', timeout_s: 120, models: { 'gemini-2.5-flash': { input_per_mtok: 0.3, output_per_mtok: 2.5 } } },
    lmstudio: { kind: 'openai', base_url: 'http://127.0.0.1:1234/v1', timeout_s: 60, models: { local: { input_per_mtok: 0, output_per_mtok: 0 } } },
    scripted: { timeout_s: 1, models: { scripted: { input_per_mtok: 0, output_per_mtok: 0 } } },
  },
};

describe('aider model names and environment', () => {
  it.each([
    ['ollama/qwen2.5-coder:7b-instruct', 'ollama_chat/qwen2.5-coder:7b-instruct'],
    ['anthropic/claude-sonnet-4', 'anthropic/claude-sonnet-4'],
    ['openai/gpt-4o', 'openai/gpt-4o'],
    ['google/gemini-2.5-flash', 'gemini/gemini-2.5-flash'],
    ['lmstudio/local', 'openai/local'],
  ])('maps %s to %s', (ref, name) => {
    expect(aiderModelName(models, ref)).toBe(name);
  });

  it('refuses a provider aider cannot run and a model not in models.yaml', () => {
    for (const ref of ['scripted/scripted', 'openai/gpt-9']) {
      let error: unknown;
      try {
        aiderModelName(models, ref);
      } catch (err) {
        error = err;
      }
      expect(isPasError(error, 'PAS_ERR_LLM_UNKNOWN_MODEL')).toBe(true);
    }
  });

  it('passes only the key and base URL of the model’s own provider', () => {
    const source = { PATH: '/bin', HOME: '/home/u', OPENAI_API_KEY: 'sk-openai', ANTHROPIC_API_KEY: 'sk-ant', GEMINI_API_KEY: 'g', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', AWS_SECRET_ACCESS_KEY: 'aws' };
    const env = aiderEnv(models, 'openai/gpt-4o', source);
    expect(env).toMatchObject({ PATH: '/bin', HOME: '/home/u', OPENAI_API_KEY: 'sk-openai', OPENAI_API_BASE: 'http://127.0.0.1:9/v1' });
    expect(env).not.toHaveProperty('ANTHROPIC_API_KEY');
    expect(env).not.toHaveProperty('GEMINI_API_KEY');
    expect(env).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
  });

  it('points ollama at its configured base URL unless OLLAMA_HOST overrides it', () => {
    expect(aiderEnv(models, 'ollama/qwen2.5-coder:7b-instruct', {}).OLLAMA_API_BASE).toBe('http://127.0.0.1:11434');
    expect(aiderEnv(models, 'ollama/qwen2.5-coder:7b-instruct', { OLLAMA_HOST: 'http://gpu:11434' }).OLLAMA_API_BASE).toBe('http://gpu:11434');
  });

  it('builds a non-interactive command line with the files after --', () => {
    const args = aiderArgs({ instruction: '--rm everything', model: 'openai/gpt-4o', editFormat: 'diff', files: ['src/a.ts', '-b.ts'] });
    expect(args[0]).toBe('--message=--rm everything');
    expect(args).toEqual(expect.arrayContaining(['--yes-always', '--no-check-update', '--analytics-disable', '--no-auto-commits', '--no-git', '--no-pretty', '--no-stream', '--edit-format=diff', '--model=openai/gpt-4o']));
    expect(args.slice(-3)).toEqual(['--', 'src/a.ts', '-b.ts']);
  });

  it('finds aider’s root as the common folder of its files', () => {
    expect(aiderRoot('/w', ['src/a/x.ts'])).toBe('/w/src/a');
    expect(aiderRoot('/w', ['src/a/x.ts', 'src/b/y.ts'])).toBe('/w/src');
    expect(aiderRoot('/w', ['src/x.ts', 'srcx/y.ts'])).toBe('/w');
    expect(aiderRoot('/w', [])).toBe('/w');
  });
});
