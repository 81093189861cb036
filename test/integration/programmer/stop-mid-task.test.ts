/**
 * Stopping the runtime while a subtask runs: the stop aborts the run and returns only once its
 * executor's processes are gone (one that ignores SIGTERM is killed after the kill grace), so
 * nothing writes into the data dir after `await stop()` and it can be removed at once. The
 * journal keeps the task as running, which a restart resumes or reports interrupted.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournal } from '../../../src/journal/journal.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { until } from '../gateway/gateway-helpers.ts';
import { agentUrl, BASE_URL_ENV, GREET, http, programmerConfig, setEnv } from './programmer-harness.ts';

/** An "aider" that ignores SIGTERM and appends to a file in its worktree until it is killed. */
function busyWriter(dir: string): string {
  const file = path.join(dir, 'aider-busy');
  writeFileSync(
    file,
    ['#!/bin/sh', "trap '' TERM", `echo $$ > '${dir}/pid'`, `echo "$PWD" > '${dir}/cwd'`, 'i=0', 'while :; do i=$((i+1)); echo "line $i" >> busy.txt; sleep 0.02; done', ''].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('stopping the runtime with a subtask running', () => {
  let tree: TestTree | undefined;
  let cfg: TempConfig | undefined;
  let fixture: TempRepo | undefined;
  let scratch: string | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    await tree?.close();
    await fixture?.cleanup();
    cfg?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    restoreEnv?.();
    tree = cfg = fixture = scratch = restoreEnv = undefined;
  });

  it('returns only once the executor has stopped writing into its worktree, and leaves the task running in the journal', async () => {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: 'sk-test-stop-0001' });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-stop-'));
    cfg = programmerConfig({
      programmers: [{ id: 'Prog-001', primary: 'openai/gpt-4o', capabilities: ['premium', 'paid'] }],
      baseUrls: { openai: 'http://127.0.0.1:9/v1' },
      aiderBinary: busyWriter(scratch),
    });
    fixture = await createTempRepo({ 'src/greet.ts': GREET });
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices({}) });
    const accepted = await http(`${agentUrl(tree, 'Prog-001')}/aider/edit`, { body: { task_id: 'busy-1', message: 'keep writing', files: ['src/greet.ts'], repo: fixture.repo } });
    expect(accepted.status, accepted.text).toBe(202);

    const cwdFile = path.join(scratch, 'cwd');
    await until(() => existsSync(cwdFile) && existsSync(path.join(readFileSync(cwdFile, 'utf8').trim(), 'busy.txt')), 20_000, 'the executor writing');
    const busy = path.join(readFileSync(cwdFile, 'utf8').trim(), 'busy.txt');
    const pid = Number(readFileSync(path.join(scratch, 'pid'), 'utf8'));
    expect(busy.startsWith(tree.dataDir)).toBe(true);
    expect(alive(pid)).toBe(true);

    await tree.gateway!.close();
    await tree.runtime.stop();

    expect(alive(pid), 'the executor is gone once stop() has returned').toBe(false);
    const size = statSync(busy).size;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(statSync(busy).size, 'nothing writes after stop()').toBe(size);

    // Not a final: the task stays running in the journal, for the restart to resume or interrupt.
    const journal = openJournal(path.join(tree.dataDir, 'pas.db'));
    try {
      expect(journal.getTask('busy-1')?.status).toBe('running');
    } finally {
      journal.close();
    }
    // The data dir goes at once: nothing is still writing into it.
    rmSync(tree.dataDir, { recursive: true, force: true });
    expect(existsSync(tree.dataDir)).toBe(false);
  });
});
