import { describe, expect, it } from 'vitest';
import { commitAcks } from '../../../src/distribution/commit-acks.ts';

/** A journal whose fsync the test finishes (or fails) by hand. */
function fakeJournal() {
  const calls: string[] = [];
  let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
  return {
    calls,
    finishSync: () => settle?.resolve(),
    failSync: (err: Error) => settle?.reject(err),
    journal: {
      flush: () => void calls.push('flush'),
      commitPending: () => void calls.push('commitPending'),
      synced: () => {
        calls.push('synced');
        return new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      },
    },
  };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('acks after the journal commit', () => {
  it('are sent once the commit of the turn is on disk, without an fsync on the event loop (no flush)', async () => {
    const j = fakeJournal();
    const acks = commitAcks(() => j.journal);
    const acked: string[] = [];
    acks.later(() => acked.push('a'));
    acks.later(() => acked.push('b'));
    expect(j.calls).toEqual([]);
    await turn();
    expect(j.calls).toEqual(['commitPending', 'synced']);
    expect(acked).toEqual([]);
    j.finishSync();
    await turn();
    expect(acked).toEqual(['a', 'b']);
    expect(j.calls).not.toContain('flush');
  });

  it('are not sent when the fsync fails (the messages come back from the broker)', async () => {
    const j = fakeJournal();
    const failures: unknown[] = [];
    const acks = commitAcks(() => j.journal, (err) => failures.push(err));
    const acked: string[] = [];
    acks.later(() => acked.push('a'));
    await turn();
    j.failSync(new Error('EIO'));
    await turn();
    expect(acked).toEqual([]);
    expect(failures).toHaveLength(1);
  });

  it('are all sent by now() after a flush, those waiting for an fsync too, and never twice', async () => {
    const j = fakeJournal();
    const acks = commitAcks(() => j.journal);
    const acked: string[] = [];
    acks.later(() => acked.push('syncing'));
    await turn();
    acks.later(() => acked.push('this turn'));
    acks.now();
    expect(j.calls).toContain('flush');
    expect(acked.sort()).toEqual(['syncing', 'this turn']);
    j.finishSync();
    await turn();
    await turn();
    expect(acked).toHaveLength(2);
  });
});

describe('an ack that throws', () => {
  it('(its connection closed meanwhile) does not stop the others nor reject anywhere', async () => {
    const j = fakeJournal();
    const acks = commitAcks(() => j.journal);
    const acked: string[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      acks.later(() => {
        throw new Error('CONNECTION_CLOSED');
      });
      acks.later(() => acked.push('b'));
      await turn();
      j.finishSync();
      await turn();
      await turn();
      expect(acked).toEqual(['b']);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
