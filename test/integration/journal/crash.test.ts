import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const writer = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));

describe('journal crash safety', () => {
  let dir: string | undefined;
  let child: ChildProcess | undefined;
  let journal: Journal | undefined;

  afterEach(() => {
    journal?.close();
    journal = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('keeps every job acknowledged before the writer was SIGKILLed mid-stream', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pas-crash-'));
    const path = join(dir, 'artifacts', 'pas.db');
    const proc = spawn(process.execPath, ['--import', 'tsx', writer, path], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;

    const acked: string[] = [];
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const killed = new Promise<NodeJS.Signals | null>((resolve, reject) => {
      let pending = '';
      proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.startsWith('ack ')) acked.push(line.slice(4));
        if (acked.length >= 300 && proc.exitCode === null && !proc.killed) proc.kill('SIGKILL');
      });
      proc.on('exit', (code, signal) => (signal ? resolve(signal) : reject(new Error(`writer exited ${code}: ${stderr}`))));
    });

    expect(await killed).toBe('SIGKILL');
    expect(acked.length).toBeGreaterThanOrEqual(300);

    journal = openJournal(path);
    expect(journal.pragma('integrity_check')).toBe('ok');
    const stored = new Set(journal.listJobs({ limit: 1_000_000 }).map((j) => j.id));
    const missing = acked.filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    // Each acknowledged job's task was written before the ack too.
    for (const id of acked.slice(-20)) expect(journal.getTask(`${id}-t1`)?.status).toBe('running');

    const report = journal.recover({ mode: 'interrupt' });
    expect(report.tasks.length).toBeGreaterThanOrEqual(acked.length);
    expect(report.tasks.every((t) => t.status === 'interrupted' && t.error?.code === 'PAS_ERR_TASK_INTERRUPTED')).toBe(true);
  });
});
