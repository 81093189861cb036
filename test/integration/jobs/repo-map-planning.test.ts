/**
 * Planning from the repository: the Manager's prompt carries the map of the base commit, a plan
 * that names files the repository does not have is asked for once more, and each subtask's
 * programmer is shown the neighbouring files read-only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { postJson, startScriptedTree, untilTerminal, type ScriptedTree } from './jobs-support.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

const SHOP = {
  'src/prices.ts': 'export function price(sku: string): number { return sku.length; }\n',
  'src/cart.ts': "import { price } from './prices.ts';\nexport function total(skus: string[]) { return skus.map(price).reduce((a, b) => a + b, 0); }\n",
  'src/checkout.ts': "import { total } from './cart.ts';\nexport function pay(skus: string[]) { return total(skus); }\n",
  'README.md': '# Shop\n',
};

const plan = (subtasks: unknown[], extra: Partial<CassetteEntry> = {}): CassetteEntry => ({ match: { purpose: 'plan' }, reply: JSON.stringify({ subtasks }), usage: { input: 300, output: 30 }, ...extra });

describe('planning from the repository map', () => {
  let tree: ScriptedTree | undefined;
  let repo: TempRepo | undefined;
  afterEach(async () => {
    await tree?.close();
    await repo?.cleanup();
    tree = repo = undefined;
  });

  it('plans a job that names no files over the real files, asking once more when the plan names a file that does not exist', async () => {
    repo = await createTempRepo(SHOP);
    tree = await startScriptedTree([
      // The second answer, given only after PAS said what was wrong with the first.
      plan([{ instruction: 'Round totals to cents in total().', files: ['src/cart.ts'] }], {
        match: { purpose: 'plan', contains: 'REPLAN: that plan cannot be used: the plan uses src/basket.ts, which is not in the repository' },
      }),
      // The first answer: only for a prompt that carries the repository map of the base commit.
      plan([{ instruction: 'Round totals to cents.', files: ['src/basket.ts'] }], {
        match: { purpose: 'plan', contains: `Repository map at ${repo.base.slice(0, 12)} (4 files; most relevant first):` },
        times: 1,
      }),
      {
        // The cart subtask sees prices.ts (what it uses) and checkout.ts (what uses it) read-only.
        match: { purpose: 'edit', regex: 'Read-only context \\(neighbouring files; do not edit them\\):\\n\\nsrc/(prices|checkout)\\.ts[\\s\\S]*src/(prices|checkout)\\.ts[\\s\\S]*Files to edit:\\n\\nsrc/cart\\.ts' },
        reply: 'src/cart.ts\n<<<<<<< SEARCH\nreduce((a, b) => a + b, 0); }\n=======\nreduce((a, b) => a + b, 0) * 100 / 100; }\n>>>>>>> REPLACE\n',
        usage: { input: 80, output: 12 },
      },
    ]);

    const accepted = await postJson(`${tree.url}/api/jobs`, { task: 'Round the cart total to cents', lane: 'Code', repo: repo.repo });
    expect(accepted.status).toBe(202);
    const job = await untilTerminal(`${tree.url}/api/jobs/${accepted.body.job_id}`);

    expect(job.status).toBe('completed');
    expect(job.tasks.map((t: JsonAnswer) => t.files)).toEqual([['src/cart.ts']]);
    expect(tree.scripted.calls.filter((c) => c.purpose === 'plan')).toHaveLength(2);
    // Both plan calls are paid for: tokens of the plan are 2 × 300 in, plus the edit's 80.
    expect(job.tokens.input).toBe(680);
    expect(await gitOut(repo.repo, 'show', `${job.merged_branch}:src/cart.ts`)).toContain('* 100 / 100; }');
  });

  it('lets a plan name a new file that its subtask says it creates', async () => {
    repo = await createTempRepo(SHOP);
    tree = await startScriptedTree([
      plan([{ instruction: 'Add a discounts module.', files: ['src/discounts.ts'], creates: ['src/discounts.ts'] }], { times: 1 }),
      { match: { purpose: 'edit', contains: 'src/discounts.ts' }, reply: 'src/discounts.ts\n<<<<<<< SEARCH\n=======\nexport const NONE = 0;\n>>>>>>> REPLACE\n', usage: { input: 20, output: 5 } },
    ]);
    const accepted = await postJson(`${tree.url}/api/jobs`, { task: 'Add discounts', lane: 'Code', repo: repo.repo });
    const job = await untilTerminal(`${tree.url}/api/jobs/${accepted.body.job_id}`);
    expect(job.status).toBe('completed');
    expect(tree.scripted.calls.filter((c) => c.purpose === 'plan')).toHaveLength(1);
    expect(await gitOut(repo.repo, 'show', `${job.merged_branch}:src/discounts.ts`)).toBe('export const NONE = 0;');
  });

  it('falls back to one subtask per named file when the second plan is unusable too', async () => {
    repo = await createTempRepo(SHOP);
    tree = await startScriptedTree([
      plan([{ instruction: 'Both at once.', files: ['src/cart.ts', 'src/ghost.ts'] }], { times: 2 }),
      { match: { purpose: 'edit' }, reply: 'Nothing to change.', usage: { input: 10, output: 2 } },
    ]);
    const accepted = await postJson(`${tree.url}/api/jobs`, { task: 'Tidy', lane: 'Code', files: ['src/cart.ts', 'src/checkout.ts'], repo: repo.repo });
    const job = await untilTerminal(`${tree.url}/api/jobs/${accepted.body.job_id}`);
    expect(tree.scripted.calls.filter((c) => c.purpose === 'plan')).toHaveLength(2);
    expect(job.tasks.map((t: JsonAnswer) => t.files)).toEqual([['src/cart.ts'], ['src/checkout.ts']]);
  });
});
