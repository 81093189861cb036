/**
 * What the suites that drive Claude Code and Codex against the fake agent provider share: a
 * provider playing the test's scripts and a temp repository, both closed after each test, and a
 * runner of one task through the real pipeline (agent-cli-harness.ts) bound to one CLI.
 */
import { afterEach } from 'vitest';
import type { AgentCliSpec } from '../../../src/executors/agent-cli/agent-cli-spec.ts';
import { runAgentTask, type AgentTaskOptions } from '../../support/agent-cli-harness.ts';
import { startFakeAgentProvider, type FakeAgentProvider, type ModelScript } from '../../support/fake-agent-provider.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';

/** The repository a test starts from unless it names its own files. */
const DEFAULT_FILES = { 'README.md': '# demo\n', 'src/index.js': 'export {};\n' };

export interface AgentCliRig {
  /** The provider and repository of the running test (set up by `setup`). */
  readonly provider: FakeAgentProvider;
  readonly fixture: TempRepo;
  /** Starts the provider with `scripts` (model → script) and a repository holding `files`. */
  setup(scripts: Record<string, ModelScript>, files?: Record<string, string>): Promise<{ provider: FakeAgentProvider; fixture: TempRepo }>;
  /** Runs one task with the rig's CLI (or the one `o` names) on the test's provider and repository. */
  run(o: Partial<AgentTaskOptions> & Pick<AgentTaskOptions, 'primary'>): ReturnType<typeof runAgentTask>;
}

export function agentCliRig(cli?: { spec: AgentCliSpec; binary: string }): AgentCliRig {
  let provider: FakeAgentProvider | undefined;
  let fixture: TempRepo | undefined;
  afterEach(async () => {
    await provider?.close();
    await fixture?.cleanup();
    provider = undefined;
    fixture = undefined;
  });
  const current = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`no ${what}: call setup() first`);
    return value;
  };
  return {
    get provider() {
      return current(provider, 'provider');
    },
    get fixture() {
      return current(fixture, 'fixture');
    },
    async setup(scripts, files = DEFAULT_FILES) {
      provider = await startFakeAgentProvider(scripts);
      fixture = await createTempRepo(files);
      return { provider, fixture };
    },
    run(o) {
      const spec = o.spec ?? cli?.spec;
      const binary = o.binary ?? cli?.binary;
      if (!spec || !binary) throw new Error('agentCliRig: no CLI to run (give the rig one or name it in the run)');
      return runAgentTask({ ...o, spec, binary, provider: current(provider, 'provider'), fixture: current(fixture, 'fixture') });
    },
  };
}
