/**
 * The one place PAS talks to NATS JetStream. The client packages are loaded here by dynamic
 * `import()` only, so a run without `distribution` in its config never loads them (a test checks
 * the module graph of a plain start). Only `import type` may name them elsewhere.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient, JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import type { ObjectStore, Objm } from '@nats-io/obj';
import type { DistributionConfig } from '../config/schemas.ts';
import { PasError } from '../errors.ts';
import { distributionNames, type DistributionNames } from './names.ts';

export type { NatsConnection } from '@nats-io/transport-node';
export type { JetStreamClient, JetStreamManager, JsMsg, Consumer } from '@nats-io/jetstream';
export type { KV } from '@nats-io/kv';
export type { ObjectStore } from '@nats-io/obj';

export interface ConnectNatsOptions {
  /** Shown by the server for this connection (`pas-central`, `pas-worker:gpu-1`). */
  name?: string;
  /** The broker token (read by the caller from distribution.token_env; never logged). */
  token?: string;
  /** Give up the first connection after this long. */
  timeoutMs?: number;
  /** Keep reconnecting forever after a lost connection (default true: a broker restart is survived). */
  reconnect?: boolean;
  /** Wait between reconnect attempts. */
  reconnectTimeWaitMs?: number;
  /**
   * Ping the broker this often; two pings unanswered and the client drops the connection and
   * reconnects (the client's default, 2 minutes, leaves a dead link unnoticed for minutes).
   */
  pingIntervalMs?: number;
}

/** A live connection and the JetStream APIs on it. */
export interface NatsHandles {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
  readonly objm: Objm;
  /** False between a lost connection and the client's reconnect. */
  isConnected(): boolean;
  /**
   * Resolves once the client is connected (at once when it is). A request sent while the client
   * is reconnecting is buffered and its answer can be lost, so callers wait for this first.
   */
  whenConnected(timeoutMs?: number): Promise<void>;
  /** Drains and closes the connection. */
  close(): Promise<void>;
}

/** Loads the NATS client modules (the only place they are imported at run time). */
export async function loadNatsModules() {
  const [transport, jetstream, kv, obj] = await Promise.all([
    import('@nats-io/transport-node'),
    import('@nats-io/jetstream'),
    import('@nats-io/kv'),
    import('@nats-io/obj'),
  ]);
  return { transport, jetstream, kv, obj };
}

function hostPort(url: string): string[] {
  return url.split(',').map((u) => u.trim()).filter(Boolean);
}

/** Connects to the broker at `url` (comma-separated for several). Throws PAS_ERR_DIST_BROKER when it cannot. */
export async function connectNats(url: string, opts: ConnectNatsOptions = {}): Promise<NatsHandles> {
  const mods = await loadNatsModules();
  const servers = hostPort(url);
  let nc: NatsConnection;
  try {
    nc = await mods.transport.connect({
      servers,
      name: opts.name ?? 'pas',
      timeout: opts.timeoutMs ?? 5000,
      reconnect: opts.reconnect ?? true,
      maxReconnectAttempts: opts.reconnect === false ? 0 : -1,
      reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
      // No Error (with its stack) made up front for every request in case it fails: PAS wraps a
      // failed call in its own coded error, and two stack captures per request cost every task.
      noAsyncTraces: true,
      ...(opts.pingIntervalMs === undefined ? {} : { pingInterval: opts.pingIntervalMs, maxPingOut: 2 }),
      ...(opts.token === undefined ? {} : { token: opts.token }),
    });
  } catch (err) {
    throw new PasError('PAS_ERR_DIST_BROKER', `cannot connect to NATS at ${servers.join(', ')}: ${(err as Error).message}`, { cause: err, details: { servers } });
  }
  let connected = true;
  let waiters: Array<() => void> = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') connected = false;
      if (status.type === 'reconnect') {
        connected = true;
        for (const wake of waiters.splice(0)) wake();
      }
    }
  })().catch(() => {});
  void nc.closed().then(() => {
    connected = false;
    for (const wake of waiters.splice(0)) wake();
  });
  const whenConnected = (timeoutMs = opts.timeoutMs ?? 5000): Promise<void> => {
    if (connected) return Promise.resolve();
    if (nc.isClosed()) return Promise.reject(new PasError('PAS_ERR_DIST_BROKER', `the connection to NATS at ${servers.join(', ')} is closed`, { details: { servers } }));
    return new Promise((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        if (connected) resolve();
        else reject(new PasError('PAS_ERR_DIST_BROKER', `the connection to NATS at ${servers.join(', ')} is closed`, { details: { servers } }));
      };
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== wake);
        reject(new PasError('PAS_ERR_DIST_BROKER', `NATS at ${servers.join(', ')} not reachable again within ${timeoutMs} ms`, { details: { servers } }));
      }, timeoutMs);
      waiters.push(wake);
    });
  };
  try {
    const js = mods.jetstream.jetstream(nc);
    const jsm = await mods.jetstream.jetstreamManager(nc);
    return {
      nc,
      js,
      jsm,
      kvm: new mods.kv.Kvm(js),
      objm: new mods.obj.Objm(js),
      isConnected: () => connected,
      whenConnected,
      close: async () => {
        if (nc.isClosed()) return;
        await nc.drain().catch(() => nc.close());
      },
    };
  } catch (err) {
    await nc.close().catch(() => {});
    throw new PasError('PAS_ERR_DIST_BROKER', `NATS at ${servers.join(', ')} has no JetStream (start nats-server with -js): ${(err as Error).message}`, { cause: err, details: { servers } });
  }
}

/**
 * Connects as `distribution` in pas.yaml says: its `nats_url`, and the token from the environment
 * variable `token_env` names (a missing variable is refused before any connection is tried).
 */
export async function connectDistribution(config: Pick<DistributionConfig, 'nats_url' | 'token_env' | 'request_timeout_ms'> & Partial<Pick<DistributionConfig, 'offline_after_ms'>>, opts: { name: string; env?: NodeJS.ProcessEnv }): Promise<NatsHandles> {
  const env = opts.env ?? process.env;
  let token: string | undefined;
  if (config.token_env) {
    token = env[config.token_env];
    if (!token) throw new PasError('PAS_ERR_DIST_BROKER', `distribution.token_env names ${config.token_env}, which is not set`, { details: { token_env: config.token_env } });
  }
  // A link that went dead without a reset (a partition) is dropped and dialled again within
  // about two to three offline_after_ms, rather than after the client's default of minutes.
  const ping = config.offline_after_ms === undefined ? {} : { pingIntervalMs: Math.max(1_000, config.offline_after_ms) };
  return connectNats(config.nats_url, { name: opts.name, timeoutMs: config.request_timeout_ms, ...ping, ...(token === undefined ? {} : { token }) });
}

export interface EnsureStreamsOptions {
  /**
   * Not a stream setting: ack wait belongs to each task consumer (`ack_wait`), which its worker
   * creates. Accepted so callers can pass one settings object; ignored here.
   */
  ackWaitMs?: number;
  /** Bundles older than this are dropped by the broker. */
  bundleTtlMs?: number;
  /** Storage of streams and buckets (file survives a broker restart; memory for throwaway tests). */
  storage?: 'file' | 'memory';
  /** Window in which a task published twice with the same Nats-Msg-Id (attempt id) is stored once. */
  duplicateWindowMs?: number;
}

export interface DistributionStreams {
  readonly names: DistributionNames;
  readonly owners: KV;
  readonly bundles: ObjectStore;
}

const ms = (n: number) => n * 1_000_000; // JetStream durations are nanoseconds

/**
 * Creates (or updates to the same settings) everything distribution needs on the broker, named
 * from `prefix`: the task work-queue stream, the result stream, the ownership KV bucket and the
 * bundle object store. Idempotent: central and workers may both call it at start.
 */
export async function ensureStreams(nats: NatsHandles, prefix: string, opts: EnsureStreamsOptions = {}): Promise<DistributionStreams> {
  const names = distributionNames(prefix);
  const { jetstream } = await loadNatsModules();
  await nats.whenConnected();
  const storage = opts.storage === 'memory' ? jetstream.StorageType.Memory : jetstream.StorageType.File;
  const common: Partial<StreamConfig> = {
    storage,
    discard: jetstream.DiscardPolicy.New,
    max_msg_size: 1024 * 1024,
    duplicate_window: ms(opts.duplicateWindowMs ?? 120_000),
    num_replicas: 1,
  };
  try {
    await upsertStream(nats.jsm, { ...common, name: names.taskStream, subjects: names.streamSubjects.task, retention: jetstream.RetentionPolicy.Workqueue });
    await upsertStream(nats.jsm, { ...common, name: names.resultStream, subjects: names.streamSubjects.result, retention: jetstream.RetentionPolicy.Workqueue });
    const owners = await nats.kvm.create(names.ownerBucket, { history: 1, storage });
    const bundles = await nats.objm.create(names.bundleBucket, { storage, ttl: ms(opts.bundleTtlMs ?? 86_400_000) });
    return { names, owners, bundles };
  } catch (err) {
    if (err instanceof PasError) throw err;
    throw new PasError('PAS_ERR_DIST_BROKER', `cannot set up JetStream streams for prefix "${prefix}": ${(err as Error).message}`, { cause: err, details: { prefix } });
  }
}

async function upsertStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const existing = await jsm.streams.info(config.name).catch((err: unknown) => {
    if ((err as { name?: string }).name === 'StreamNotFoundError' || /stream not found/i.test((err as Error).message)) return null;
    throw err;
  });
  if (!existing) {
    await jsm.streams.add(config);
    return;
  }
  // Retention and storage cannot change in place: a stream set up differently is refused rather than lost.
  if (existing.config.retention !== config.retention || existing.config.storage !== config.storage) {
    throw new PasError('PAS_ERR_DIST_BROKER', `stream ${config.name} exists with retention ${existing.config.retention}/${existing.config.storage}, PAS needs ${config.retention}/${config.storage}; delete it or use another distribution.prefix`, { details: { stream: config.name } });
  }
  await jsm.streams.update(config.name, { ...existing.config, ...config });
}
