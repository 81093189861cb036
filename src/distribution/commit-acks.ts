/**
 * Acks of stream messages that may leave the broker only once the journal has committed what they
 * carried (a remote task's finish, a worker's spend). The journal groups the writes of one
 * event-loop turn into one transaction (Journal.deferCommit); the acks asked for during a turn are
 * sent at its end, after one flush commits that group (a no-op when it is committed already). A
 * burst of 49 results or reports thus costs one commit (one fsync), not one each.
 */
import type { Journal } from '../journal/journal.ts';

export interface CommitAcks {
  /** Runs `ack` once the journal's writes made so far are committed (at the end of this turn). */
  later(ack: () => void): void;
  /** Commits and runs the waiting acks now (stopping). */
  now(): void;
}

export function commitAcks(journal: () => Pick<Journal, 'flush'>): CommitAcks {
  let waiting: Array<() => void> = [];
  const run = () => {
    if (waiting.length === 0) return;
    const acks = waiting;
    waiting = [];
    journal().flush();
    for (const ack of acks) ack();
  };
  return {
    later(ack) {
      waiting.push(ack);
      if (waiting.length === 1) setImmediate(run);
    },
    now: run,
  };
}
