/**
 * Bad configuration never gets in: malformed YAML and invalid values make `pas validate` exit 2
 * and leave the file as it was; invalid LLM settings changes over HTTP are refused (400/404)
 * and the YAML file stays byte-identical.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessServices } from '../support/in-process-services.ts';
import { tempConfig, type TempConfig } from '../support/test-config.ts';
import { startTestTree, type TestTree } from '../support/test-tree.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILES = ['pas.yaml', 'programmer_pool.yaml', 'models.yaml', 'fs_allowlist.yaml', 'cmd_allowlist.yaml'];

function validate(configDir: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/pas.mjs', 'validate'], { cwd: ROOT, env: { ...process.env, PAS_CONFIG_DIR: configDir } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

describe('malformed configuration', () => {
  it.each([
    ['an unclosed flow mapping', 'pas.yaml', (t: string) => t.replace('lanes: [Code, Models, Data, DevSecOps, Docs]', 'lanes: [Code, Models')],
    ['a tab-indented key', 'programmer_pool.yaml', (t: string) => t.replace('pool_size: 10', 'pool_size: 10\n\tbroken: true')],
    ['a duplicate key', 'models.yaml', (t: string) => `${t}\nproviders: {}\n`],
    ['a number where a map belongs', 'programmer_pool.yaml', (t: string) => t.replace(/failover:\n/, 'failover: 12\nfailover_old:\n')],
    ['binary garbage', 'fs_allowlist.yaml', () => '\u0000\u0001\uFFFD: [:\n'],
    ['an empty file', 'cmd_allowlist.yaml', () => ''],
  ])('makes pas validate exit 2 on %s and leaves the file unchanged', async (_what, file, corrupt) => {
    const cfg = tempConfig('pas-badyaml-');
    try {
      const full = path.join(cfg.dir, file);
      const bad = corrupt(readFileSync(full, 'utf8'));
      writeFileSync(full, bad);
      const { code, output } = await validate(cfg.dir);
      expect(code, output).toBe(2);
      expect(output).toContain(file);
      expect(readFileSync(full, 'utf8')).toBe(bad);
    } finally {
      cfg.cleanup();
    }
  });
});

describe('executors', () => {
  it('makes pas validate exit 2 on an unknown executor, naming the file and the key', async () => {
    const cfg = tempConfig('pas-badexec-');
    try {
      cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'executor'], 'cursor-agent'));
      const { code, output } = await validate(cfg.dir);
      expect(code, output).toBe(2);
      expect(output).toContain('programmer_pool.yaml');
      expect(output).toContain('programmers[0].executor');
    } finally {
      cfg.cleanup();
    }
  });

  it('accepts every agent-CLI executor with its section', async () => {
    const cfg = tempConfig('pas-agentexec-');
    try {
      cfg.edit('programmer_pool.yaml', (doc) => {
        ['claude-code', 'codex', 'gemini-cli', 'opencode'].forEach((name, i) => doc.setIn(['programmers', i, 'executor'], name));
        doc.set('codex', doc.createNode({ binary: 'codex', timeout_s: 900, stall_timeout_s: 120, sandbox_mode: 'workspace-write' }));
      });
      const { code, output } = await validate(cfg.dir);
      expect(code, output).toBe(0);
    } finally {
      cfg.cleanup();
    }
  });

  it('makes pas validate exit 2 on an unknown key in an agent-CLI section', async () => {
    const cfg = tempConfig('pas-badsection-');
    try {
      cfg.edit('programmer_pool.yaml', (doc) => doc.set('claude_code', doc.createNode({ binary: 'claude', timeout: 5 })));
      const { code, output } = await validate(cfg.dir);
      expect(code, output).toBe(2);
      expect(output).toContain('programmer_pool.yaml');
      expect(output).toContain('claude_code');
    } finally {
      cfg.cleanup();
    }
  });
});

describe('invalid LLM settings changes over HTTP', () => {
  let cfg: TempConfig;
  let tree: TestTree;
  let before: Record<string, string>;

  beforeAll(async () => {
    cfg = tempConfig('pas-settings-');
    tree = await startTestTree({ configDir: cfg.dir, services: inProcessServices(), gatewayOptions: { token: '' } });
    before = Object.fromEntries(FILES.map((f) => [f, cfg.read(f)]));
  });
  afterAll(async () => {
    await tree?.close();
    cfg?.cleanup();
  });

  const put = async (agent: string, body: string, type = 'application/json') => {
    const res = await fetch(`${tree.url}/api/settings/llm/${encodeURIComponent(agent)}`, { method: 'PUT', headers: { 'content-type': type }, body });
    return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
  };

  it.each([
    ['an unknown model', 'Prog-001', { primary: 'ollama/no-such-model' }, 400],
    ['an unknown provider', 'Prog-001', { primary: 'nowhere/gpt-4o' }, 400],
    ['a backup equal to the primary', 'Prog-001', { primary: 'openai/gpt-4o', backup: 'openai/gpt-4o' }, 400],
    ['an agent that does not exist', 'Prog-999', { primary: 'openai/gpt-4o' }, 404],
    ['a Director, which has no LLM setting', 'Dir-Code', { primary: 'openai/gpt-4o' }, 404],
    ['a number for the primary', 'Prog-001', { primary: 42 }, 400],
    ['an extra key', 'Prog-001', { primary: 'openai/gpt-4o', temperature: 2 }, 400],
    ['a prototype-pollution key', 'Mgr-Code-01', JSON.parse('{"primary":"openai/gpt-4o","__proto__":{"x":1}}'), 400],
    ['no primary', 'Architect', { backup: 'openai/gpt-4o' }, 400],
  ])('refuses %s and leaves every YAML file byte-identical', async (_what, agent, body, status) => {
    const answer = await put(agent, JSON.stringify(body));
    expect(answer.status).toBe(status);
    expect(answer.body.error?.code).toMatch(/^PAS_ERR_/);
    for (const f of FILES) expect(cfg.read(f), f).toBe(before[f]);
  });

  it('refuses arbitrary garbage bodies and content types, and the files stay byte-identical', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('Prog-001', 'Mgr-Code-01', 'Architect', 'Dir-Code', 'nobody'),
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          fc.record({ primary: fc.string({ maxLength: 30 }), backup: fc.option(fc.string({ maxLength: 30 })) }).map((v) => JSON.stringify(v)),
        ),
        fc.constantFrom('application/json', 'text/plain', 'application/yaml'),
        async (agent, body, type) => {
          const { status } = await put(agent, body, type);
          expect([400, 404, 415]).toContain(status);
        },
      ),
      { numRuns: 150, seed: 77 },
    );
    for (const f of FILES) expect(cfg.read(f), f).toBe(before[f]);
    // A valid change is still written (the refusals did not wedge the writer).
    const ok = await put('Prog-001', JSON.stringify({ primary: 'ollama/qwen2.5-coder:14b-instruct', backup: 'ollama/qwen2.5-coder:7b-instruct' }));
    expect(ok.status).toBe(200);
    expect(cfg.read('programmer_pool.yaml')).not.toBe(before['programmer_pool.yaml']);
  });
});
