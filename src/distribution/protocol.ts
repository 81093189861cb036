/**
 * Which wire protocol a build speaks, so a central process and a worker of different PAS builds
 * never meet mid-run (a newer build's optional field is an unknown field to an older one's strict
 * schema). The revision is a hash of what two builds must agree on: every `pas.v1.*` schema's
 * shape (as JSON Schema), the subject and stream names, and the message size limit. It is
 * computed from the schemas themselves, so it changes whenever one changes; nobody has to
 * remember to bump it.
 *
 * A worker announces its package version and revision in `pas.v1.register` and its revision in
 * every `pas.v1.heartbeat`. The central process reads these few fields leniently, before the
 * strict schema (a build of another revision may send fields this one does not know), and
 * refuses a worker of another revision, or one that announces none, with
 * PAS_ERR_DIST_VERSION_MISMATCH: every programmer it asked for is refused, and its heartbeats
 * are ignored, so it is never online and takes no task. A heartbeat carries a NATS reply subject
 * (no field of its own): one ignored is answered there with the same refusal, so a worker already
 * running when the central process is restarted with another build registers again, hears why
 * and stops.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PasError } from '../errors.ts';
import { PAS_VERSION } from '../version.ts';
import { MAX_MESSAGE_BYTES, MESSAGE_SCHEMAS, subjectIdSchema, type RegisteredMessage } from './messages.ts';
import { distributionNames, type DistributionNames } from './names.ts';

/** What identifies a build on the wire. */
export interface BuildId {
  /** package.json's version. */
  readonly version: string;
  /** The `pas.v1.*` protocol revision (protocolRevision()). */
  readonly protocol: string;
}

/** The protocol revision of `schemas` with `names`: 16 hex digits of a SHA-256 over their shapes. */
export function protocolRevision(schemas: Readonly<Record<string, z.ZodType>> = MESSAGE_SCHEMAS, names: DistributionNames = distributionNames('p')): string {
  const shapes = Object.entries(schemas)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([kind, schema]) => [kind, z.toJSONSchema(schema, { unrepresentable: 'any' })]);
  const subjects = Object.entries(names.subjects).map(([key, subject]) => [key, typeof subject === 'function' ? subject('ID') : subject]);
  const { taskStream, resultStream, ownerBucket, bundleBucket, streamSubjects } = names;
  const text = JSON.stringify({ shapes, subjects, taskStream, resultStream, ownerBucket, bundleBucket, streamSubjects, maxMessageBytes: MAX_MESSAGE_BYTES });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

let ours: BuildId | undefined;
/** This build (its revision computed once, on first use). */
export function thisBuild(): BuildId {
  ours ??= { version: PAS_VERSION, protocol: protocolRevision() };
  return ours;
}

/** The JSON value of a message's bytes; undefined when they are not JSON. */
function jsonOf(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The fields of a register or heartbeat that name its sender and build, read without the strict schema. */
const announcedSchema = z.object({
  worker_id: z.string().max(128).optional().catch(undefined),
  pid: z.number().optional().catch(undefined),
  version: z.string().max(64).optional().catch(undefined),
  protocol: z.string().max(64).optional().catch(undefined),
  programmer_ids: z.array(z.unknown()).max(49).optional().catch(undefined),
});

export interface Announced {
  workerId?: string;
  pid?: number;
  version?: string;
  protocol?: string;
  programmerIds: string[];
}

/** What a message says about its sender's build; undefined when it is not a JSON object (the strict schema says why). */
export function announcedBuild(bytes: Uint8Array): Announced | undefined {
  const read = announcedSchema.safeParse(jsonOf(bytes));
  if (!read.success) return undefined;
  const a = read.data;
  return {
    ...(a.worker_id !== undefined ? { workerId: a.worker_id } : {}),
    ...(a.pid !== undefined ? { pid: a.pid } : {}),
    ...(a.version !== undefined ? { version: a.version } : {}),
    ...(a.protocol !== undefined ? { protocol: a.protocol } : {}),
    programmerIds: (a.programmer_ids ?? []).filter((id): id is string => subjectIdSchema.safeParse(id).success),
  };
}

/** The error both sides log when a worker's build speaks another protocol than the central process's. */
export function versionMismatch(worker: Announced, central: BuildId): PasError {
  const who = worker.workerId ? `worker ${worker.workerId}` : 'a worker';
  const theirs = worker.protocol
    ? `PAS ${worker.version ?? '(no version)'} (protocol ${worker.protocol})`
    : `an older PAS build${worker.version ? ` (version field "${worker.version}")` : ''} that announces no protocol revision`;
  return new PasError(
    'PAS_ERR_DIST_VERSION_MISMATCH',
    `${who} runs ${theirs}; the central process runs PAS ${central.version} (protocol ${central.protocol}). ` +
      `Their pas.v1 messages differ, so the worker is refused and takes no task. Run the same PAS build on both hosts ` +
      `(install the central's build on the worker's host, or restart the central with the worker's), then start the worker again.`,
    { details: { worker: { id: worker.workerId ?? null, version: worker.version ?? null, protocol: worker.protocol ?? null }, central: { version: central.version, protocol: central.protocol } } },
  );
}

/**
 * The answer to a worker of another build: every programmer it asked for is refused with
 * `error`. A worker that announced a revision knows PAS_ERR_DIST_VERSION_MISMATCH; one from
 * before revisions does not (its strict schema would refuse the whole answer and it would ask
 * again forever), so it gets the same message under PAS_ERR_DIST_BAD_MESSAGE, a code it knows,
 * and stops because it was given no programmer. Undefined when the worker id cannot be answered.
 */
export function refusalReply(worker: Announced, error: PasError, timing: { heartbeat_ms: number; offline_after_ms: number }): RegisteredMessage | undefined {
  if (!worker.workerId || !subjectIdSchema.safeParse(worker.workerId).success) return undefined;
  const data = error.toData();
  const said = worker.protocol ? data : { ...data, code: 'PAS_ERR_DIST_BAD_MESSAGE' as const };
  return { kind: 'pas.v1.registered', worker_id: worker.workerId, accepted: [], refused: worker.programmerIds.map((id) => ({ programmer_id: id, error: said })), ...timing };
}

/** The refusal a central process of another build answered a registration with, read without the strict schema (its `registered` may differ too). */
const refusedSchema = z.object({
  refused: z.array(z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }) })),
});

export function refusedForBuild(reply: Uint8Array): PasError | undefined {
  const read = refusedSchema.safeParse(jsonOf(reply));
  const error = read.success ? read.data.refused.find((r) => r.error.code === 'PAS_ERR_DIST_VERSION_MISMATCH')?.error : undefined;
  return error ? new PasError('PAS_ERR_DIST_VERSION_MISMATCH', error.message, { details: error.details ?? {} }) : undefined;
}
