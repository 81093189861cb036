/**
 * Every NATS name PAS uses, derived from the one `distribution.prefix` (CONTRACT §11: subjects
 * start with `pas.v1.`). Pure strings: computing them never loads the NATS client.
 */

export interface DistributionNames {
  readonly prefix: string;
  /** Work-queue stream of `pas.v1.task` messages, one subject per remote programmer. */
  readonly taskStream: string;
  /** Stream of what workers report back durably: results, spend, breaker outcomes. */
  readonly resultStream: string;
  /** KV bucket: programmer id → the worker that owns it (compare-and-set). */
  readonly ownerBucket: string;
  /** Object store bucket for git bundles (bases out, results back). */
  readonly bundleBucket: string;
  readonly subjects: {
    /** Tasks for one programmer (the stream's subjects are `task(*)`). */
    task(programmerId: string): string;
    /** A worker's result of an attempt (durable). */
    result(programmerId: string): string;
    /** A worker's report of money spent (durable). */
    spend(workerId: string): string;
    /** A worker's report of a model call's outcome for the shared breaker (durable). */
    breakerOutcome(workerId: string): string;
    /** Request/reply: a worker asks the central process whether it may call (or probe) a model. */
    breakerProbe: string;
    /** Plain publish to every worker: the leases on a model end (its breaker left closed). */
    breakerRevoke: string;
    /** Request/reply: a worker announces itself and the programmers it hosts. */
    register: string;
    /** Plain publish: a worker is alive. */
    heartbeat(workerId: string): string;
    /** Plain publish: a running task's progress (best effort). */
    progress(programmerId: string): string;
    /** Request/reply: the cancel of an attempt on the worker that runs it. */
    cancel(workerId: string): string;
    /** Request/reply: the central process of the prefix answers (one per prefix; central-presence.ts). */
    central: string;
  };
  /** Wildcard subjects the streams capture. */
  readonly streamSubjects: { readonly task: string[]; readonly result: string[] };
}

const PREFIX = /^[A-Za-z0-9_-]{1,32}$/;
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** A subject token from an id (ids are already letters, digits, - and _; anything else is refused). */
function token(kind: string, id: string): string {
  if (!TOKEN.test(id)) throw new TypeError(`${kind} "${id}" cannot be a NATS subject token (letters, digits, - and _)`);
  return id;
}

export function distributionNames(prefix: string): DistributionNames {
  if (!PREFIX.test(prefix)) throw new TypeError(`distribution prefix "${prefix}" must be 1–32 letters, digits, - and _`);
  const base = `pas.v1.${prefix}`;
  return {
    prefix,
    taskStream: `PAS_${prefix}_TASKS`,
    resultStream: `PAS_${prefix}_RESULTS`,
    ownerBucket: `PAS_${prefix}_OWNERS`,
    bundleBucket: `PAS_${prefix}_BUNDLES`,
    subjects: {
      task: (id) => `${base}.task.${token('programmer id', id)}`,
      result: (id) => `${base}.result.${token('programmer id', id)}`,
      spend: (id) => `${base}.spend.${token('worker id', id)}`,
      breakerOutcome: (id) => `${base}.breaker.outcome.${token('worker id', id)}`,
      breakerProbe: `${base}.breaker.probe`,
      breakerRevoke: `${base}.breaker.revoke`,
      register: `${base}.register`,
      heartbeat: (id) => `${base}.heartbeat.${token('worker id', id)}`,
      progress: (id) => `${base}.progress.${token('programmer id', id)}`,
      cancel: (id) => `${base}.cancel.${token('worker id', id)}`,
      central: `${base}.central`,
    },
    streamSubjects: {
      task: [`${base}.task.*`],
      result: [`${base}.result.*`, `${base}.spend.*`, `${base}.breaker.outcome.*`],
    },
  };
}
