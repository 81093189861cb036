/**
 * The commit of a verified in-memory task's edits, written while its verify command runs: the
 * round whose command passes is usually the last, so its blobs, trees and commit are in the
 * object store when the command ends instead of being written after it (off the task's critical
 * path). It is used only for exactly the edits it was written from; when a later round edited
 * more, those are committed anew. A round whose command fails leaves its objects unreferenced
 * (git's gc removes them); no branch ever points at them.
 */
import { commitEdits, type CommitEditsInput, type CommitEditsResult } from './object-commit.ts';

type Edits = ReadonlyMap<string, Buffer | null>;

export class CommitAhead {
  private edits: Edits | undefined;
  private pending: Promise<CommitEditsResult> | undefined;
  /** Every commit started ahead (one a verify round), so none is left being written when the task ends. */
  private readonly started: Promise<unknown>[] = [];

  constructor(private readonly input: Omit<CommitEditsInput, 'edits'>) {}

  /** Starts writing the commit of `edits` as they are now (a copy is kept: later rounds change the live map). */
  start(edits: Edits): void {
    const copy = new Map(edits);
    this.edits = copy;
    this.pending = commitEdits({ ...this.input, edits: copy });
    this.started.push(this.pending.catch(() => undefined));
  }

  /** The commit of `edits`: the one written ahead when they are exactly those, else written now. */
  commit(edits: Edits): Promise<CommitEditsResult> {
    if (this.pending && this.edits && sameEdits(this.edits, edits)) return this.pending;
    return commitEdits({ ...this.input, edits });
  }

  /** Resolves once every commit started ahead has ended (a task never leaves writes behind it). */
  async settled(): Promise<void> {
    await Promise.all(this.started);
  }
}

/** Edits are kept as new buffers on every write, never changed in place: the same buffer is the same content. */
function sameEdits(a: Edits, b: Edits): boolean {
  if (a.size !== b.size) return false;
  for (const [rel, content] of b) {
    if (!a.has(rel) || a.get(rel) !== content) return false;
  }
  return true;
}
