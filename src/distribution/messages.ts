/**
 * Every message between the central process and a worker (CONTRACT §11), as versioned zod
 * schemas: the schemas are the single source of truth, the types are inferred from them. A
 * message that fails its schema is refused with PAS_ERR_DIST_BAD_MESSAGE naming the field; the
 * receiver logs it and never acts on it.
 *
 * All messages are JSON. Delivery is at-least-once: receivers fence duplicates by `attempt_id`
 * (task, result, progress, cancel) or `call_id` (spend, breaker outcome).
 */
import { z } from 'zod';
import { BREAKER_STATES } from '../../machines/statuses.ts';
import { EXECUTOR_KINDS, type ErrorCode, type TaskSpec } from '../../machines/domain.ts';
import { modelRef } from '../config/schemas.ts';
import { ERRORS, PasError } from '../errors.ts';
import { idSchema, relPath } from '../gateway/schemas.ts';
import { FULL_OBJECT_ID } from '../executors/object-id.ts';

// ── shared pieces ──────────────────────────────────────────────────────────

/**
 * A result bundle up to this size may travel inside its `pas.v1.result` (base64, a third bigger)
 * when the whole message still fits the broker's max payload; a bigger one goes through the
 * object store.
 */
export const INLINE_BUNDLE_MAX_BYTES = 256 * 1024;

/** The most bytes one message may have on a broker whose max payload is `maxPayload`. */
export function messageLimit(maxPayload = MAX_MESSAGE_BYTES): number {
  return Math.min(maxPayload, MAX_MESSAGE_BYTES);
}

/**
 * `message` with `bundle` inside it, encoded (as encodeResultMessage does: not run through the schema
 * here), when the bundle is at most INLINE_BUNDLE_MAX_BYTES and the encoded message (its summary,
 * receipt and progress included, as they are) fits the broker's max payload; undefined otherwise:
 * the bundle then goes through the object store.
 */
export function encodeWithInlineBundle(message: ResultMessage, bundle: Uint8Array, maxPayload?: number): Uint8Array | undefined {
  const limit = messageLimit(maxPayload);
  if (message.outcome.status !== 'ok' || bundle.byteLength > INLINE_BUNDLE_MAX_BYTES || Math.ceil(bundle.byteLength / 3) * 4 > limit) return undefined;
  const { bundle_object: _, ...outcome } = message.outcome;
  const data = encoder.encode(JSON.stringify({ ...message, outcome: { ...outcome, bundle: Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength).toString('base64') } }));
  return data.byteLength <= limit ? data : undefined;
}

/**
 * A worker's `pas.v1.result`, encoded without running it through its schema on the way out: the
 * central process checks every result it receives (decodeMessage), and one it refuses fails the
 * attempt waiting for it at once, naming the field (remote-programmers.ts), as a refusal here
 * did. Checking it on both sides was the same work twice, per task, on the worker's event loop.
 * Only the size limit is checked here (a message over it cannot be published).
 */
export function encodeResultMessage(message: ResultMessage): Uint8Array {
  return sized('pas.v1.result', encoder.encode(JSON.stringify(message)));
}

/**
 * The central process's `pas.v1.task`, encoded without running it through its schema on the way
 * out: the worker checks every task it receives (decodeMessage), and one it refuses is answered
 * with a failed result naming the field (task-refusal.ts), which fails the attempt waiting for it
 * at once. Checking it on both sides was the same work twice, per task, on the central process's
 * main thread (where every dispatch of a burst is serialized). Only the size limit is checked here.
 */
export function encodeTaskMessage(message: TaskMessage): Uint8Array {
  return sized('pas.v1.task', encoder.encode(JSON.stringify(message)));
}

/** Job, task and attempt ids, as the HTTP API takes them. */
export const distIdSchema = idSchema;
/** Worker and programmer ids are NATS subject tokens: no dots. */
export const subjectIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'letters, digits, - and _');
export const commitSchema = z.string().regex(FULL_OBJECT_ID, 'a full commit id (40 or 64 hex digits)');
/** A repository as workers know it: a name, never a path of the user's machine. */
export const repoKeySchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, 'a repository key is letters, digits, - and _');
/** An object store entry name. */
export const objectNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$/, 'an object name is letters, digits, _ . : -');
const isoTime = z.iso.datetime({ offset: true });
const modelRefSchema = modelRef;

export const errorDataSchema = z.strictObject({
  code: z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]),
  retryable: z.boolean(),
  message: z.string().max(20_000),
  details: z.record(z.string(), z.unknown()).optional(),
});

/** Token counts as the provider reported them; `null` where it did not say (never a made-up 0). */
export const tokenUsageSchema = z.strictObject({
  input: z.number().int().min(0).nullable(),
  output: z.number().int().min(0).nullable(),
  thinking: z.number().int().min(0).nullable().optional(),
  cache_read: z.number().int().min(0).nullable().optional(),
  cache_write: z.number().int().min(0).nullable().optional(),
});

export const kpiSchema = z.strictObject({
  files_changed: z.number().int().min(0),
  lines_added: z.number().int().min(0),
  lines_removed: z.number().int().min(0),
});

/**
 * The TaskSpec the executor needs, without `repo`: a worker never sees the user's checkout. It
 * runs the task in its own cached clone (the message's `repo_key`) at `base_commit`.
 */
export const remoteTaskSpecSchema = z.strictObject({
  id: distIdSchema,
  jobId: distIdSchema,
  managerId: z.string().min(1).max(128),
  replyTo: z.string().min(1).max(256),
  instruction: z.string().min(1).max(200_000),
  files: z.array(relPath).max(500),
  baseCommit: commitSchema.optional(),
  requires: z.array(z.string().min(1).max(64)).max(32).optional(),
  exclude: z.array(z.string().min(1).max(128)).max(64).optional(),
  attempt: z.number().int().min(0).optional(),
  timeoutMs: z.number().int().positive().optional(),
  pin: z.string().min(1).max(128).optional(),
  executor: z.enum(EXECUTOR_KINDS).optional(),
  verify: z.array(z.string().min(1).max(4096)).min(1).max(64).optional(),
  context: z.array(relPath).max(500).optional(),
});
export type RemoteTaskSpec = z.infer<typeof remoteTaskSpecSchema>;

/** The schema and machines/domain.ts's TaskSpec describe the same thing: a compile-time check. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const taskSpecMatches: Same<RemoteTaskSpec, Omit<TaskSpec, 'repo'>> = true;
void taskSpecMatches;

/** What a running task reports (executor.ts's TaskProgress), best effort. */
export const taskProgressSchema = z.strictObject({
  kind: z.enum(['tool', 'file', 'command', 'retry', 'message']),
  tool: z.string().max(256).optional(),
  path: z.string().max(4096).optional(),
  change: z.string().max(64).optional(),
  command: z.string().max(4096).optional(),
  exitCode: z.number().int().nullable().optional(),
  attempt: z.number().int().optional(),
  status: z.number().int().optional(),
  text: z.string().max(4096).optional(),
});

// ── the messages ───────────────────────────────────────────────────────────

/** Worker → central, request/reply on `register`: who I am and which programmers I host. */
export const registerSchema = z.strictObject({
  kind: z.literal('pas.v1.register'),
  worker_id: subjectIdSchema,
  host_name: z.string().min(1).max(255),
  programmer_ids: z.array(subjectIdSchema).min(1).max(49),
  /** What this host can run: executors whose binaries it has, and capability words. */
  capabilities: z.array(z.string().min(1).max(64)).max(64),
  pid: z.number().int().positive(),
  /** Random per worker process (as in `pas.v1.heartbeat`): its identity with `pid`. */
  instance: z.string().min(1).max(64).optional(),
  /** The PAS version the worker runs (package.json). */
  version: z.string().min(1).max(64),
  /**
   * The `pas.v1.*` protocol revision the worker's build speaks (protocol.ts: a hash of these
   * schemas and the subject names). The central process refuses a worker whose revision differs
   * from its own, or that sends none (a build from before the field), before it takes any task.
   */
  protocol: z.string().min(1).max(64).optional(),
  started_at: isoTime,
  /** Commits its repository cache already holds, per repository key (so bundles can be incremental). */
  repo_haves: z.record(repoKeySchema, z.array(commitSchema).max(64)).optional(),
});

/** Central → worker, the reply to `pas.v1.register`. */
export const registeredSchema = z.strictObject({
  kind: z.literal('pas.v1.registered'),
  worker_id: subjectIdSchema,
  /** Programmers this worker now owns (KV compare-and-set won). */
  accepted: z.array(subjectIdSchema),
  /** Programmers it may not run, and why (owned by another live worker, not configured for this host, …). */
  refused: z.array(z.strictObject({ programmer_id: subjectIdSchema, error: errorDataSchema })),
  heartbeat_ms: z.number().int().positive(),
  offline_after_ms: z.number().int().positive(),
});

/** Worker → central, plain publish every `heartbeat_ms`. */
export const heartbeatSchema = z.strictObject({
  kind: z.literal('pas.v1.heartbeat'),
  worker_id: subjectIdSchema,
  /** Rises by one per heartbeat of this worker process (a restart starts again at 0 with a new pid). */
  seq: z.number().int().min(0),
  pid: z.number().int().positive(),
  /** Random per worker process: tells two processes apart whose pids are equal (pid 1 in two containers). */
  instance: z.string().min(1).max(64).optional(),
  sent_at: isoTime,
  /** The worker build's protocol revision (as in `pas.v1.register`): a heartbeat of another revision is ignored. */
  protocol: z.string().min(1).max(64).optional(),
  /** Attempts running now, per programmer. */
  running: z.array(z.strictObject({ programmer_id: subjectIdSchema, attempt_id: distIdSchema })).max(49),
});

/** Central → worker, on the work-queue stream (`task.<programmerId>`); Nats-Msg-Id is `attempt_id`. */
export const taskSchema = z.strictObject({
  kind: z.literal('pas.v1.task'),
  job_id: distIdSchema,
  task_id: distIdSchema,
  /** Unique per dispatch of a task; fences late results of earlier attempts. */
  attempt_id: distIdSchema,
  programmer_id: subjectIdSchema,
  task: remoteTaskSpecSchema,
  repo_key: repoKeySchema,
  base_commit: commitSchema,
  /** Object store entry holding the base bundle; null when the worker's cache already has the base. */
  bundle_object: objectNameSchema.nullable(),
  /** Whether the bundle is full (the host's first sight of the repository) or incremental. */
  bundle_full: z.boolean(),
  /** The branch the result will be written to, centrally (`pas/<job>/<task>`). */
  branch: z.string().min(1).max(255),
  sent_at: isoTime,
  /** The job's own `max_job_spend_usd`, when it set one: the worker's LLM gateway holds its calls to it. */
  job_max_spend_usd: z.number().min(0).optional(),
});

/** The most paid-call ids a result names (a task's calls are a few per edit–verify round). */
export const MAX_CALLS_PER_RESULT = 2_000;

const receiptFields = {
  provider: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(256).optional(),
  used_backup: z.boolean().optional(),
  tokens: tokenUsageSchema.optional(),
  cost_usd: z.number().min(0).optional(),
  duration_ms: z.number().int().min(0),
  kpi: kpiSchema.optional(),
  started_at: isoTime,
  finished_at: isoTime,
  /**
   * The ids of the paid calls this run of the attempt reported (`pas.v1.spend`): the central
   * process adds the attempt's other reported calls (an earlier run of it, on a worker restarted
   * before it was declared offline) to the receipt.
   */
  call_ids: z.array(distIdSchema).max(MAX_CALLS_PER_RESULT).optional(),
};

/** Worker → central, on the result stream (`result.<programmerId>`); acked after the journal commit. */
export const resultSchema = z.strictObject({
  kind: z.literal('pas.v1.result'),
  attempt_id: distIdSchema,
  job_id: distIdSchema,
  task_id: distIdSchema,
  programmer_id: subjectIdSchema,
  worker_id: subjectIdSchema,
  outcome: z.discriminatedUnion('status', [
    z
      .strictObject({
        status: z.literal('ok'),
        base_commit: commitSchema,
        commit: commitSchema,
        /** Object store entry holding the result bundle (base..commit), when it is too big to travel inline. */
        bundle_object: objectNameSchema.optional(),
        /** The result bundle itself (base64), when it is small: no object store round trips. */
        bundle: z.base64().max(Math.ceil(INLINE_BUNDLE_MAX_BYTES / 3) * 4).optional(),
        summary: z.string().max(20_000).optional(),
      })
      .refine((o) => !(o.bundle_object !== undefined && o.bundle !== undefined), { message: 'a result names its bundle in the object store or carries it inline, not both', path: ['bundle'] })
      .refine((o) => o.commit === o.base_commit || o.bundle_object !== undefined || o.bundle !== undefined, { message: 'a result with a commit of its own needs its bundle (bundle_object or bundle)', path: ['bundle_object'] }),
    z.strictObject({
      status: z.literal('error'),
      error: errorDataSchema,
      /** True when the task stopped because it was cancelled. */
      cancelled: z.boolean().optional(),
    }),
  ]),
  receipt: z.strictObject(receiptFields),
  /** The last thing the task reported before it ended. */
  progress: taskProgressSchema.optional(),
});

/** Worker → central, plain publish (`progress.<programmerId>`), best effort. */
export const progressSchema = z.strictObject({
  kind: z.literal('pas.v1.progress'),
  attempt_id: distIdSchema,
  task_id: distIdSchema,
  programmer_id: subjectIdSchema,
  seq: z.number().int().min(0),
  at: isoTime,
  progress: taskProgressSchema,
});

/** Central → worker, request/reply on `cancel.<workerId>`. */
export const cancelSchema = z.strictObject({
  kind: z.literal('pas.v1.cancel'),
  attempt_id: distIdSchema,
  task_id: distIdSchema,
  programmer_id: subjectIdSchema,
  reason: z.string().max(1000).optional(),
});

/** Worker → central, the reply to `pas.v1.cancel`. */
export const cancelledSchema = z.strictObject({
  kind: z.literal('pas.v1.cancelled'),
  attempt_id: distIdSchema,
  /** False when the worker was not running that attempt (already finished, or never got it). */
  found: z.boolean(),
});

/**
 * About the cluster-wide breaker of one model. Worker → central: `outcome` (durable, on the result
 * stream): a call ended; `probe` (request/reply): may this worker call the model now (one probe
 * cluster-wide while half-open)? Central → every worker: `revoke` (plain publish): the model's
 * breaker left closed, its leases end.
 */
export const breakerSchema = z.discriminatedUnion('op', [
  z.strictObject({
    kind: z.literal('pas.v1.breaker'),
    op: z.literal('outcome'),
    call_id: distIdSchema,
    worker_id: subjectIdSchema,
    programmer_id: subjectIdSchema.optional(),
    attempt_id: distIdSchema.optional(),
    model: modelRefSchema,
    ok: z.boolean(),
    error: errorDataSchema.optional(),
    /** The caller gave up before an answer (a probe abandoned: the next caller may probe). */
    abandoned: z.boolean().optional(),
    at: isoTime,
  }),
  z.strictObject({
    kind: z.literal('pas.v1.breaker'),
    op: z.literal('probe'),
    call_id: distIdSchema,
    worker_id: subjectIdSchema,
    programmer_id: subjectIdSchema.optional(),
    /** The attempt the call works for: one the central process gave up gets no call. */
    attempt_id: distIdSchema.optional(),
    /** The job the call works for (its `max_job_spend_usd` is checked too). */
    job_id: distIdSchema.optional(),
    model: modelRefSchema,
    at: isoTime,
  }),
  z.strictObject({
    kind: z.literal('pas.v1.breaker'),
    op: z.literal('revoke'),
    /** The model whose leases end: its breaker left closed. */
    model: modelRefSchema,
    state: z.enum(BREAKER_STATES),
    at: isoTime,
  }),
]);

/** Central → worker, the reply to a breaker `probe`. */
export const breakerReplySchema = z.strictObject({
  kind: z.literal('pas.v1.breaker_reply'),
  call_id: distIdSchema,
  model: modelRefSchema,
  state: z.enum(BREAKER_STATES),
  /** Whether the worker may make the call (closed, or this call is the one half-open probe). */
  allow: z.boolean(),
  error: errorDataSchema.optional(),
  /**
   * The worker may call this model again without asking for this long (a closed breaker, a model
   * no budget holds back); the lease ends early on a `revoke`, a failed call of its own, or a lost link.
   */
  lease_ms: z.number().int().positive().max(60_000).optional(),
});

/** Worker → central, on the result stream (`spend.<workerId>`): money one model call cost. */
export const spendSchema = z.strictObject({
  kind: z.literal('pas.v1.spend'),
  call_id: distIdSchema,
  worker_id: subjectIdSchema,
  programmer_id: subjectIdSchema.optional(),
  attempt_id: distIdSchema.optional(),
  job_id: distIdSchema.optional(),
  /** The model called; absent when the program that spent did not say (an agent CLI's total). */
  model: modelRefSchema.optional(),
  tokens: tokenUsageSchema,
  cost_usd: z.number().min(0),
  at: isoTime,
});

/**
 * A central process, on the prefix's `central` subject: its announcement at its start (sent with
 * a reply inbox) and its answer to another's for as long as it runs (central-presence.ts).
 */
export const centralSchema = z.strictObject({
  kind: z.literal('pas.v1.central'),
  /** Random per process start: tells two processes with the same pid (containers) apart. */
  instance: z.string().regex(/^[0-9a-f]{16}$/),
  pid: z.number().int().min(0),
  host: z.string().min(1).max(255),
  /** When it started answering: of two, the earlier stays. */
  since: isoTime,
});

export const MESSAGE_SCHEMAS = {
  'pas.v1.register': registerSchema,
  'pas.v1.registered': registeredSchema,
  'pas.v1.heartbeat': heartbeatSchema,
  'pas.v1.task': taskSchema,
  'pas.v1.result': resultSchema,
  'pas.v1.progress': progressSchema,
  'pas.v1.cancel': cancelSchema,
  'pas.v1.cancelled': cancelledSchema,
  'pas.v1.breaker': breakerSchema,
  'pas.v1.breaker_reply': breakerReplySchema,
  'pas.v1.spend': spendSchema,
  'pas.v1.central': centralSchema,
} as const;

export type MessageKind = keyof typeof MESSAGE_SCHEMAS;
export type Message<K extends MessageKind> = z.infer<(typeof MESSAGE_SCHEMAS)[K]>;
export type RegisterMessage = Message<'pas.v1.register'>;
export type RegisteredMessage = Message<'pas.v1.registered'>;
export type HeartbeatMessage = Message<'pas.v1.heartbeat'>;
export type TaskMessage = Message<'pas.v1.task'>;
export type ResultMessage = Message<'pas.v1.result'>;
export type ProgressMessage = Message<'pas.v1.progress'>;
export type CancelMessage = Message<'pas.v1.cancel'>;
export type CancelledMessage = Message<'pas.v1.cancelled'>;
export type BreakerMessage = Message<'pas.v1.breaker'>;
export type BreakerReplyMessage = Message<'pas.v1.breaker_reply'>;
export type SpendMessage = Message<'pas.v1.spend'>;
export type CentralMessage = Message<'pas.v1.central'>;

/** No message is bigger than this (big bundles travel through the object store, not in messages). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function badMessage(kind: string, field: string, problem: string, extra: Record<string, unknown> = {}): PasError {
  return new PasError('PAS_ERR_DIST_BAD_MESSAGE', `${kind}: ${field}: ${problem}`, { details: { kind, field, problem, ...extra } });
}

function fieldPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out ? `.${String(s)}` : String(s);
  return out || '(root)';
}

/**
 * Parses and validates one message of `kind`. Throws PAS_ERR_DIST_BAD_MESSAGE whose message and
 * details name the first bad field (`details.issues` lists them all), for bad UTF-8, bad JSON, a
 * message of another kind or version, or a schema violation.
 */
export function decodeMessage<K extends MessageKind>(kind: K, bytes: Uint8Array | string): Message<K> {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > MAX_MESSAGE_BYTES) throw badMessage(kind, '(root)', `message is ${size} bytes, more than ${MAX_MESSAGE_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : decoder.decode(bytes));
  } catch (err) {
    throw badMessage(kind, '(root)', `not JSON (${(err as Error).message})`);
  }
  return validMessage(kind, value);
}

/** `value` checked against the schema of `kind` (its `kind` field first); throws like decodeMessage. */
function validMessage<K extends MessageKind>(kind: K, value: unknown): Message<K> {
  const found = value && typeof value === 'object' && 'kind' in value ? (value as { kind: unknown }).kind : undefined;
  if (found !== kind) {
    throw badMessage(kind, 'kind', `expected "${kind}", got ${found === undefined ? 'none' : JSON.stringify(found).slice(0, 80)}`, { received: typeof found === 'string' ? found.slice(0, 80) : undefined });
  }
  const parsed = MESSAGE_SCHEMAS[kind].safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const segments = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0] ?? ''] : i.path;
      return { field: fieldPath(segments), problem: i.code === 'unrecognized_keys' ? `unknown field "${i.keys.join('", "')}"` : i.message };
    });
    const first = issues[0]!;
    throw badMessage(kind, first.field, first.problem, { issues });
  }
  return parsed.data as Message<K>;
}

/**
 * Validates `value` as a message of its kind and returns its JSON bytes; a bad value throws like
 * decodeMessage. The value is checked as it is (once, no JSON round trip): what PAS builds is
 * plain JSON data.
 */
export function encodeMessage<K extends MessageKind>(kind: K, value: Message<K>): Uint8Array {
  validMessage(kind, value);
  return sized(kind, encoder.encode(JSON.stringify(value)));
}

/** `bytes` when they are within MAX_MESSAGE_BYTES; throws like decodeMessage otherwise. */
function sized(kind: MessageKind, bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength > MAX_MESSAGE_BYTES) throw badMessage(kind, '(root)', `message is ${bytes.byteLength} bytes, more than ${MAX_MESSAGE_BYTES}`);
  return bytes;
}
