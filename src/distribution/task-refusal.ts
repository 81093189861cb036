/**
 * A task message a worker refuses (its schema says no: the central process sends tasks unchecked,
 * messages.ts's encodeTaskMessage) is answered with a failed result for its attempt, naming the
 * field, so the central process fails the attempt waiting for it at once instead of at its
 * timeout. Only the ids are read from the refused message, and only when the attempt id is one
 * (anything else cannot be answered: the message is dropped, as before). The result is sent
 * unchecked too: the central process judges it (a result it refuses fails the same attempt).
 */
import { toErrorData } from '../errors.ts';
import { distIdSchema, encodeResultMessage, type ResultMessage } from './messages.ts';

export interface Refusal {
  /** The attempt the refused task named. */
  attemptId: string;
  /** The failed result, encoded. */
  data: Uint8Array;
}

/** The answer to a refused task message (undefined when it names no attempt id it could be sent for). */
export function refusalOf(data: Uint8Array, err: unknown, programmerId: string, workerId: string, now: Date = new Date()): Refusal | undefined {
  let raw: { attempt_id?: unknown; job_id?: unknown; task_id?: unknown } | null;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as typeof raw;
  } catch {
    return undefined;
  }
  const attempt = distIdSchema.safeParse(raw?.attempt_id);
  if (!attempt.success) return undefined;
  const at = now.toISOString();
  const message = {
    kind: 'pas.v1.result',
    attempt_id: attempt.data,
    job_id: raw!.job_id,
    task_id: raw!.task_id,
    programmer_id: programmerId,
    worker_id: workerId,
    outcome: { status: 'error', error: toErrorData(err) },
    receipt: { duration_ms: 0, started_at: at, finished_at: at },
  } as ResultMessage;
  return { attemptId: attempt.data, data: encodeResultMessage(message) };
}
