/**
 * The start-up prewarm of the programmers' reused checkouts: it knows the repositories from the
 * journal (resumed jobs, re-queued tasks, the latest jobs' repositories), makes the checkouts of
 * the programmers that will need one, never holds up the start, and a task that needs a checkout
 * the prewarm is making waits for it and gets its own base.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../../machines/domain.ts';
import { loadConfig, type PasConfig } from '../../../src/config/load-config.ts';
import { setWatchFactory } from '../../../src/executors/checkout-changes.ts';
import { setWatchBudget, watchBudget, watchesInUse } from '../../../src/executors/checkout-watch-budget.ts';
import { checkoutFor, checkoutPath, warmCheckout, type CheckoutInput } from '../../../src/executors/checkouts.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import { createRuntime, type Runtime, type ServiceContext } from '../../../src/runtime/create-runtime.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { savePlan } from '../../../src/runtime/job-progress.ts';
import { knownRepositories, startPrewarm } from '../../../src/runtime/services/prewarm-checkouts.ts';
import { createRepositories } from '../../../src/runtime/services/repositories.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

const silent = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => closeObjectStores());

async function repo(files: Record<string, string> = { 'a.txt': 'a\n', 'src/b.ts': 'b\n' }): Promise<TempRepo> {
  const f = await createTempRepo(files);
  cleanups.push(() => f.cleanup());
  return f;
}

function tmp(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-prewarm-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function journalIn(dir: string): Journal {
  const journal = openJournal(path.join(dir, 'pas.db'));
  cleanups.push(() => journal.close());
  return journal;
}

function job(id: string, extra: Partial<JobSpec> = {}): JobSpec {
  return { id, task: `job ${id}`, submittedAt: new Date().toISOString(), ...extra };
}

/** The shipped config with these programmers running an agent CLI (an executor that needs a checkout). */
function configWithCli(ids: string[]): PasConfig {
  const config = structuredClone(loadConfig(SHIPPED_CONFIGS));
  for (const p of config.programmers) if (ids.includes(p.id)) p.executor = 'claude-code';
  return config;
}

const noSweep = { afterCrash: Promise.resolve(), before: async () => {} };

/** A runtime on the default services whose latest job named a fresh repository, once its prewarm is done; its log's warnings by code (each a warning, level 40). */
async function prewarmedWithLog(config: PasConfig): Promise<{ rt: Runtime; warnings: (code: string) => Array<{ msg: string }> }> {
  const f = await repo();
  const dataDir = tmp();
  const journal = journalIn(dataDir);
  journal.acceptJob(job('j-old', { repo: f.repo }));
  journal.setJobStatus('j-old', 'completed');
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  let services: ReturnType<ReturnType<typeof createDefaultServices>> | undefined;
  const rt: Runtime = createRuntime({ config, dataDir, journal, logger, services: (ctx: ServiceContext) => (services = createDefaultServices({ offline: true })(ctx)) });
  cleanups.push(() => rt.stop());
  await services!.prewarm.done;
  const warnings = (code: string) => {
    const found = lines.map((l) => JSON.parse(l) as { level: number; code?: string; msg: string }).filter((l) => l.code === code);
    for (const w of found) expect(w.level).toBe(40);
    return found;
  };
  return { rt, warnings };
}

describe('checkout prewarm at start', () => {
  it('knows the repositories of resumed jobs (with their plan base), of queued tasks and of the latest jobs, and which of them verify', async () => {
    const dir = tmp();
    const journal = journalIn(dir);
    const config = structuredClone(loadConfig(SHIPPED_CONFIGS));
    config.pas.verify.lanes = { Data: ['git', 'status'] };
    const repositories = createRepositories(dir);
    const [resumed, recent, extra, old, missing] = [await repo(), await repo(), await repo(), await repo(), path.join(dir, 'gone')];
    journal.acceptJob(job('j-resumed', { repo: resumed.repo, lane: 'Data' }));
    savePlan(journal, 'j-resumed', { repo: resumed.repo, baseCommit: resumed.base, subtasks: [] } as never);
    // Finished jobs: only the latest three distinct named repositories count, and only those that exist.
    const finished = [old.repo, extra.repo, missing, recent.repo, recent.repo, resumed.repo];
    finished.forEach((r, i) => {
      journal.acceptJob(job(`j-done-${i}`, { repo: r, submittedAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString() }));
      journal.setJobStatus(`j-done-${i}`, 'completed');
    });
    const known = knownRepositories(journal, repositories, config);
    expect(known).toEqual([
      { repo: resumed.repo, baseCommit: resumed.base, verify: true },
      { repo: recent.repo, baseCommit: 'HEAD', verify: false },
      { repo: extra.repo, baseCommit: 'HEAD', verify: false },
    ]);
  });

  it('makes, in the background, the checkouts of the programmers whose executor runs on files, for a repository the latest jobs named', async () => {
    const f = await repo();
    const dataDir = tmp();
    const journal = journalIn(dataDir);
    journal.acceptJob(job('j-old', { repo: f.repo }));
    journal.setJobStatus('j-old', 'completed');
    const config = configWithCli(['Prog-001', 'Prog-002']);
    let services: ReturnType<ReturnType<typeof createDefaultServices>> | undefined;
    const rt: Runtime = createRuntime({
      config,
      dataDir,
      journal,
      services: (ctx: ServiceContext) => (services = createDefaultServices({ offline: true })(ctx)),
    });
    cleanups.push(() => rt.stop());
    expect(services!.prewarm.plan).toEqual([{ repo: f.repo, baseCommit: 'HEAD', programmerIds: ['Prog-001', 'Prog-002'] }]);
    await services!.prewarm.done;
    const workspaces = path.join(dataDir, 'workspaces');
    for (const id of ['Prog-001', 'Prog-002']) {
      const dir = await checkoutPath(f.repo, workspaces, id);
      expect(await gitOut(dir, 'rev-parse', 'HEAD')).toBe(f.base);
      expect(await gitOut(dir, 'status', '--porcelain')).toBe('');
      expect(existsSync(path.join(dir, 'src', 'b.ts'))).toBe(true);
    }
    // A native programmer edits in memory: no checkout is made for it.
    expect(existsSync(await checkoutPath(f.repo, workspaces, 'Prog-003'))).toBe(false);
  });

  it('says in the runtime’s log, once, naming the inotify limit, when a checkout’s changes cannot be watched (ENOSPC)', async () => {
    setWatchFactory(() => {
      throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
    });
    cleanups.push(() => setWatchFactory(null));
    const { warnings } = await prewarmedWithLog(configWithCli(['Prog-001', 'Prog-002']));
    expect(warnings('PAS_CHECKOUT_WATCH')).toHaveLength(1);
    expect(warnings('PAS_CHECKOUT_WATCH')[0]!.msg).toContain('max_user_watches');
  });

  it('holds the checkouts to programmer_pool.yaml checkouts.max_watches: one that does not fit is not watched, the runtime’s log says so once (PAS_CHECKOUT_WATCH_BUDGET), and stopping gives every watch back', async () => {
    // Each checkout of this repository takes 3 watches (its root, `.git` and src): room for one of the three.
    const config = configWithCli(['Prog-001', 'Prog-002', 'Prog-003']);
    config.pool.checkouts.max_watches = 4;
    cleanups.push(() => setWatchBudget(null));
    const { rt, warnings } = await prewarmedWithLog(config);
    expect(watchBudget()).toBe(4);
    expect(watchesInUse()).toBe(3);
    expect(warnings('PAS_CHECKOUT_WATCH_BUDGET')).toHaveLength(1);
    expect(warnings('PAS_CHECKOUT_WATCH_BUDGET')[0]!.msg).toContain('checkouts.max_watches');
    await rt.stop();
    expect(watchesInUse()).toBe(0);
  });

  it('never holds up the start: startPrewarm returns while its checkouts are still being made, and stop waits for the ones under way', async () => {
    const f = await repo();
    const dir = tmp();
    const journal = journalIn(dir);
    journal.acceptJob(job('j-1', { repo: f.repo }));
    const gates: Array<() => void> = [];
    const asked: CheckoutInput[] = [];
    const prewarm = startPrewarm({
      config: configWithCli(['Prog-001', 'Prog-002', 'Prog-003']),
      journal,
      repositories: createRepositories(dir),
      workspacesDir: path.join(dir, 'workspaces'),
      sweep: noSweep,
      logger: silent,
      needsCheckout: (p) => p.executor !== 'native',
      concurrency: 2,
      warm: (input) => {
        asked.push(input);
        return new Promise((resolve) => gates.push(() => resolve(true)));
      },
    });
    let finished = false;
    void prewarm.done.then(() => (finished = true));
    for (let i = 0; i < 10; i++) await Promise.resolve();
    // Two under way (the concurrency), the third waits, nothing is finished.
    expect(asked.map((a) => a.programmerId)).toEqual(['Prog-001', 'Prog-002']);
    expect(finished).toBe(false);
    let stopped = false;
    const stopping = prewarm.stop().then(() => (stopped = true));
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(stopped).toBe(false);
    for (const open of gates.splice(0)) open();
    await stopping;
    // Stopped: the third checkout was never started.
    expect(asked.map((a) => a.programmerId)).toEqual(['Prog-001', 'Prog-002']);
    expect(finished).toBe(true);
  });

  it('lets a task that needs a checkout the prewarm is making wait for it, then resets it to the task own base', async () => {
    const f = await repo({ 'a.txt': 'first\n' });
    await writeFiles(f.repo, { 'a.txt': 'second\n', 'c.txt': 'new\n' });
    await gitOut(f.repo, 'add', '--all');
    await gitOut(f.repo, 'commit', '-q', '-m', 'second');
    const input = { repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: 'HEAD' };
    const warming = warmCheckout(input);
    // The task asks at once, for the first commit, while the prewarm holds the checkout.
    const lease = await checkoutFor({ ...input, baseCommit: f.base });
    try {
      expect(await warming).toBe(true);
      expect(await gitOut(lease.path, 'rev-parse', 'HEAD')).toBe(f.base);
      expect(await gitOut(lease.path, 'show', 'HEAD:a.txt')).toBe('first');
      expect(existsSync(path.join(lease.path, 'c.txt'))).toBe(false);
      expect(await gitOut(lease.path, 'status', '--porcelain')).toBe('');
      // In use by the task: a second prewarm neither waits nor touches it.
      expect(await warmCheckout(input)).toBe(false);
    } finally {
      lease.release();
    }
    // Made already: nothing to do.
    expect(await warmCheckout(input)).toBe(false);
  });
});
