/**
 * `artifacts/receipts/{run_id}.jsonl` (CONTRACT §7): one JSON line per programmer task,
 * appended durably and in call order, group-committed: the lines that arrive while a batch is
 * being written go together in the next one (open 'a', one write, one fsync, close), and each
 * append resolves only once its own line is on disk.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PasError } from '../errors.ts';
import { redactedJson } from '../redaction.ts';
import type { Receipt } from './types.ts';

export class ReceiptWriter {
  readonly file: string;
  private tail: Promise<void> = Promise.resolve();
  private dirReady = false;
  /** Lines waiting for the next batch, and the callers waiting on them. */
  private batch: { lines: string[]; done: Promise<void> } | undefined;
  /** fsyncs done so far (one per batch). */
  syncs = 0;

  constructor(
    readonly dir: string,
    readonly runId: string,
  ) {
    if (!/^[A-Za-z0-9._-]+$/.test(runId) || runId.startsWith('.')) {
      throw new PasError('PAS_ERR_BAD_REQUEST', `run id "${runId}" is not a safe file name`, { details: { runId } });
    }
    this.file = path.join(dir, `${runId}.jsonl`);
  }

  /** Appends one receipt (secret values scrubbed); resolves once it is on disk. Appends run in call order. */
  append(receipt: Receipt): Promise<void> {
    const line = `${redactedJson(receipt)}\n`;
    if (this.batch) {
      this.batch.lines.push(line);
      return this.batch.done;
    }
    const lines = [line];
    // The batch starts writing once the one before it is on disk; until then it takes more lines.
    const done = this.tail.then(() => {
      if (this.batch?.lines === lines) this.batch = undefined;
      return this.write(lines.join(''));
    });
    this.batch = { lines, done };
    // Keep the chain alive after a failed batch; the failure still reaches its callers.
    this.tail = done.catch(() => undefined);
    return done;
  }

  private async write(line: string): Promise<void> {
    try {
      if (!this.dirReady) {
        await mkdir(this.dir, { recursive: true });
        this.dirReady = true;
      }
      const handle = await open(this.file, 'a');
      try {
        await handle.write(line);
        await handle.sync();
        this.syncs++;
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw new PasError('PAS_ERR_JOURNAL', `could not append a receipt to ${this.file}: ${err instanceof Error ? err.message : String(err)}`, {
        details: { file: this.file },
        cause: err,
      });
    }
  }

  /** Every receipt written so far (after pending appends finish). */
  async read(): Promise<Receipt[]> {
    await this.tail;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return text
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .map((line) => JSON.parse(line) as Receipt);
  }
}
