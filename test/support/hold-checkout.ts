/**
 * Run as a script (`node --import tsx test/support/hold-checkout.ts '<json>'`): takes a
 * programmer's reused checkout, leaves a task's traces in it (a changed tracked file, a new file,
 * an ignored file), stages it (checkoutTree) and prints `staged`, then holds it until killed: a
 * PAS killed with a checkout in hand, for the crash tests.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkoutFor, checkoutTree } from '../../src/executors/checkouts.ts';
import { objectStoreFor } from '../../src/executors/object-store.ts';

export interface HoldInput {
  repo: string;
  workspacesDir: string;
  programmerId: string;
  base: string;
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  // Held open from the start: the repository's reader is an unref'd child, which alone keeps no process alive.
  setInterval(() => undefined, 1_000);
  const input = JSON.parse(process.argv[2]!) as HoldInput;
  const lease = await checkoutFor({ repo: input.repo, workspacesDir: input.workspacesDir, programmerId: input.programmerId, baseCommit: input.base });
  await writeFile(path.join(lease.path, 'a.txt'), 'left by a killed holder\n');
  await writeFile(path.join(lease.path, 'held.txt'), 'held\n');
  await writeFile(path.join(lease.path, 'held.log'), 'ignored\n');
  const store = await objectStoreFor(input.repo);
  await checkoutTree(lease.path, store, await store.commitTree(input.base));
  process.stdout.write('staged\n');
}
