/**
 * What the HTTP API tells a client is committed to the journal before the answer leaves: a job's
 * status written in the journal's open group (committed at the end of the event-loop iteration)
 * and read by the same request must not reach the client while a kill -9 could still lose it.
 */
import { ServerResponse } from 'node:http';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inProcessServices } from '../../support/in-process-services.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';

let tree: TestTree | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await tree?.close();
  tree = undefined;
});

describe('HTTP answers and the journal group', () => {
  it('commits a status written in the same iteration before GET /api/jobs answers with it', async () => {
    tree = await startTestTree({ services: inProcessServices(), agentPorts: false });
    const journal = tree.runtime.journal;
    journal.acceptJob({ id: 'jgroup', task: 'do it', lane: 'Code', files: ['a.ts'], submittedAt: '2026-11-30T00:00:00.000Z' });
    // The runtime records a fact in the open group in the same iteration as the request reads it.
    const list = journal.listJobs.bind(journal);
    vi.spyOn(journal, 'listJobs').mockImplementation((query) => {
      journal.deferCommit();
      journal.setJobStatus('jgroup', 'cancelled', { error: { code: 'PAS_ERR_TASK_CANCELLED', message: 'cancelled', retryable: false } });
      return list(query);
    });
    // What another connection (the next process after a kill -9) reads when the answer is sent.
    const other = new Database(journal.path, { readonly: true });
    const atSend: string[] = [];
    const end = ServerResponse.prototype.end;
    vi.spyOn(ServerResponse.prototype, 'end').mockImplementation(function (this: ServerResponse, ...args: unknown[]) {
      if (this.req?.url?.startsWith('/api/jobs')) atSend.push((other.prepare('SELECT status FROM jobs WHERE id = ?').get('jgroup') as { status: string }).status);
      return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    });
    try {
      const res = await fetch(`${tree.url}/api/jobs`);
      const body = (await res.json()) as { jobs: Array<{ job_id: string; status: string }> };
      expect(body.jobs.find((j) => j.job_id === 'jgroup')?.status).toBe('cancelled');
      expect(atSend).toEqual(['cancelled']);
    } finally {
      other.close();
    }
  });
});
