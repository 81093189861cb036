/** The receipt lines a killed run booked in the journal but may not have written: appended once at the restart. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { restoreReceiptLines } from '../../../src/runtime/receipt-lines.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pas-receipt-lines-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('restoreReceiptLines', () => {
  it('appends to its run\'s file each booked line the file lacks, leaves one it has, and writes nothing the second time', () => {
    writeFileSync(path.join(dir, 'run-a.jsonl'), '{"task_id":"t1"}\n');
    const booked = [
      { taskId: 't1', runId: 'run-a', line: '{"task_id":"t1"}' },
      { taskId: 't2', runId: 'run-a', line: '{"task_id":"t2"}' },
      { taskId: 't3', runId: 'run-b', line: '{"task_id":"t3"}' },
    ];
    expect(restoreReceiptLines(dir, booked)).toBe(2);
    expect(readFileSync(path.join(dir, 'run-a.jsonl'), 'utf8')).toBe('{"task_id":"t1"}\n{"task_id":"t2"}\n');
    expect(readFileSync(path.join(dir, 'run-b.jsonl'), 'utf8')).toBe('{"task_id":"t3"}\n');
    expect(restoreReceiptLines(dir, booked)).toBe(0);
  });

  it('keeps a line torn by the crash alone on its line, and reads no file whose run id is not a plain file name', () => {
    writeFileSync(path.join(dir, 'run-a.jsonl'), '{"task_id":"t0"}\n{"task_id":"t1","cost');
    expect(restoreReceiptLines(dir, [{ taskId: 't1', runId: 'run-a', line: '{"task_id":"t1"}' }, { taskId: 't9', runId: '../x', line: '{}' }])).toBe(1);
    expect(readFileSync(path.join(dir, 'run-a.jsonl'), 'utf8')).toBe('{"task_id":"t0"}\n{"task_id":"t1","cost\n{"task_id":"t1"}\n');
  });
});
