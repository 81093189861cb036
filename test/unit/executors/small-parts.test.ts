import { describe, expect, it } from 'vitest';
import type { CmdAllowlist } from '../../../src/config/schemas.ts';
import { commandEnv, matchCommand } from '../../../src/executors/command-runner.ts';
import { addUsage } from '../../../src/executors/executor.ts';
import { commitMessage } from '../../../src/executors/run-task.ts';
import { assertSafeId, jobBranchName, parseNumstat, taskBranchName } from '../../../src/executors/worktree.ts';
import { gitEnv } from '../../../src/executors/git-command.ts';
import { registerSecretEnvNames } from '../../../src/redaction.ts';

const allowlist: CmdAllowlist = {
  timeout_s: 120,
  commands: [
    { name: 'npm-test', program: 'npm', args: ['test'], allow_extra_args: false },
    { name: 'node-test', program: 'node', args: ['--test'], allow_extra_args: true },
    { name: 'pytest', program: 'pytest', args: [], allow_extra_args: true },
  ],
};

describe('matchCommand', () => {
  it('matches a program with its exact leading arguments', () => {
    expect(matchCommand(allowlist, ['npm', 'test'])?.name).toBe('npm-test');
  });

  it('refuses extra arguments where allow_extra_args is false', () => {
    expect(matchCommand(allowlist, ['npm', 'test', '--', '--inspect'])).toBeUndefined();
  });

  it('allows extra arguments where allow_extra_args is true', () => {
    expect(matchCommand(allowlist, ['node', '--test', 'test/a.test.js'])?.name).toBe('node-test');
    expect(matchCommand(allowlist, ['pytest', '-k', 'x'])?.name).toBe('pytest');
  });

  it('refuses other leading arguments, other programs, paths and an empty command', () => {
    expect(matchCommand(allowlist, ['node', '-e', 'process.exit()'])).toBeUndefined();
    expect(matchCommand(allowlist, ['npm', 'install'])).toBeUndefined();
    expect(matchCommand(allowlist, ['/usr/bin/npm', 'test'])).toBeUndefined();
    expect(matchCommand(allowlist, ['sh', '-c', 'npm test'])).toBeUndefined();
    expect(matchCommand(allowlist, [])).toBeUndefined();
  });
});

describe('commandEnv', () => {
  it('drops variables that look like secrets', () => {
    const env = commandEnv({ PATH: '/bin', OPENAI_API_KEY: 'sk', GITHUB_TOKEN: 't', DB_PASSWORD: 'p', NODE_ENV: 'test' });
    expect(env).toEqual({ PATH: '/bin', NODE_ENV: 'test', CI: '1' });
  });

  it('drops a variable models.yaml names as an api_key_env, whatever its name', () => {
    registerSecretEnvNames(['DEEPSEEK']);
    const env = commandEnv({ PATH: '/bin', DEEPSEEK: 'dsk-secret-value', NODE_ENV: 'test' });
    expect(env).toEqual({ PATH: '/bin', NODE_ENV: 'test', CI: '1' });
  });
});

describe('parseNumstat', () => {
  it('sums lines and counts a binary file as changed', () => {
    expect(parseNumstat('3\t1\tsrc/a.ts\x0010\t0\tsrc/b.ts\x00-\t-\timg.png\x00')).toEqual({ files_changed: 3, lines_added: 13, lines_removed: 1 });
  });

  it('answers zeros for an empty diff', () => {
    expect(parseNumstat('')).toEqual({ files_changed: 0, lines_added: 0, lines_removed: 0 });
  });
});

describe('addUsage', () => {
  it('adds counts both sides know', () => {
    expect(addUsage({ input: 10, output: 5 }, { input: 1, output: 2 })).toEqual({ input: 11, output: 7 });
  });

  it('makes a sum unknown when one side did not report it', () => {
    expect(addUsage({ input: 10, output: null }, { input: 1, output: 2 })).toEqual({ input: 11, output: null });
  });

  it('keeps optional counts when only one side has them', () => {
    expect(addUsage({ input: 1, output: 1, cache_read: 4 }, { input: 1, output: 1 })).toEqual({ input: 2, output: 2, cache_read: 4 });
    expect(addUsage({ input: 1, output: 1, thinking: null }, { input: 1, output: 1, thinking: 3 })).toEqual({ input: 2, output: 2, thinking: null });
  });
});

describe('branch names', () => {
  it('names task and job branches under pas/', () => {
    expect(taskBranchName('j1', 't-2')).toBe('pas/j1/t-2');
    expect(jobBranchName('j1')).toBe('pas/job-j1');
  });

  it('refuses ids that cannot be a ref component or a folder', () => {
    for (const id of ['', '../x', 'a/b', 'x.lock', '-x', 'a b', 'a..b', 'a~1', 'a:b']) {
      expect(() => assertSafeId('task', id), id).toThrow(/cannot name a branch/);
    }
  });

  it('writes a commit message that names the task and the job', () => {
    expect(commitMessage({ id: 't1', jobId: 'j1', managerId: 'm', replyTo: 'm', instruction: 'Add a greeting\nwith details', files: [] })).toMatch(
      /^pas: task t1 of job j1: Add a greeting\n/,
    );
  });
});

describe('gitEnv', () => {
  it('gives git the caller environment without GIT_* variables or secrets, and PAS as author', () => {
    registerSecretEnvNames(['MY_PROVIDER_KEY']);
    const env = gitEnv({ PATH: '/usr/bin', HOME: '/root', GIT_DIR: '/elsewhere', OPENAI_API_KEY: 'sk-live-0123456789', GITHUB_TOKEN: 'ghp_0123456789', DB_PASSWORD: 'hunter22hunter', MY_PROVIDER_KEY: 'abcd1234' });
    expect(env.PATH).toBe('/usr/bin');
    expect(env.HOME).toBe('/root');
    for (const name of ['GIT_DIR', 'OPENAI_API_KEY', 'GITHUB_TOKEN', 'DB_PASSWORD', 'MY_PROVIDER_KEY']) expect(env).not.toHaveProperty(name);
    expect(env.GIT_AUTHOR_NAME).toBe('PAS');
  });
});
