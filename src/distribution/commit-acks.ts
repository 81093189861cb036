/**
 * Acks of stream messages that may leave the broker only once the journal has committed what they
 * carried (a remote task's finish, a worker's spend) and that commit is on disk. The journal
 * groups the writes of one event-loop turn into one transaction (Journal.deferCommit); the acks
 * asked for during a turn are sent once that group is committed and its fsync done. The fsync
 * runs on libuv's thread pool (Journal.synced), never on the event loop: a burst of 49 results or
 * reports costs one commit and one fsync, and the process goes on with its work meanwhile. When
 * the fsync fails the acks are not sent: the messages come back and are fenced or applied again.
 */
import type { Journal } from '../journal/journal.ts';

export interface CommitAcks {
  /** Runs `ack` once the journal's writes made so far are committed and on disk. */
  later(ack: () => void): void;
  /** Commits, waits (on this thread) for the fsync, and runs the waiting acks now (stopping). */
  now(): void;
}

/** An ack that throws (its connection closed meanwhile) is lost with it: the message comes back and is fenced. */
function sendQuietly(ack: () => void): void {
  try {
    ack();
  } catch {
    // redelivered later
  }
}

export function commitAcks(journal: () => Pick<Journal, 'flush' | 'commitPending' | 'synced'>, onSyncFailure: (err: unknown) => void = () => undefined): CommitAcks {
  let waiting: Array<() => void> = [];
  /** Acks whose commit is made, waiting for its fsync (run by `now` at once). */
  const syncing = new Set<Array<() => void>>();
  const runAll = (acks: Array<() => void>) => {
    if (!syncing.delete(acks)) return;
    for (const ack of acks) sendQuietly(ack);
  };
  const atTurnEnd = () => {
    if (waiting.length === 0) return;
    const acks = waiting;
    waiting = [];
    syncing.add(acks);
    const j = journal();
    try {
      j.commitPending();
    } catch (err) {
      syncing.delete(acks);
      onSyncFailure(err);
      return;
    }
    j.synced().then(
      () => runAll(acks),
      (err: unknown) => {
        syncing.delete(acks);
        onSyncFailure(err);
      },
    );
  };
  return {
    later(ack) {
      waiting.push(ack);
      if (waiting.length === 1) setImmediate(atTurnEnd);
    },
    now() {
      const acks = [...syncing, waiting];
      waiting = [];
      if (acks.every((a) => a.length === 0)) return;
      journal().flush();
      for (const a of acks) {
        syncing.delete(a);
        for (const ack of a) sendQuietly(ack);
      }
    },
  };
}
