import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../../../src/distribution/messages.ts';
import { refusalOf } from '../../../src/distribution/task-refusal.ts';

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function refusalFor(value: unknown) {
  const data = encode(value);
  let err: unknown;
  try {
    decodeMessage('pas.v1.task', data);
  } catch (e) {
    err = e;
  }
  expect(err).toBeDefined();
  return { data, refusal: refusalOf(data, err, 'Prog-001', 'w1') };
}

describe('refusalOf', () => {
  it('answers a huge refused task message with a small failed result naming the kind and field, not every issue', () => {
    const junk = Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`unknown_field_${'x'.repeat(20)}_${i}`, i]));
    const { data, refusal } = refusalFor({ kind: 'pas.v1.task', attempt_id: 'a-1', job_id: 'j-1', task_id: 't-1', ...junk });
    expect(data.byteLength).toBeGreaterThan(900_000);
    expect(refusal).toBeDefined();
    expect(refusal!.data.byteLength).toBeLessThan(10_000);
    const result = decodeMessage('pas.v1.result', refusal!.data);
    expect(result).toMatchObject({ attempt_id: 'a-1', job_id: 'j-1', task_id: 't-1', programmer_id: 'Prog-001', worker_id: 'w1', outcome: { status: 'error', error: { code: 'PAS_ERR_DIST_BAD_MESSAGE', details: { kind: 'pas.v1.task' } } } });
    expect(refusal).toMatchObject({ attemptId: 'a-1', taskId: 't-1' });
  });

  it('answers nothing when the attempt, job or task id is not an id', () => {
    for (const ids of [{ attempt_id: 'a-1', job_id: 'j-1' }, { attempt_id: 'a-1', job_id: { x: 1 }, task_id: 't-1' }, { attempt_id: 'a 1', job_id: 'j-1', task_id: 't-1' }, { job_id: 'j-1', task_id: 't-1' }]) {
      expect(refusalFor({ kind: 'pas.v1.task', ...ids }).refusal, JSON.stringify(ids)).toBeUndefined();
    }
  });
});
