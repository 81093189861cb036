/**
 * resumeUnfinished hands a job back with its finished results in the order they finished (the
 * job merges what is unmerged in that order), not the order the tasks were created in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobResume, TaskSpec } from '../../../machines/domain.ts';
import type { ToArchitect } from '../../../machines/messages.ts';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import { saveRerun, savePlan } from '../../../src/runtime/job-progress.ts';
import { resumeUnfinished } from '../../../src/runtime/resume.ts';

let dir: string;
let journal: Journal | undefined;
afterEach(() => {
  journal?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('resumeUnfinished', () => {
  it('hands a job back with its finished results in the order they finished, not the order they were created', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pas-resume-order-'));
    let clock = Date.parse('2026-01-01T00:00:00.000Z');
    journal = openJournal(path.join(dir, 'pas.db'), { now: () => new Date((clock += 1000)) });
    journal.acceptJob({ id: 'J1', task: 'release', lane: 'Code', submittedAt: '2026-01-01T00:00:00.000Z' });
    savePlan(journal, 'J1', { planner: 'llm', repo: '/repo', baseCommit: 'base0', subtasks: ['t1', 't2', 't3'].map((id) => ({ id: `J1-${id}`, instruction: id, files: [] })) });
    const spec = (id: string): TaskSpec => ({ id, jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: id, files: [] });
    const done = (id: string) => journal!.finishTask({ taskId: id, jobId: 'J1', programmerId: 'P1', status: 'completed' });
    for (const id of ['J1-t1', 'J1-t2', 'J1-t3']) journal.upsertTask(spec(id), 'queued');
    // Created t1, t2, t3; finished t3, t1, t2 (t2 conflicted, and its re-run finished last).
    done('J1-t3');
    done('J1-t1');
    done('J1-t2');
    saveRerun(journal, 'J1', 'J1-t2', { id: 'J1-t2-r1', baseCommit: 'h1' });
    journal.upsertTask(spec('J1-t2-r1'), 'queued');
    done('J1-t2-r1');
    const sent: ToArchitect[] = [];
    resumeUnfinished(journal, 'requeue', { architect: (e) => sent.push(e), pool: () => {} }, pino({ level: 'silent' }));
    const resume = (sent[0] as { resume?: JobResume }).resume!;
    expect(resume.results.map((r) => r.taskId)).toEqual(['J1-t3', 'J1-t1', 'J1-t2', 'J1-t2-r1']);
  });
});
