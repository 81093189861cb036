import { afterEach, describe, expect, it } from 'vitest';
import { GitBatchProcess, lineParser } from '../../../src/executors/git-batch.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';

let temp: TempRepo | undefined;
afterEach(async () => {
  await temp?.cleanup();
  temp = undefined;
});

describe('a long-lived git process', () => {
  it('answers a request sent to its successor while the process it replaced is still ending', async () => {
    temp = await createTempRepo({ 'a.txt': 'a\n' });
    const batch = new GitBatchProcess(temp.repo, ['cat-file', '--batch-check']);
    expect(await batch.request('HEAD\n', lineParser)).toBe(`${temp.base} commit ${(await batch.request('HEAD\n', lineParser)).split(' ')[2]}`);
    // What the idle timer does: the old process gets EOF and exits a moment later.
    batch.close();
    const answers = await Promise.all([batch.request('HEAD\n', lineParser), batch.request(`${temp.base}\n`, lineParser)]);
    expect(answers.map((a) => a.split(' ')[1])).toEqual(['commit', 'commit']);
    batch.close();
  });
});
