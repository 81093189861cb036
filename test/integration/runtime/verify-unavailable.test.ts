/**
 * Runtime services without a verifyJob (embedders, orchestration tests) cannot verify a merged
 * branch: a job with a verify command ends with PAS_ERR_VERIFY_UNAVAILABLE naming the command,
 * not with a claim that the command is not allowlisted, and keeps what was merged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createRuntime, type Runtime } from '../../../src/runtime/create-runtime.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

let runtime: Runtime | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await runtime?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  runtime = dataDir = undefined;
});

describe('a job with a verify command on runtime services that cannot verify', () => {
  it('ends with PAS_ERR_VERIFY_UNAVAILABLE naming the command, its subtasks merged', async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'pas-verify-unavailable-'));
    const base = inProcessServices();
    const { verifyJob: _none, ...services } = base;
    runtime = createRuntime({
      config: loadConfig(SHIPPED_CONFIGS),
      dataDir,
      services: { ...services, mergeJob: async (input, signal) => ({ ...(await base.mergeJob(input, signal)), head: 'a'.repeat(40) }) },
    });
    const { id } = runtime.submitJob({ task: 'Tidy a', lane: 'Code', files: ['src/a.js'], verify: ['node', '--test'] });
    const job = await runtime.waitForJob(id, 20_000);
    expect(job.error).toMatchObject({ code: 'PAS_ERR_VERIFY_UNAVAILABLE', details: { verify: ['node', '--test'] } });
    expect(runtime.journal.tasksForJob(id).map((t) => [t.status, t.merged])).toEqual([['completed', true]]);
  });
});
