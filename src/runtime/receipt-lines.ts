/**
 * At a restart, before the journal is recovered: every receipt line an attempt booked in the
 * journal (book-receipt.ts: the index row, with the line, is on disk before the line is written)
 * whose task still runs at that attempt is made sure to be in its run's receipts file. A process
 * killed between the row and the line left it out: it is appended now, durably, so the attempt has
 * its one receipt (and a completed one can finish its task without running it again). A line
 * already there is not written twice. Synchronous: the restart does nothing else meanwhile.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export interface BookedLine {
  taskId: string;
  runId: string;
  /** The receipt as its line holds it (JSON, no line break). */
  line: string;
}

/** Appends the lines missing from their run's file in `receiptsDir`; answers how many it appended. */
export function restoreReceiptLines(receiptsDir: string, booked: readonly BookedLine[], logger?: Logger): number {
  const byRun = new Map<string, BookedLine[]>();
  for (const b of booked) {
    // A run id is a file name PAS made (ReceiptWriter refuses any other): anything else is not read.
    if (!/^[A-Za-z0-9._-]+$/.test(b.runId) || b.runId.startsWith('.')) continue;
    byRun.set(b.runId, [...(byRun.get(b.runId) ?? []), b]);
  }
  let appended = 0;
  for (const [runId, lines] of byRun) {
    const file = path.join(receiptsDir, `${runId}.jsonl`);
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const present = new Set(text.split('\n'));
    const missing = lines.filter((b) => !present.has(b.line));
    if (missing.length === 0) continue;
    mkdirSync(receiptsDir, { recursive: true });
    // A torn last line (a crash mid-write) stays alone on its line.
    const out = `${text.length > 0 && !text.endsWith('\n') ? '\n' : ''}${missing.map((b) => `${b.line}\n`).join('')}`;
    const fd = openSync(file, 'a');
    try {
      writeSync(fd, out);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    appended += missing.length;
    logger?.warn({ runId, tasks: missing.map((b) => b.taskId) }, 'booked receipt lines not yet in their run\'s file (a killed run did not write them, or the restart booked them for attempts it cut off): appended');
  }
  return appended;
}
