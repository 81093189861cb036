/**
 * The checkout step alone, one task after another on one programmer's reused checkout of a
 * generated repository: CPU per task of this process and of its git children, git processes and
 * spawns per task. `checkout`: take the checkout, edit a file, stage and write its tree, give it
 * back (the path of a CLI executor); `checkout-listed`: the same, staged from the list of changed
 * paths (what the checkout's watches heard, checkout-changes.ts: stage-changes.ts, no `git add --all`); `verify`: take it,
 * write the edit, run `git status` in it as the verify command, give it back. No model, no pool:
 * what the checkout itself costs.
 *
 * Run alone: `npx tsx scripts/bench-checkout-step.ts [--files 5000] [--tasks 40]`.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { changedPaths } from '../src/executors/checkout-changes.ts';
import { checkoutFor, checkoutTree } from '../src/executors/checkouts.ts';
import { gitProcessCount, gitSpawnCount } from '../src/executors/git-command.ts';
import { closeObjectStores, objectStoreFor } from '../src/executors/object-store.ts';
import { cpuSample } from './bench-cpu.ts';
import { createLargeRepo, isMain, tempDir } from './bench-support.ts';

export interface StepFigures {
  mode: 'checkout' | 'checkout-listed' | 'verify';
  files: number;
  tasks: number;
  processMsPerTask: number;
  childrenMsPerTask: number;
  gitProcessesPerTask: number;
  gitSpawnsPerTask: number;
}

function run(argv: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => execFile(argv[0]!, argv.slice(1), { cwd }, (err) => (err ? reject(err) : resolve())));
}

export async function runCheckoutStep(options: { files?: number; tasks?: number } = {}): Promise<StepFigures[]> {
  const files = options.files ?? 5_000;
  const tasks = options.tasks ?? 40;
  const root = tempDir('pas-bench-step-');
  // The repository's reader is an unref'd child: keep the loop alive while waiting on it.
  const keep = setInterval(() => undefined, 1_000);
  try {
    const { repo, baseCommit } = await createLargeRepo(path.join(root, 'repo'), files);
    const workspacesDir = path.join(root, 'workspaces');
    const store = await objectStoreFor(repo);
    const baseTree = await store.commitTree(baseCommit);
    const out: StepFigures[] = [];
    for (const mode of ['checkout', 'checkout-listed', 'verify'] as const) {
      const one = async (i: number) => {
        const lease = await checkoutFor({ repo, workspacesDir, programmerId: `Prog-${mode}`, baseCommit });
        writeFileSync(path.join(lease.path, 'README.md'), `# bench\n\nedited by task ${i}\n`);
        if (mode !== 'verify') {
          await checkoutTree(lease.path, store, baseTree, mode === 'checkout-listed' ? await changedPaths(lease.path) : null);
          lease.release();
        } else {
          await run(['git', 'status'], lease.path);
          lease.release();
        }
      };
      // Made, then settled (a checkout just made has every file as new as its index).
      for (let i = 0; i < 5; i++) await one(i);
      await new Promise((r) => setTimeout(r, 1_100));
      for (let i = 0; i < 3; i++) await one(i);
      const [cpu, processes, spawns] = [cpuSample(), gitProcessCount(), gitSpawnCount()];
      for (let i = 0; i < tasks; i++) await one(i);
      const after = cpuSample();
      const per = (n: number) => Math.round((n / tasks) * 100) / 100;
      out.push({ mode, files, tasks, processMsPerTask: per(after.selfMs - cpu.selfMs), childrenMsPerTask: per(after.childrenMs - cpu.childrenMs), gitProcessesPerTask: per(gitProcessCount() - processes), gitSpawnsPerTask: per(gitSpawnCount() - spawns) });
    }
    return out;
  } finally {
    clearInterval(keep);
    await closeObjectStores();
    rmSync(root, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const files = arg('--files');
  const tasks = arg('--tasks');
  for (const r of await runCheckoutStep({ ...(files ? { files } : {}), ...(tasks ? { tasks } : {}) })) console.log(JSON.stringify(r));
}
