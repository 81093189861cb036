/**
 * Which receipts file a job names, across a restart on the same data dir, and what a wait for a
 * job that does not end in time says.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PasError } from '../../../src/errors.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { getJson, postJson, startScriptedTree, untilTerminal } from './jobs-support.ts';

const EDIT = { match: { purpose: 'edit' }, reply: 'src/a.js\n<<<<<<< SEARCH\nexport const a = 1;\n=======\nexport const a = 2;\n>>>>>>> REPLACE\n', usage: { input: 20, output: 5 } };

describe('receipts files and waits', () => {
  const trees: TestTree[] = [];
  let repo: TempRepo | undefined;
  let dataDir: string | undefined;

  afterEach(async () => {
    for (const tree of trees.splice(0)) await tree.close();
    await repo?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    repo = dataDir = undefined;
  });

  it('names, after a restart, the receipts file of the run that wrote a job\'s receipts, not the current run\'s', async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-receipts-'));
    repo = await createTempRepo({ 'src/a.js': 'export const a = 1;\n' });
    const first = await startScriptedTree([EDIT], { dataDir, runId: 'run-one' });
    trees.push(first);
    const res = await postJson(`${first.url}/api/jobs`, { task: 'Set a to 2', lane: 'Code', files: ['src/a.js'], repo: repo.repo });
    const done = await untilTerminal(`${first.url}/api/jobs/${res.body.job_id}`);
    expect(done.status).toBe('completed');
    const oneFile = path.join(dataDir, 'receipts', 'run-one.jsonl');
    expect(done.receipts).toBe(oneFile);
    await trees.pop()!.close();

    const second = await startScriptedTree([EDIT], { dataDir, runId: 'run-two' });
    trees.push(second);
    const old = (await getJson(`${second.url}/api/jobs/${res.body.job_id}`)).body;
    expect(old.receipts).toBe(oneFile);
    expect(old.receipt_files).toEqual([oneFile]);
    expect(old.tasks.map((t: { receipts: string[] }) => t.receipts)).toEqual([[oneFile]]);
    // The file it names holds the job's receipt.
    const lines = readFileSync(oneFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { job_id: string });
    expect(lines.map((r) => r.job_id)).toEqual([res.body.job_id]);
  });

  it('rejects a wait that runs out with PAS_ERR_WAIT_TIMEOUT, not as a task timeout, and the job goes on', async () => {
    const tree = await startTestTree({ gateway: false, services: inProcessServices({ outcome: () => 'hang' }) });
    trees.push(tree);
    const job = tree.runtime.submitJob({ task: 'never ends', lane: 'Code', files: ['a.js'] });
    const err = await tree.runtime.waitForJob(job.id, 50).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PasError);
    expect(err).toMatchObject({ code: 'PAS_ERR_WAIT_TIMEOUT', details: { jobId: job.id, timeoutMs: 50 } });
    expect(tree.runtime.getJob(job.id)!.status).toBe('running');
  });
});
