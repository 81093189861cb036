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

  it('sends the requests made in one run of callbacks to git in one write, and answers each in order', async () => {
    temp = await createTempRepo({ 'a.txt': 'a\n' });
    const batch = new GitBatchProcess(temp.repo, ['cat-file', '--batch-check']);
    await batch.request('HEAD\n', lineParser);
    const stdin = (batch as unknown as { child: { stdin: { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void } } }).child.stdin;
    let writes = 0;
    for (const method of ['_write', '_writev'] as const) {
      const original = stdin[method].bind(stdin);
      stdin[method] = (...args: unknown[]) => {
        writes++;
        original(...args);
      };
    }
    const specs = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? `missing-${i}` : i % 3 === 1 ? 'HEAD' : `${temp!.base}`));
    const answers = await Promise.all(specs.map((spec) => batch.request(`${spec}\n`, lineParser)));
    expect(writes).toBe(1);
    answers.forEach((answer, i) => {
      if (i % 3 === 0) expect(answer).toBe(`missing-${i} missing`);
      else expect(answer.split(' ').slice(0, 2)).toEqual([temp!.base, 'commit']);
    });
    // A request in a later turn is written on its own and answered.
    expect((await batch.request('HEAD\n', lineParser)).split(' ')[1]).toBe('commit');
    expect(writes).toBe(2);
    batch.close();
  });
});
