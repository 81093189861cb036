/**
 * The object writer's choices, measured in one run on one scratch repository: a burst of `k`
 * objects written as one pack (synced, as git syncs packs; or not) or as `k` loose objects, for
 * several `k`. Prints the time per burst (from the writes asked to the last one settled) and the
 * ratio to loose; the machine is shared, so read the ratios, not the times.
 *
 *   npx tsx scripts/bench-object-writer.ts [--bursts 40]
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { ObjectWriter } from '../src/executors/object-writer.ts';

const bursts = Number(process.argv[process.argv.indexOf('--bursts') + 1]) || 40;
const root = await mkdtemp(path.join(os.tmpdir(), 'pas-bench-writer-'));
await execa('git', ['init', '--quiet', root]);
const objects = path.join(root, '.git', 'objects');
let serial = 0;

/** A source-file-like blob, different every time. */
function object(): { oid: string; raw: Buffer } {
  const data = Buffer.from(`// file ${++serial}\n${'export const value = 1;\n'.repeat(40)}`);
  const raw = Buffer.concat([Buffer.from(`blob ${data.length}\0`), data]);
  return { oid: createHash('sha1').update(raw).digest('hex'), raw };
}

async function perBurst(writer: ObjectWriter, k: number): Promise<number> {
  // One burst to start the threads.
  await Promise.all(Array.from({ length: k }, () => writer.write(objects, object())));
  const times: number[] = [];
  for (let b = 0; b < bursts; b++) {
    const start = performance.now();
    await Promise.all(Array.from({ length: k }, () => writer.write(objects, object())));
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}

const modes = {
  loose: { packFrom: Number.POSITIVE_INFINITY },
  'pack, synced': { packFrom: 2, sync: true },
  'pack, not synced': { packFrom: 2, sync: false },
};
try {
  console.log(`median ms per burst of k objects (${bursts} bursts each), and the ratio to loose`);
  for (const k of [2, 3, 5, 10, 100]) {
    const row: string[] = [];
    let loose = 0;
    // Interleaved (loose, packs, loose again...) so a change of load hits every mode alike.
    const sums: Record<string, number> = {};
    for (let rep = 0; rep < 3; rep++) {
      for (const [name, options] of Object.entries(modes)) {
        const writer = new ObjectWriter(1, options);
        sums[name] = (sums[name] ?? 0) + (await perBurst(writer, k));
        await writer.close();
      }
    }
    loose = sums.loose! / 3;
    for (const name of Object.keys(modes)) row.push(`${name} ${(sums[name]! / 3).toFixed(2)} ms (${(sums[name]! / 3 / loose).toFixed(2)}×)`);
    console.log(`k=${String(k).padEnd(4)} ${row.join('  ')}`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
