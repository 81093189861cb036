/**
 * What the central process and `pas worker` both open on the broker: the connection, the streams,
 * buckets and object store named from `distribution.prefix`, and the attempts bucket (task id →
 * its current attempt, the fence against late results).
 */
import type { Logger } from 'pino';
import type { DistributionConfig } from '../config/schemas.ts';
import { toErrorData } from '../errors.ts';
import { connectDistribution, ensureStreams, type DistributionStreams, type KV, type NatsHandles } from './nats-connection.ts';

export interface DistLink extends DistributionStreams {
  readonly nats: NatsHandles;
  /** Task id → its current attempt (AttemptRecord JSON). */
  readonly attempts: KV;
  readonly settings: DistributionConfig;
  close(): Promise<void>;
}

export async function openLink(settings: DistributionConfig, name: string, env: NodeJS.ProcessEnv = process.env): Promise<DistLink> {
  const nats = await connectDistribution(settings, { name, env });
  try {
    const streams = await ensureStreams(nats, settings.prefix, { ackWaitMs: settings.ack_wait_ms, bundleTtlMs: settings.bundle_ttl_s * 1000 });
    const attempts = await nats.kvm.create(`PAS_${settings.prefix}_ATTEMPTS`, { history: 1 });
    return { ...streams, nats, attempts, settings, close: () => nats.close() };
  } catch (err) {
    await nats.close().catch(() => undefined);
    throw err;
  }
}

export function toJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function fromJson<T>(data: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(data)) as T;
}

/** The task's current attempt as KV holds it (key: the task id). */
export interface AttemptRecord {
  attemptId: string;
  programmerId: string;
  worker: string;
  /** The journal's attempt number when it was dispatched (one receipt per attempt). */
  journalAttempt: number;
  repo: string;
  repoKey: string;
  dispatchedAt: number;
}

/** The attempt an entry of the attempts bucket names (undefined: none, or deleted). */
export function attemptOf(entry: { operation: string; length: number; value: Uint8Array } | null | undefined): AttemptRecord | undefined {
  return entry && entry.operation === 'PUT' && entry.length > 0 ? fromJson<AttemptRecord>(entry.value) : undefined;
}

/** JetStream durations are nanoseconds. */
export const nanos = (ms: number) => ms * 1_000_000;

/** `subject('x')` with its last token a wildcard: every worker's or programmer's subject of that kind. */
export function anyOf(subject: (id: string) => string): string {
  return subject('x').replace(/x$/, '*');
}

/**
 * Runs `op` until the broker has what it stores (or answers what it reads): a broker restart or a
 * lost link in between loses nothing; it waits longer between tries up to 2 s. Gives up only when
 * the link is closed or `giveUp(err)` says so (a caller that stopped, an answer that is final).
 */
export async function untilStored<T>(link: DistLink, what: string, op: () => Promise<T>, log: Logger, giveUp: (err: unknown) => boolean = () => false): Promise<T> {
  for (let wait = 200; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await op();
    } catch (err) {
      if (link.nats.nc.isClosed() || giveUp(err)) throw err;
      log.warn({ err: toErrorData(err), what }, `${what} failed; trying again`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Whether a failed broker call is worth trying again: the link is down (or was while it ran), or
 * the broker did not answer in time or had nobody to answer (JetStream not back yet after a
 * restart). Anything else (a message too big, a bad name) fails the same way every time.
 */
export function brokerAway(link: DistLink, err: unknown): boolean {
  if (!link.nats.isConnected()) return true;
  const e = err as { name?: string; message?: string; cause?: unknown } | undefined;
  const said = `${e?.name ?? ''} ${e?.message ?? ''} ${(e?.cause as Error | undefined)?.name ?? ''} ${(e?.cause as Error | undefined)?.message ?? ''}`;
  return /timeout|timed out|no responders|disconnect|connection (was )?closed|reconnect|temporarily unavailable|\b503\b/i.test(said);
}

/** Publishes to a stream until the broker has stored it; `msgID` makes a retried publish stored once. */
export async function publishUntilStored(link: DistLink, subject: string, data: Uint8Array, msgID: string, log: Logger): Promise<void> {
  await untilStored(link, `publish on ${subject}`, () => link.nats.js.publish(subject, data, { msgID }), log);
}
