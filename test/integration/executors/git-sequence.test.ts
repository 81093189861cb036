/**
 * Git commands run one after the other through one spawn of this process (a small shell starts
 * them): each is counted as a git process, their arguments reach git as they are (the shell never
 * parses them), and the first failure ends the sequence with its own exit code and message.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitProcessCount, gitSequence, gitSpawnCount } from '../../../src/executors/git-command.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

describe('gitSequence', () => {
  it('runs the commands in order through one spawn, counts each as a git process, and passes every argument untouched', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n', 'b c.txt': 'b\n' }));
    const marker = path.join(f.root, 'pwned');
    const tricky = `x $(touch ${marker}) \`touch ${marker}\` ; "q' \\ * $HOME`;
    const [processes, spawns] = [gitProcessCount(), gitSpawnCount()];
    const out = await gitSequence(f.repo, [['rev-parse', 'HEAD'], ['log', '-1', `--format=tformat:${tricky}`], ['--literal-pathspecs', 'checkout', '--quiet', f.base, '--pathspec-from-file=-', '--pathspec-file-nul']], { input: 'b c.txt\0' });
    expect(gitProcessCount() - processes).toBe(3);
    expect(gitSpawnCount() - spawns).toBe(1);
    expect(out.stdout).toBe(`${f.base}\n${tricky}\n`);
    expect(existsSync(marker)).toBe(false);
  });

  it('stops at the first failing command with its exit code and message', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    await expect(gitSequence(f.repo, [['rev-parse', '--verify', '--quiet', 'no-such-ref'], ['tag', 'after-failure']])).rejects.toMatchObject({ code: 'PAS_ERR_GIT', details: { exitCode: 1 } });
    expect(await gitOut(f.repo, 'tag', '--list')).toBe('');
    await expect(gitSequence(f.repo, [['tag', 'first'], ['no-such-command']])).rejects.toThrow(/no-such-command/);
    expect(await gitOut(f.repo, 'tag', '--list')).toBe('first');
  });
});
