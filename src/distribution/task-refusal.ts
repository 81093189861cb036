/**
 * A task message a worker refuses (its schema says no: the central process sends tasks unchecked,
 * messages.ts's encodeTaskMessage) is answered with a failed result for its attempt, naming the
 * field, so the central process fails the attempt waiting for it at once instead of at its
 * timeout. Only the ids are read from the refused message, and only when its attempt, job and
 * task ids are ids (anything else cannot be answered: the message is dropped, as before); the
 * worker answers unless another attempt of the task is current. The result is sent unchecked too:
 * the central process judges it (a result it refuses fails the same attempt).
 */
import { toErrorData } from '../errors.ts';
import { distIdSchema, encodeResultMessage, type ResultMessage } from './messages.ts';

export interface Refusal {
  /** The attempt the refused task named. */
  attemptId: string;
  /** Its task (the caller answers unless another attempt of it is current). */
  taskId: string;
  /** The failed result, encoded. */
  data: Uint8Array;
}

/**
 * How much of the refusal's reason travels: the code, and the message, refused kind, field and
 * problem each cut to this length. The schema's list of issues is not copied (it can quote every
 * unknown field of a huge message, several times over): the answer stays small whatever was
 * refused.
 */
const REASON_MAX_CHARS = 2000;

/** The answer to a refused task message (undefined when it names no ids it could be sent for). */
export function refusalOf(data: Uint8Array, err: unknown, programmerId: string, workerId: string, now: Date = new Date()): Refusal | undefined {
  let raw: { attempt_id?: unknown; job_id?: unknown; task_id?: unknown } | null;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as typeof raw;
  } catch {
    return undefined;
  }
  const ids = [raw?.attempt_id, raw?.job_id, raw?.task_id].map((id) => distIdSchema.safeParse(id));
  if (!ids.every((id) => id.success)) return undefined;
  const [attemptId, jobId, taskId] = ids.map((id) => id.data!) as [string, string, string];
  const reason = toErrorData(err);
  const cut = (text: string) => (text.length > REASON_MAX_CHARS ? `${text.slice(0, REASON_MAX_CHARS)}…` : text);
  const named = reason.details ?? {};
  // The refused kind and first bad field, as the schema named them (a field path of a huge message is cut too).
  const details = Object.fromEntries(['kind', 'field', 'problem'].filter((key) => typeof named[key] === 'string').map((key) => [key, cut(named[key] as string)]));
  const at = now.toISOString();
  const result = {
    kind: 'pas.v1.result',
    attempt_id: attemptId,
    job_id: jobId,
    task_id: taskId,
    programmer_id: programmerId,
    worker_id: workerId,
    outcome: { status: 'error', error: { code: reason.code, retryable: reason.retryable, message: cut(reason.message), details } },
    receipt: { duration_ms: 0, started_at: at, finished_at: at },
  } as ResultMessage;
  return { attemptId, taskId, data: encodeResultMessage(result) };
}
