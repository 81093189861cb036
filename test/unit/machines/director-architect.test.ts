import { afterEach, describe, expect, it } from 'vitest';
import { architectMachine, type ArchitectContext, type ClassifyLaneInput } from '../../../machines/architect.machine.ts';
import { directorMachine, pickManager, type DirectorContext } from '../../../machines/director.machine.ts';
import type { JobOutcome, JobSpec } from '../../../machines/domain.ts';
import type { JobFinishedFact } from '../../../machines/facts.ts';
import { controllablePromise, settle, startHarness, type Harness } from '../../support/machine-harness.ts';

const spec = (id: string, extra: Partial<JobSpec> = {}): JobSpec => ({ id, task: `job ${id}`, submittedAt: '2025-01-01T00:00:00.000Z', ...extra });
const outcome = (jobId: string, managerId: string, status: JobOutcome['status'] = 'completed'): JobOutcome => ({ jobId, managerId, status, tasks: [], tokens: { input: 0, output: 0 }, costUsd: 0 });

let h: Harness;
afterEach(() => h?.stop());

describe('pickManager', () => {
  it('picks the fewest jobs in flight, the first at or after the cursor among equals, skipping down and excluded managers', () => {
    const managers = ['M1', 'M2', 'M3'];
    expect(pickManager({ managers, load: { M1: 0, M2: 0, M3: 0 }, down: [], cursor: 0 })).toEqual({ id: 'M1', cursor: 1 });
    expect(pickManager({ managers, load: { M1: 0, M2: 0, M3: 0 }, down: [], cursor: 2 })).toEqual({ id: 'M3', cursor: 0 });
    expect(pickManager({ managers, load: { M1: 2, M2: 1, M3: 3 }, down: [], cursor: 0 })).toEqual({ id: 'M2', cursor: 2 });
    expect(pickManager({ managers, load: { M1: 0, M2: 0, M3: 0 }, down: ['M1'], cursor: 0 })).toEqual({ id: 'M2', cursor: 2 });
    expect(pickManager({ managers, load: {}, down: ['M1'], cursor: 0 }, ['M2'])).toEqual({ id: 'M3', cursor: 0 });
    expect(pickManager({ managers, load: {}, down: ['M1', 'M2', 'M3'], cursor: 0 })).toBeNull();
  });
});

describe('director', () => {
  let finishedFacts: JobFinishedFact[] = [];
  function start() {
    finishedFacts = [];
    h = startHarness({
      recorders: ['M1', 'M2', 'M3', 'Architect'],
      children: [{ id: 'Dir-Code', logic: directorMachine.provide({ actions: { recordJobFinished: (_, fact: JobFinishedFact) => void finishedFacts.push(fact) } }), input: { id: 'Dir-Code', architectId: 'Architect', lane: 'Code', managers: ['M1', 'M2', 'M3'] } }],
    });
  }
  const dir = () => h.get('Dir-Code').getSnapshot() as { value: string; context: DirectorContext };
  const routedTo = () => h.log.filter((d) => d.to.startsWith('M') && d.event.type === 'job.submitted').map((d) => `${(d.event.job as JobSpec).id}@${d.to}`);

  it('spreads jobs round-robin over equally loaded Managers', () => {
    start();
    for (const id of ['J1', 'J2', 'J3', 'J4']) h.send('Dir-Code', { type: 'job.submitted', job: spec(id) });
    expect(routedTo()).toEqual(['J1@M1', 'J2@M2', 'J3@M3', 'J4@M1']);
    expect(dir().value).toBe('EXECUTING');
    expect(dir().context.load).toEqual({ M1: 2, M2: 1, M3: 1 });
  });

  it('sends the next job to the least loaded Manager', () => {
    start();
    for (const id of ['J1', 'J2', 'J3']) h.send('Dir-Code', { type: 'job.submitted', job: spec(id) });
    h.send('Dir-Code', { type: 'job.finished', outcome: outcome('J2', 'M2') });
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J4') });
    expect(routedTo().at(-1)).toBe('J4@M2');
  });

  it('passes outcomes up to the Architect and goes IDLE when no job is in flight', () => {
    start();
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J1') });
    h.send('Dir-Code', { type: 'job.finished', outcome: outcome('J1', 'M1') });
    expect(h.received('Architect', 'job.finished')).toEqual([{ type: 'job.finished', outcome: outcome('J1', 'M1') }]);
    expect(dir().value).toBe('IDLE');
    expect(dir().context.load).toEqual({ M1: 0, M2: 0, M3: 0 });
  });

  it('re-routes a bounced job once to another Manager and marks the bouncing one down', () => {
    start();
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J1') });
    h.send('Dir-Code', { type: 'job.bounced', job: spec('J1'), from: 'M1' });
    expect(routedTo()).toEqual(['J1@M1', 'J1@M2']);
    expect(dir().context).toMatchObject({ down: ['M1'], jobs: { J1: 'M2' }, load: { M1: 0, M2: 1, M3: 0 } });
    // down Managers get no new jobs until they are ready again
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J2') });
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J3') });
    expect(routedTo().slice(2)).toEqual(['J2@M3', 'J3@M2']);
    h.send('Dir-Code', { type: 'manager.ready', managerId: 'M1' });
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J4') });
    expect(routedTo().at(-1)).toBe('J4@M1');
  });

  it('fails a job bounced a second time with PAS_ERR_MANAGER_FAILED to the Architect', () => {
    start();
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J1') });
    h.send('Dir-Code', { type: 'job.bounced', job: spec('J1'), from: 'M1' });
    h.send('Dir-Code', { type: 'job.bounced', job: spec('J1'), from: 'M2' });
    expect(routedTo()).toEqual(['J1@M1', 'J1@M2']);
    const [failed] = h.received('Architect', 'job.finished');
    expect(failed).toEqual({
      type: 'job.finished',
      outcome: { ...outcome('J1', '', 'failed'), error: { code: 'PAS_ERR_MANAGER_FAILED', retryable: true, message: 'no healthy Manager in lane Code' } },
    });
    // The Director states that the job finished here, for the journal.
    expect(finishedFacts).toEqual([{ outcome: failed!.outcome }]);
    expect(dir().value).toBe('IDLE');
  });

  it('fails a job at once when every Manager of the lane is down', () => {
    start();
    for (const m of ['M1', 'M2', 'M3']) h.send('Dir-Code', { type: 'manager.failed', managerId: m });
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J1') });
    expect(routedTo()).toEqual([]);
    expect((h.received('Architect', 'job.finished')[0]?.outcome as JobOutcome).error?.code).toBe('PAS_ERR_MANAGER_FAILED');
  });

  it('forwards a cancel to the Manager running the job', () => {
    start();
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J1') });
    h.send('Dir-Code', { type: 'job.cancel', jobId: 'J1' });
    expect(h.received('M1', 'job.cancel')).toEqual([{ type: 'job.cancel', jobId: 'J1' }]);
  });

  it('keeps routing while FAILED and returns to IDLE on reset', () => {
    start();
    h.send('Dir-Code', { type: 'director.fault' });
    expect(dir().value).toBe('FAILED');
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J1') });
    expect(routedTo()).toEqual(['J1@M1']);
    h.send('Dir-Code', { type: 'director.reset' });
    expect(dir().value).toBe('IDLE');
  });
});

describe('architect', () => {
  let classify: ReturnType<typeof controllablePromise<{ lane: string | null }, ClassifyLaneInput>>;
  let finishedFacts: JobFinishedFact[] = [];
  function start(directors: Record<string, string> = { Code: 'Dir-Code', Docs: 'Dir-Docs', Data: 'Dir-Data' }) {
    classify = controllablePromise<{ lane: string | null }, ClassifyLaneInput>();
    finishedFacts = [];
    h = startHarness({
      recorders: Object.values(directors),
      children: [
        {
          id: 'Architect',
          logic: architectMachine.provide({ actors: { classifyLane: classify.logic }, actions: { recordJobFinished: (_, fact: JobFinishedFact) => void finishedFacts.push(fact) } }),
          input: { id: 'Architect', directors },
        },
      ],
    });
  }
  const arch = () => h.get('Architect').getSnapshot() as { value: string; context: ArchitectContext };
  const routed = () => h.log.filter((d) => d.to.startsWith('Dir-') && d.event.type === 'job.submitted').map((d) => `${(d.event.job as JobSpec).id}@${d.to}`);

  it('routes a job with a lane to that lane\'s Director without asking the classifier', () => {
    start();
    h.send('Architect', { type: 'job.submitted', job: spec('J1', { lane: 'Docs' }) });
    expect(routed()).toEqual(['J1@Dir-Docs']);
    expect(classify.calls).toHaveLength(0);
    expect(arch().value).toBe('EXECUTING');
    expect(arch().context).toMatchObject({ inflight: { J1: 'Docs' }, routed: 1 });
  });

  it('classifies a job without a lane with its LLM and routes it to the answered lane', async () => {
    start();
    h.send('Architect', { type: 'job.submitted', job: spec('J1') });
    expect(classify.last().input).toEqual({ job: spec('J1'), lanes: ['Code', 'Docs', 'Data'] });
    expect(arch().context.inflight).toEqual({ J1: null });
    classify.last().resolve({ lane: 'Data' });
    await settle();
    expect(routed()).toEqual(['J1@Dir-Data']);
    expect(h.received('Dir-Data', 'job.submitted')[0]).toMatchObject({ job: { id: 'J1', lane: 'Data' } });
  });

  it('falls back to the Code lane when the classifier answers a lane that does not exist', async () => {
    start();
    h.send('Architect', { type: 'job.submitted', job: spec('J1') });
    classify.last().resolve({ lane: 'Marketing' });
    await settle();
    expect(routed()).toEqual(['J1@Dir-Code']);
  });

  it('falls back to the Code lane when the classifier fails', async () => {
    start();
    h.send('Architect', { type: 'job.submitted', job: spec('J1') });
    classify.last().reject(new Error('LLM down'));
    await settle();
    expect(routed()).toEqual(['J1@Dir-Code']);
    expect(arch().context.classifying).toEqual({});
  });

  it('fails a job whose lane has no Director with PAS_ERR_NO_LANE and goes back to IDLE', async () => {
    start({ Code: 'Dir-Code' });
    h.send('Architect', { type: 'job.submitted', job: spec('J1', { lane: 'Models' }) });
    await settle();
    expect(routed()).toEqual([]);
    // The job ends at the Architect, which states it as a fact for the journal.
    expect(finishedFacts).toEqual([{ outcome: { ...outcome('J1', '', 'failed'), error: { code: 'PAS_ERR_NO_LANE', retryable: false, message: 'lane "Models" has no Director' } } }]);
    expect(arch().value).toBe('IDLE');
    expect(arch().context.inflight).toEqual({});
  });

  it('settles a job when its outcome comes back and goes IDLE', () => {
    start();
    h.send('Architect', { type: 'job.submitted', job: spec('J1', { lane: 'Code' }) });
    h.send('Architect', { type: 'job.submitted', job: spec('J2', { lane: 'Code' }) });
    h.send('Architect', { type: 'job.finished', outcome: outcome('J1', 'M1') });
    expect(arch().value).toBe('EXECUTING');
    h.send('Architect', { type: 'job.finished', outcome: outcome('J2', 'M1') });
    expect(arch().value).toBe('IDLE');
  });

  it('ignores a second submission of a job in flight and forwards cancels to the lane\'s Director', () => {
    start();
    h.send('Architect', { type: 'job.submitted', job: spec('J1', { lane: 'Code' }) });
    h.send('Architect', { type: 'job.submitted', job: spec('J1', { lane: 'Code' }) });
    h.send('Architect', { type: 'job.cancel', jobId: 'J1' });
    expect(routed()).toEqual(['J1@Dir-Code']);
    expect(h.received('Dir-Code', 'job.cancel')).toEqual([{ type: 'job.cancel', jobId: 'J1' }]);
  });
});
