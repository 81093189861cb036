import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WalSync } from '../../../src/journal/wal-sync.ts';

describe('WalSync (the journal WAL fsync off the event loop)', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pas-wal-sync-'));
    file = join(dir, 'pas.db-wal');
    writeFileSync(file, 'frames');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves settled() once the fsync asked for by a commit is done, and at once when nothing is pending', async () => {
    const sync = new WalSync(file);
    try {
      await sync.settled();
      expect(sync.syncs).toBe(0);
      sync.request();
      expect(sync.pending).toBe(true);
      await sync.settled();
      expect(sync.pending).toBe(false);
      expect(sync.syncs).toBe(1);
    } finally {
      sync.close();
    }
  });

  it('lets the commits that arrive while an fsync runs share the next one', async () => {
    const sync = new WalSync(file);
    try {
      sync.request();
      const first = sync.settled();
      for (let i = 0; i < 10; i++) sync.request();
      const all = sync.settled();
      await Promise.all([first, all]);
      expect(sync.syncs).toBe(2);
    } finally {
      sync.close();
    }
  });

  it('syncs on the calling thread with syncNow, which settles the waiters and leaves nothing pending', async () => {
    const sync = new WalSync(file);
    try {
      sync.syncNow();
      expect(sync.syncs).toBe(0);
      sync.request();
      const waiting = sync.settled();
      sync.syncNow();
      expect(sync.pending).toBe(false);
      await waiting;
    } finally {
      sync.close();
    }
  });

  it('rejects the waiters with PAS_ERR_JOURNAL when the WAL cannot be synced, and tries again at the next commit', async () => {
    rmSync(file);
    const sync = new WalSync(file);
    try {
      sync.request();
      await expect(sync.settled()).rejects.toMatchObject({ code: 'PAS_ERR_JOURNAL' });
      expect(sync.pending).toBe(true);
      writeFileSync(file, 'frames');
      sync.request();
      await sync.settled();
      expect(sync.pending).toBe(false);
      expect(sync.syncs).toBe(1);
    } finally {
      sync.close();
    }
  });

  it('enters a failed state when an fsync fails: logs it once, rejects every waiter, and refuses every later request, syncNow and settled', async () => {
    // fdatasync of /dev/null fails (EINVAL): it stands in for an EIO from the disk.
    const logged: Error[] = [];
    const sync = new WalSync('/dev/null', (err) => logged.push(err));
    try {
      sync.request();
      sync.request();
      const later = sync.settled().then(
        () => 'resolved',
        (err: unknown) => (err as { code?: string }).code,
      );
      const outcome = await Promise.race([later, new Promise((resolve) => setTimeout(() => resolve('pending'), 1000))]);
      expect(outcome).toBe('PAS_ERR_JOURNAL');
      await expect(sync.settled()).rejects.toMatchObject({ code: 'PAS_ERR_JOURNAL' });
      expect(() => sync.request()).toThrow(expect.objectContaining({ code: 'PAS_ERR_JOURNAL' }));
      expect(() => sync.syncNow()).toThrow(expect.objectContaining({ code: 'PAS_ERR_JOURNAL' }));
      await expect(sync.settled()).rejects.toMatchObject({ code: 'PAS_ERR_JOURNAL' });
      expect(sync.syncs).toBe(0);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ code: 'PAS_ERR_JOURNAL' });
    } finally {
      sync.close();
    }
  });

  it('settles every waiter when closed (the journal close has made its commits durable)', async () => {
    const sync = new WalSync(file);
    sync.request();
    const waiting = sync.settled();
    sync.close();
    await waiting;
    sync.request();
    await sync.settled();
    expect(sync.pending).toBe(false);
  });
});
