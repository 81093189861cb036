/**
 * A first delivery's executor waits for the worker's look at the task's attempt: it runs only for
 * the current attempt; for a stale one (or when the attempt cannot be known) it fails unrun.
 */
import { describe, expect, it } from 'vitest';
import { gatedExecutor } from '../../../src/distribution/gated-executor.ts';
import type { Executor, ExecutorInput, ExecutorOutcome } from '../../../src/executors/executor.ts';

function counting(): Executor & { runs: number } {
  const outcome = { summary: 'done', filesEdited: [], provider: 'p', model: 'm', usedBackup: false, tokens: { input: 1, output: 1 }, costUsd: 0 } as unknown as ExecutorOutcome;
  const executor = {
    kind: 'native' as const,
    checkout: 'none' as const,
    runs: 0,
    async run(this: { runs: number }) {
      this.runs++;
      return outcome;
    },
  };
  return executor;
}

const input = {} as ExecutorInput;

describe('an executor gated on the attempt being current', () => {
  it('starts only once the attempt is known to be current, and keeps the executor\'s kind and checkout', async () => {
    const executor = counting();
    let answer!: (current: boolean) => void;
    const gated = gatedExecutor(executor, new Promise<boolean>((r) => (answer = r)), 't1.a1.x');
    expect(gated.kind).toBe('native');
    expect(gated.checkout).toBe('none');
    const run = gated.run(input);
    await new Promise((r) => setTimeout(r, 10));
    expect(executor.runs).toBe(0);
    answer(true);
    await expect(run).resolves.toMatchObject({ summary: 'done' });
    expect(executor.runs).toBe(1);
  });

  it('never runs for an attempt that is not current, or one that cannot be known, failing with PAS_ERR_DIST_STALE_RESULT', async () => {
    const executor = counting();
    await expect(gatedExecutor(executor, Promise.resolve(false), 't1.a1.x').run(input)).rejects.toMatchObject({ code: 'PAS_ERR_DIST_STALE_RESULT', details: { attemptId: 't1.a1.x' } });
    await expect(gatedExecutor(executor, Promise.reject(new Error('broker gone')), 't1.a1.y').run(input)).rejects.toMatchObject({ code: 'PAS_ERR_DIST_STALE_RESULT' });
    expect(executor.runs).toBe(0);
  });
});
