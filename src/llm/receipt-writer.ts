/**
 * `artifacts/receipts/{run_id}.jsonl` (CONTRACT §7): one JSON line per programmer task,
 * appended durably (open 'a', write, fsync, close) and serialized so concurrent appends never
 * interleave.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PasError } from '../errors.ts';
import { redactValue } from '../redaction.ts';
import type { Receipt } from './types.ts';

export class ReceiptWriter {
  readonly file: string;
  private tail: Promise<void> = Promise.resolve();
  private dirReady = false;

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
    const line = `${JSON.stringify(redactValue(receipt))}\n`;
    const run = this.tail.then(() => this.write(line));
    // Keep the chain alive after a failed append; the failure still reaches this caller.
    this.tail = run.catch(() => undefined);
    return run;
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
