/**
 * What code without a shared filesystem costs: base bundles (full vs incremental) of a real
 * repository, applying them in a worker cache, importing a one-commit result, and a bundle's round
 * trip through JetStream's object store on a local nats-server. Ratios are from the same run.
 *
 *   npx tsx scripts/bench-bundles.ts [--repo PATH] [--back N]   → artifacts/bench/bundles.json
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { bundleObjectName, getBundle, importResultBundle, makeBaseBundle, putBundle, repoKeyOf, WorkerRepoCache } from '../src/distribution/bundles.ts';
import { connectNats, ensureStreams } from '../src/distribution/nats-connection.ts';
import { startNatsServer } from '../test/support/nats-server.ts';

const { values } = parseArgs({ options: { repo: { type: 'string', default: '.' }, back: { type: 'string', default: '10' } } });
const repo = path.resolve(values.repo!);
const back = Number(values.back);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, Math.round((performance.now() - start) * 10) / 10];
}

const git = async (cwd: string, ...args: string[]) => (await execa('git', args, { cwd })).stdout.trim();
const head = await git(repo, 'rev-parse', 'HEAD');
const older = await git(repo, 'rev-parse', `HEAD~${back}`);
const scratch = await mkdtemp(path.join(os.tmpdir(), 'pas-bench-bundles-'));
try {
  const [full, fullMs] = await timed(() => makeBaseBundle(repo, head));
  const [incremental, incMs] = await timed(() => makeBaseBundle(repo, head, { haves: [older] }));
  const cache = new WorkerRepoCache(path.join(scratch, 'worker'));
  const key = await repoKeyOf(repo);
  const olderBundle = await makeBaseBundle(repo, older);
  const [, applyFullMs] = await timed(() => cache.ensureBase(key, olderBundle.bytes, older));
  const [clone, applyIncMs] = await timed(() => cache.ensureBase(key, incremental.bytes, head));

  // A one-commit result on top of head, imported into a scratch copy of the repository's refs (never the repository itself).
  await git(clone, 'checkout', '-q', '--detach', head);
  await mkdir(path.join(clone, 'bench'), { recursive: true });
  await writeFile(path.join(clone, 'bench', 'result.txt'), 'a result\n');
  await git(clone, 'add', '--all');
  await execa('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '-m', 'bench result'], { cwd: clone });
  const commit = await git(clone, 'rev-parse', 'HEAD');
  const [result, resultMs] = await timed(() => cache.makeResultBundle(clone, head, commit));
  const central = path.join(scratch, 'central');
  await execa('git', ['clone', '-q', '--bare', '--shared', repo, central]);
  const [, importMs] = await timed(() => importResultBundle(central, result, { base: head, expectedRef: 'refs/heads/pas/bench/t1', attemptId: 'bench:t1:a1', commit }));

  const server = await startNatsServer();
  const nats = await connectNats(server.url);
  let putMs = 0;
  let getMs = 0;
  try {
    const { bundles } = await ensureStreams(nats, 'bench');
    const name = bundleObjectName('bench:t1:a1', 'base');
    [, putMs] = await timed(() => putBundle(bundles, name, full.bytes!));
    [, getMs] = await timed(() => getBundle(bundles, name));
  } finally {
    await nats.close();
    await server.close();
  }
  const mb = full.bytes!.byteLength / 1024 / 1024;
  const report = {
    repo,
    commits_back: back,
    full: { bytes: full.bytes!.byteLength, ms: fullMs },
    incremental: { bytes: incremental.bytes!.byteLength, ms: incMs, ratio_of_full: Math.round((incremental.bytes!.byteLength / full.bytes!.byteLength) * 1000) / 1000 },
    worker_apply_ms: { full: applyFullMs, incremental: applyIncMs },
    result: { bytes: result.byteLength, make_ms: resultMs, import_ms: importMs },
    object_store: { put_ms: putMs, get_ms: getMs, put_mib_s: Math.round((mb / (putMs / 1000)) * 10) / 10, get_mib_s: Math.round((mb / (getMs / 1000)) * 10) / 10 },
    measured_at: new Date().toISOString(),
  };
  await mkdir('artifacts/bench', { recursive: true });
  await writeFile('artifacts/bench/bundles.json', JSON.stringify(report, null, 2) + '\n');
  console.log(JSON.stringify(report, null, 2));
} finally {
  await rm(scratch, { recursive: true, force: true });
}
