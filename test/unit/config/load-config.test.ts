import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigIssue } from '../../../src/config/load-config.ts';
import { isPasError } from '../../../src/errors.ts';
import { BAD_CONFIGS, copyConfigs, SHIPPED_CONFIGS, type ConfigCopy } from './config-fixtures.ts';

let copy: ConfigCopy | undefined;
afterEach(() => copy?.remove());

function issuesOf(dir: string): { code: string; issues: ConfigIssue[]; message: string } {
  try {
    loadConfig(dir);
  } catch (err) {
    if (!isPasError(err)) throw err;
    return { code: err.code, issues: (err.details as { issues: ConfigIssue[] }).issues, message: err.message };
  }
  throw new Error('the config loaded');
}

describe('loadConfig', () => {
  it('loads the shipped configs: 5 lanes, 5 Directors, 7 Managers, 10 Programmers', () => {
    const config = loadConfig(SHIPPED_CONFIGS);
    expect(config.pas.directors.map((d) => d.agent_id)).toEqual(['Dir-Code', 'Dir-Models', 'Dir-Data', 'Dir-DevSecOps', 'Dir-Docs']);
    expect(config.pas.managers.map((m) => [m.agent_id, m.port])).toEqual([
      ['Mgr-Code-01', 6141],
      ['Mgr-Code-02', 6142],
      ['Mgr-Code-03', 6143],
      ['Mgr-Models-01', 6144],
      ['Mgr-Data-01', 6145],
      ['Mgr-DevSecOps-01', 6146],
      ['Mgr-Docs-01', 6147],
    ]);
    expect(config.programmers.map((p) => p.id)).toEqual(Array.from({ length: 10 }, (_, i) => `Prog-${String(i + 1).padStart(3, '0')}`));
    expect(config.programmers.map((p) => p.port)).toEqual(Array.from({ length: 10 }, (_, i) => 6151 + i));
    expect(Object.isFrozen(config) && Object.isFrozen(config.programmers[0])).toBe(true);
  });

  it('resolves each programmer: free when its primary model costs nothing, timeout from defaults', () => {
    const config = loadConfig(SHIPPED_CONFIGS);
    const byId = Object.fromEntries(config.programmers.map((p) => [p.id, p]));
    expect(byId['Prog-001']).toMatchObject({ primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'ollama/qwen2.5-coder:14b-instruct', free: true, timeoutMs: 300_000, executor: 'native' });
    expect(byId['Prog-006']).toMatchObject({ primary: 'anthropic/claude-sonnet-4', backup: 'anthropic/claude-3-7-sonnet', free: false });
    expect(byId['Prog-008']).toMatchObject({ primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', free: false });
    expect(byId['Prog-010']).toMatchObject({ primary: 'ollama/deepseek-coder-v3:14b', free: true, capabilities: ['free', 'experimental'] });
  });

  for (const bad of BAD_CONFIGS) {
    it(`rejects ${bad.name}, naming ${bad.file}, the key path ${bad.keyPath} and its line`, () => {
      copy = copyConfigs();
      bad.apply(copy);
      const { code, issues, message } = issuesOf(copy.dir);
      expect(code).toBe('PAS_ERR_CONFIG_INVALID');
      const issue = issues.find((i) => i.path === bad.keyPath);
      expect(issue, `issues: ${JSON.stringify(issues)}`).toBeDefined();
      expect(issue!.file).toBe(copy.file(bad.file));
      expect(issue!.message).toMatch(bad.message);
      expect(issue!.line).toBeGreaterThan(0);
      expect(message).toContain(`${copy.file(bad.file)}:${issue!.line}: ${bad.keyPath}: `);
    });
  }

  it('points an unknown key at the line it is on', () => {
    copy = copyConfigs();
    copy.edit('programmer_pool.yaml', (text) => text.replace('failover:\n  enabled: true', 'failover:\n  enabled: true\n  retries: 3'));
    const { issues } = issuesOf(copy.dir);
    expect(issues).toEqual([
      { file: copy.file('programmer_pool.yaml'), path: 'failover.retries', message: 'unknown key "retries"', line: copy.lineOf('programmer_pool.yaml', 'retries: 3') },
    ]);
  });

  it('reports every problem at once, across files', () => {
    copy = copyConfigs();
    copy.set('programmer_pool.yaml', ['programmers', 3, 'parent'], 'Mgr-Nope-01');
    copy.set('programmer_pool.yaml', ['programmers', 4, 'port'], 6151);
    copy.set('pas.yaml', ['managers', 0, 'llm', 'primary', 'model'], 'gemini-9');
    const { issues } = issuesOf(copy.dir);
    expect(issues.map((i) => i.path).sort()).toEqual(['managers[0].llm.primary.model', 'programmers[3].parent', 'programmers[4].port']);
  });

  it('rejects a pool_size that does not match the programmers listed', () => {
    copy = copyConfigs();
    copy.set('programmer_pool.yaml', ['pool_size'], 11);
    expect(issuesOf(copy.dir).issues).toEqual([expect.objectContaining({ path: 'pool_size', message: 'pool_size is 11 but 10 programmers are listed' })]);
  });

  it('rejects malformed YAML with PAS_ERR_CONFIG_YAML naming the file and line', () => {
    copy = copyConfigs();
    copy.edit('programmer_pool.yaml', (text) => text.replace('pool_size: 10', 'pool_size: [10'));
    const { code, issues } = issuesOf(copy.dir);
    expect(code).toBe('PAS_ERR_CONFIG_YAML');
    expect(issues[0]!.file).toBe(copy.file('programmer_pool.yaml'));
    expect(issues[0]!.line).toBeGreaterThanOrEqual(copy.lineOf('programmer_pool.yaml', 'pool_size: [10'));
  });

  it('rejects a duplicated YAML key', () => {
    copy = copyConfigs();
    copy.edit('programmer_pool.yaml', (text) => text.replace('pool_size: 10', 'pool_size: 10\npool_size: 10'));
    expect(issuesOf(copy.dir).code).toBe('PAS_ERR_CONFIG_YAML');
  });

  it('says which file is missing', () => {
    copy = copyConfigs();
    rmSync(copy.file('models.yaml'));
    try {
      loadConfig(copy.dir);
      expect.unreachable();
    } catch (err) {
      expect(isPasError(err) && err.code).toBe('PAS_ERR_CONFIG_NOT_FOUND');
      expect((err as Error).message).toContain(copy.file('models.yaml'));
    }
  });

  it('grows to 49 programmers on ports 6151–6199 with a config change only', () => {
    copy = copyConfigs();
    copy.edit('programmer_pool.yaml', (text) => {
      const extra = Array.from({ length: 39 }, (_, i) => {
        const n = i + 11;
        return `  - { id: Prog-${String(n).padStart(3, '0')}, port: ${6150 + n}, parent: Mgr-Docs-01, primary_llm: ollama/qwen2.5-coder:7b-instruct, capabilities: [fast, free] }`;
      }).join('\n');
      return text.replace('pool_size: 10', 'pool_size: 49').replace(/(capabilities: \[free, experimental\] }\n)(?![\s\S]*capabilities: \[free, experimental\] }\n)/, `$1${extra}\n`);
    });
    const config = loadConfig(copy.dir);
    expect(config.programmers).toHaveLength(49);
    expect(config.programmers.at(-1)).toMatchObject({ id: 'Prog-049', port: 6199, parent: 'Mgr-Docs-01' });
  });
});
