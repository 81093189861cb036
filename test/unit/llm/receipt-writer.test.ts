import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReceiptWriter } from '../../../src/llm/receipt-writer.ts';
import type { Receipt } from '../../../src/llm/types.ts';

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

function receipt(i: number): Receipt {
  return {
    run_id: 'run-1',
    job_id: 'job-1',
    task_id: `task-${i}`,
    agent_id: 'Prog-001',
    provider: 'ollama',
    model: 'qwen2.5-coder:7b-instruct',
    used_backup: false,
    status: 'completed',
    tokens: { input: 10 + i, output: null },
    cost_usd: 0,
    duration_ms: 5,
    kpi: { files_changed: 1, lines_added: 2, lines_removed: 0 },
    started_at: '2025-03-01T12:00:00.000Z',
    finished_at: '2025-03-01T12:00:00.005Z',
  };
}

/** Descriptors of this process open on `file` (Linux: /proc/self/fd). */
function descriptorsOn(file: string): string[] {
  const real = realpathSync(file);
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === real;
    } catch {
      return false;
    }
  });
}

function openOn(file: string): number {
  return descriptorsOn(file).length;
}

describe('ReceiptWriter', () => {
  it('appends one JSON line per receipt to {dir}/{runId}.jsonl, creating the folder', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const writer = new ReceiptWriter(path.join(dir, 'receipts'), 'run-1');
    await writer.append(receipt(0));
    await writer.append(receipt(1));
    const text = await readFile(path.join(dir, 'receipts', 'run-1.jsonl'), 'utf8');
    expect(text.split('\n')).toHaveLength(3);
    expect(JSON.parse(text.split('\n')[1]!)).toEqual(receipt(1));
  });

  it('keeps concurrent appends whole and in call order', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const writer = new ReceiptWriter(dir, 'run-1');
    await Promise.all(Array.from({ length: 50 }, (_, i) => writer.append(receipt(i))));
    const all = await writer.read();
    expect(all.map((r) => r.task_id)).toEqual(Array.from({ length: 50 }, (_, i) => `task-${i}`));
    expect(all[3]!.tokens.output).toBeNull();
  });

  it('group-commits appends that arrive while a batch is written: one durable write per batch, each append resolved only once its line is on disk', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const writer = new ReceiptWriter(dir, 'run-1');
    const onDisk: number[] = [];
    const appends = Array.from({ length: 40 }, (_, i) =>
      writer.append(receipt(i)).then(async () => {
        // Resolved: its own line is already in the file.
        const text = await readFile(writer.file, 'utf8');
        if (text.includes(`"task-${i}"`)) onDisk.push(i);
      }),
    );
    await Promise.all(appends);
    expect(onDisk).toHaveLength(40);
    expect((await writer.read()).map((r) => r.task_id)).toEqual(Array.from({ length: 40 }, (_, i) => `task-${i}`));
    expect(writer.durableWrites).toBeLessThanOrEqual(2);
    await writer.append(receipt(40));
    expect(writer.durableWrites).toBeLessThanOrEqual(3);
  });

  it('appends to the file now at its path when the one it had open was removed or replaced between batches', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const writer = new ReceiptWriter(dir, 'run-1', { idleCloseMs: 60_000 });
    await writer.append(receipt(0));
    await rm(writer.file);
    await writer.append(receipt(1));
    expect((await writer.read()).map((r) => r.task_id)).toEqual(['task-1']);
    // Rotated: another file moved to the path; the old one, still open, gets nothing more.
    await rename(writer.file, `${writer.file}.1`);
    await writeFile(writer.file, `${JSON.stringify(receipt(2))}\n`);
    await writer.append(receipt(3));
    expect((await writer.read()).map((r) => r.task_id)).toEqual(['task-2', 'task-3']);
    expect((await readFile(`${writer.file}.1`, 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it.runIf(process.platform === 'linux')('keeps the file open while batches keep coming and closes it once they stop', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const writer = new ReceiptWriter(dir, 'run-1', { idleCloseMs: 50 });
    await writer.append(receipt(0));
    await writer.append(receipt(1));
    expect(openOn(writer.file)).toBe(1);
    await vi.waitFor(() => expect(openOn(writer.file)).toBe(0), { timeout: 10_000, interval: 20 });
    // And opens it again for the next one.
    await writer.append(receipt(2));
    expect((await writer.read()).map((r) => r.task_id)).toEqual(['task-0', 'task-1', 'task-2']);
  });

  it.runIf(process.platform === 'linux')('writes through a descriptor opened append-only and data-synchronous, so a resolved append is on disk', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const writer = new ReceiptWriter(dir, 'run-1', { idleCloseMs: 60_000 });
    await writer.append(receipt(0));
    const [fd] = descriptorsOn(writer.file);
    const flags = Number.parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    expect(flags & 0o2000).toBe(0o2000); // O_APPEND
    expect(flags & 0o10000).toBe(0o10000); // O_DSYNC
  });

  it('makes the folder again when it was removed between batches', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const writer = new ReceiptWriter(path.join(dir, 'receipts'), 'run-1', { idleCloseMs: 60_000 });
    await writer.append(receipt(0));
    await rm(path.join(dir, 'receipts'), { recursive: true });
    await writer.append(receipt(1));
    expect((await writer.read()).map((r) => r.task_id)).toEqual(['task-1']);
  });

  it('appends to an existing file across writers', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    await new ReceiptWriter(dir, 'run-1').append(receipt(0));
    const second = new ReceiptWriter(dir, 'run-1');
    await second.append(receipt(1));
    expect((await second.read()).map((r) => r.task_id)).toEqual(['task-0', 'task-1']);
  });

  it('reads nothing before the first append and refuses an unsafe run id', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    expect(await new ReceiptWriter(dir, 'run-2').read()).toEqual([]);
    expect(() => new ReceiptWriter(dir, '../escape')).toThrow(/safe file name/);
  });
  it('starts on a fresh line when the file it opens ends inside a line (a batch torn by a crash or a full disk): the torn line stays alone, the new receipt whole', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pas-receipts-'));
    dirs.push(dir);
    const whole = `${JSON.stringify(receipt(0))}\n`;
    const torn = JSON.stringify(receipt(1)).slice(0, 40);
    await writeFile(path.join(dir, 'run-1.jsonl'), whole + torn);
    const writer = new ReceiptWriter(dir, 'run-1');
    await writer.append(receipt(2));
    await writer.append(receipt(3));
    const lines = (await readFile(writer.file, 'utf8')).split('\n');
    expect(lines).toEqual([whole.trim(), torn, JSON.stringify(receipt(2)), JSON.stringify(receipt(3)), '']);
  });
});
