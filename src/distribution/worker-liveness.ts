/**
 * Which `pas worker` hosts which programmer and whether it is alive, as the central process sees
 * it. A worker registers (request/reply): the central process gives it each programmer whose
 * `host` names it by compare-and-set in the owners KV bucket, so a programmer id has one owner;
 * one still owned by another live worker is refused. Workers heartbeat every `heartbeat_ms`; one
 * silent for `offline_after_ms` is offline, and its programmers with it, but only once a round
 * trip proves this process still reaches the broker (HeartbeatClock): the side of a partition
 * that lost the broker declares no one dead, and every worker's clock starts again once the
 * broker answers or the client reconnects.
 */
import type { Logger } from 'pino';
import { codedError } from '../../machines/error-codes.ts';
import type { PasConfig } from '../config/load-config.ts';
import { toErrorData } from '../errors.ts';
import { HeartbeatClock } from './heartbeat-clock.ts';
import type { DistLink } from './link.ts';
import { anyOf, fromJson, toJson } from './link.ts';
import { decodeMessage, encodeMessage, type RegisteredMessage } from './messages.ts';
import { announcedBuild, refusalReply, thisBuild, versionMismatch, type BuildId } from './protocol.ts';

export interface WorkerLiveness {
  isOnline(worker: string): boolean;
  /**
   * The online worker hosting the programmer; waits for one to appear while this process is
   * younger than `offline_after_ms` (workers heartbeat again after a restart), else undefined.
   */
  ownerOf(programmerId: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Online workers and the programmers each owns. */
  online(): Map<string, string[]>;
  /**
   * The programmers that can take work now: those of online workers, and while this process is
   * younger than offline_after_ms (it may not have heard a live worker yet, after a restart) every
   * programmer with an owner. `onChange` is told when that grace ends.
   */
  reachable(): Set<string>;
  /** The attempts the worker said it runs in its last heartbeat. */
  runningOn(worker: string): ReadonlySet<string>;
  stop(): void;
}

export interface LivenessOptions {
  link: DistLink;
  config: PasConfig;
  logger: Logger;
  onOffline(worker: string, programmers: string[]): void;
  /** A worker registered with what its repository cache holds. */
  onRegister?(worker: string, repoHaves: Record<string, string[]>): void;
  /** Which programmers are reachable may have changed (a worker online or offline, an owner changed): read `online()`. Told before `onOffline`. */
  onChange?(): void;
  now?: () => number;
  /** The build this central process is (default this one's): a worker of another protocol revision is refused. */
  build?: BuildId;
}

interface Owner {
  worker_id: string;
  pid: number;
  /** The process's random instance (workers of older builds send none). */
  instance?: string;
}

/** A worker process's identity: its pid, and its instance where it sends one (two containers may both run pid 1). */
function processOf(o: { pid: number; instance?: string | undefined }): string {
  return o.instance ? `${o.pid}/${o.instance}` : String(o.pid);
}

export async function watchWorkers(options: LivenessOptions): Promise<WorkerLiveness> {
  const { link, logger } = options;
  const { heartbeat_ms: heartbeatMs, offline_after_ms: offlineAfterMs } = link.settings;
  const now = options.now ?? Date.now;
  const log = logger.child({ component: 'distribution' });
  const startedAt = now();
  /** worker id → the attempts its last heartbeat said it runs. */
  const running = new Map<string, Set<string>>();
  /** programmer id → owner, mirrored from the owners bucket. */
  const owners = new Map<string, Owner>();
  const hostOf = new Map(options.config.programmers.map((p) => [p.id, p.host ?? 'local']));
  const build = options.build ?? thisBuild();
  /** Worker processes (id:pid) of another build whose heartbeats were ignored (each logged once). */
  const otherBuilds = new Set<string>();

  const programmersOf = (worker: string) => [...owners].filter(([, o]) => o.worker_id === worker).map(([id]) => id);
  /** Last heartbeat per worker and whether it counts as online. */
  const clock = new HeartbeatClock({
    heartbeatMs,
    offlineAfterMs,
    now,
    probeBroker: () => link.nats.nc.flush(),
    probeTimeoutMs: offlineAfterMs,
    onOffline(worker, silentMs) {
      const programmers = programmersOf(worker);
      log.warn({ code: 'PAS_ERR_DIST_WORKER_OFFLINE', worker, silentMs, programmers }, 'worker offline');
      // The pool hears first that these programmers take no work, then their tasks fail over (to others).
      options.onChange?.();
      options.onOffline(worker, programmers);
    },
    onCutOff(cutOff, why) {
      if (cutOff) log.warn({ code: 'PAS_ERR_DIST_BROKER', why }, 'the NATS broker does not answer: no worker is declared offline until it does');
      else log.info({ why }, 'NATS broker answers again: every worker\'s clock starts again');
    },
  });

  const ownersWatch = await link.owners.watch();
  void (async () => {
    for await (const entry of ownersWatch) {
      if (entry.operation !== 'PUT') owners.delete(entry.key);
      else owners.set(entry.key, fromJson<Owner>(entry.value));
      options.onChange?.();
    }
  })();

  const beats = link.nats.nc.subscribe(anyOf(link.names.subjects.heartbeat), {
    callback: (err, msg) => {
      if (err) return;
      try {
        // A worker of another build is not one of this cluster's: never online, so never given a task.
        const announced = announcedBuild(msg.data);
        if (announced && announced.protocol !== build.protocol) {
          const key = `${announced.workerId}:${announced.pid}`;
          if (!otherBuilds.has(key)) {
            if (otherBuilds.size >= 1_000) otherBuilds.clear();
            otherBuilds.add(key);
            log.error({ code: 'PAS_ERR_DIST_VERSION_MISMATCH', worker: announced.workerId, workerPid: announced.pid, err: versionMismatch(announced, build).toData() }, 'heartbeats of a worker of another PAS build ignored: it takes no task');
          }
          // A worker that gave a reply inbox hears it was not taken (and registers again to hear why).
          const refusal = msg.reply ? refusalReply(announced, versionMismatch(announced, build), { heartbeat_ms: heartbeatMs, offline_after_ms: offlineAfterMs }) : undefined;
          if (refusal) msg.respond(encodeMessage('pas.v1.registered', refusal));
          return;
        }
        const beat = decodeMessage('pas.v1.heartbeat', msg.data);
        running.set(beat.worker_id, new Set(beat.running.map((r) => r.attempt_id)));
        if (clock.beat(beat.worker_id, beat.pid, processOf(beat))) {
          log.info({ worker: beat.worker_id, workerPid: beat.pid, programmers: programmersOf(beat.worker_id) }, 'worker online');
          options.onChange?.();
        }
      } catch (e) {
        log.warn({ err: toErrorData(e) }, 'bad heartbeat refused');
      }
    },
  });

  /**
   * Whether another process of this worker id may still be alive: heard within offline_after_ms
   * (read after a round trip, so heartbeats already on their way are counted), or not heard at all
   * while this process is younger than that (it may not have heard it yet).
   */
  const mayBeAlive = async (worker: string, process: string): Promise<boolean> => {
    await link.nats.nc.flush().catch(() => undefined);
    const last = clock.lastBeatOf(worker, process);
    const t = now();
    return last === undefined ? t - startedAt < offlineAfterMs : t - last < offlineAfterMs;
  };

  /** Gives the worker each programmer configured for its host, compare-and-set in the owners bucket. */
  const register = link.nats.nc.subscribe(link.names.subjects.register, {
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        let reply: RegisteredMessage;
        try {
          // Checked before the strict schema: a build of another revision may send fields this one does not know.
          const announced = announcedBuild(msg.data);
          if (announced && announced.protocol !== build.protocol) {
            const mismatch = versionMismatch(announced, build);
            log.error({ code: mismatch.code, worker: announced.workerId, workerPid: announced.pid, err: mismatch.toData() }, 'registration refused: the worker runs another PAS build');
            const refusal = refusalReply(announced, mismatch, { heartbeat_ms: heartbeatMs, offline_after_ms: offlineAfterMs });
            if (refusal) msg.respond(encodeMessage('pas.v1.registered', refusal));
            return;
          }
          const req = decodeMessage('pas.v1.register', msg.data);
          if (req.version !== build.version) log.info({ worker: req.worker_id, workerVersion: req.version, version: build.version, protocol: build.protocol }, 'worker runs another PAS version with the same protocol revision: accepted');
          const accepted: string[] = [];
          const refused: RegisteredMessage['refused'] = [];
          // Another process of this worker id owns programmers it asks for: while that one may be
          // alive (a second process started with the same --id, or a restart sooner than
          // offline_after_ms), the answer is "not now" (retryable): a restarted worker is given its
          // programmers once its old process has been silent that long; a second one gives up.
          const self = processOf(req);
          const others = new Map<string, number>();
          for (const id of req.programmer_ids) {
            const o = owners.get(id);
            if (o && o.worker_id === req.worker_id && processOf(o) !== self) others.set(processOf(o), o.pid);
          }
          const alive: number[] = [];
          for (const [process, pid] of others) if (await mayBeAlive(req.worker_id, process)) alive.push(pid);
          if (alive.length > 0) {
            const error = codedError('PAS_ERR_DIST_OWNER_TAKEN', `worker id ${req.worker_id} is in use by a live process (pid ${alive.join(', ')}): give each pas worker its own --id (a restarted worker is taken once its old process has been silent for offline_after_ms, ${offlineAfterMs} ms)`, { owner: req.worker_id, ownerPid: alive[0] }, true);
            log.warn({ code: error.code, worker: req.worker_id, workerPid: req.pid, ownerPid: alive }, 'registration refused for now: another process of this worker id may be alive');
            reply = { kind: 'pas.v1.registered', worker_id: req.worker_id, accepted: [], refused: req.programmer_ids.map((id) => ({ programmer_id: id, error })), heartbeat_ms: heartbeatMs, offline_after_ms: offlineAfterMs };
            msg.respond(encodeMessage('pas.v1.registered', reply));
            return;
          }
          if (others.size > 0) log.warn({ worker: req.worker_id, workerPid: req.pid, previousPid: [...others.values()] }, 'worker restarted: its new process takes its programmers (and the tasks its old one held)');
          for (const id of req.programmer_ids) {
            if (hostOf.get(id) !== req.worker_id) {
              refused.push({ programmer_id: id, error: codedError('PAS_ERR_DIST_OWNER_TAKEN', `${id} is not configured with host: ${req.worker_id} (programmer_pool.yaml)`, { host: hostOf.get(id) ?? null }) });
              continue;
            }
            const mine: Owner = { worker_id: req.worker_id, pid: req.pid, ...(req.instance ? { instance: req.instance } : {}) };
            const value = toJson(mine);
            const entry = await link.owners.get(id);
            try {
              if (!entry || entry.operation !== 'PUT') {
                await (entry ? link.owners.update(id, value, entry.revision) : link.owners.create(id, value));
              } else {
                const owner = fromJson<Owner>(entry.value);
                // Another worker's, still live (its host setting changed meanwhile): not given. This
                // worker id's own earlier process was judged above (by identity, not pid alone:
                // two containers may both run pid 1).
                const alive = clock.get(owner.worker_id);
                if (owner.worker_id !== req.worker_id && alive?.online && alive.pid === owner.pid) {
                  refused.push({ programmer_id: id, error: codedError('PAS_ERR_DIST_OWNER_TAKEN', `${id} is owned by live worker ${owner.worker_id} (pid ${owner.pid})`, { owner: owner.worker_id }) });
                  continue;
                }
                await link.owners.update(id, value, entry.revision);
              }
              owners.set(id, mine);
              accepted.push(id);
            } catch (e) {
              refused.push({ programmer_id: id, error: codedError('PAS_ERR_DIST_OWNER_TAKEN', `${id}: another worker took it at the same time (${(e as Error).message})`) });
            }
          }
          // Programmers this worker id owned and no longer asks for (moved to another host, dropped
          // from --programmers) are given up, compare-and-delete: a stale owner makes them look reachable.
          for (const [id, o] of [...owners]) {
            if (o.worker_id !== req.worker_id || req.programmer_ids.includes(id)) continue;
            const entry = await link.owners.get(id).catch(() => null);
            if (!entry || entry.operation !== 'PUT' || fromJson<Owner>(entry.value).worker_id !== req.worker_id) continue;
            if (await link.owners.delete(id, { previousSeq: entry.revision }).then(() => true, () => false)) owners.delete(id);
          }
          clock.beat(req.worker_id, req.pid, self);
          options.onRegister?.(req.worker_id, req.repo_haves ?? {});
          options.onChange?.();
          log.info({ worker: req.worker_id, accepted, refused: refused.map((r) => r.programmer_id) }, 'worker registered');
          reply = { kind: 'pas.v1.registered', worker_id: req.worker_id, accepted, refused, heartbeat_ms: heartbeatMs, offline_after_ms: offlineAfterMs };
          msg.respond(encodeMessage('pas.v1.registered', reply));
        } catch (e) {
          log.warn({ err: toErrorData(e) }, 'registration refused');
        }
      })();
    },
  });

  void (async () => {
    for await (const status of link.nats.nc.status()) {
      if (status.type === 'disconnect') {
        clock.disconnected();
        log.warn({ code: 'PAS_ERR_DIST_BROKER' }, 'lost the NATS broker: no worker is declared offline until it is back');
      } else if (status.type === 'reconnect') {
        clock.reconnected();
        log.info('NATS broker reachable again');
      }
    }
  })();

  const timer = setInterval(() => void clock.check(), clock.checkEveryMs);
  timer.unref();
  // The grace of a young process ends: owners never heard from stop counting as reachable.
  const graceOver = setTimeout(() => options.onChange?.(), Math.max(0, startedAt + offlineAfterMs - now()) + 10);
  graceOver.unref();

  const ownerNow = (programmerId: string) => {
    const owner = owners.get(programmerId);
    return owner && clock.isOnline(owner.worker_id) ? owner.worker_id : undefined;
  };

  return {
    isOnline: (worker) => clock.isOnline(worker),
    async ownerOf(programmerId, signal) {
      for (;;) {
        const owner = ownerNow(programmerId);
        if (owner || signal?.aborted || now() - startedAt > offlineAfterMs) return owner;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    online: () => new Map(clock.onlineWorkers().map((w) => [w, programmersOf(w)])),
    reachable() {
      const young = now() - startedAt < offlineAfterMs;
      return new Set([...owners].filter(([, o]) => young || clock.isOnline(o.worker_id)).map(([id]) => id));
    },
    runningOn: (worker) => running.get(worker) ?? new Set(),
    stop() {
      clearInterval(timer);
      clearTimeout(graceOver);
      ownersWatch.stop();
      beats.unsubscribe();
      register.unsubscribe();
    },
  };
}

/**
 * A worker gives its programmers back (a start that failed after registration): each owner entry
 * that still names this worker process is deleted (compare-and-set on its revision), so the
 * central process dispatches nothing to them; one another worker took since is left alone.
 */
export async function releaseOwnership(link: DistLink, workerId: string, pid: number, programmerIds: readonly string[], instance?: string): Promise<void> {
  for (const id of programmerIds) {
    const entry = await link.owners.get(id);
    if (!entry || entry.operation !== 'PUT') continue;
    const owner = fromJson<Owner>(entry.value);
    if (owner.worker_id === workerId && processOf(owner) === processOf({ pid, instance })) await link.owners.delete(id, { previousSeq: entry.revision });
  }
}

/**
 * Another process of this worker id that owns one of `programmerIds` now (it was started while
 * this one went unheard for offline_after_ms: paused, frozen, cut off), else undefined: then this
 * process must stop, its programmers are the other one's.
 */
export async function takenOverBy(link: DistLink, workerId: string, pid: number, programmerIds: readonly string[], instance?: string): Promise<{ pid: number } | undefined> {
  for (const id of programmerIds) {
    const entry = await link.owners.get(id);
    if (!entry || entry.operation !== 'PUT') continue;
    const owner = fromJson<Owner>(entry.value);
    if (owner.worker_id === workerId && processOf(owner) !== processOf({ pid, instance })) return { pid: owner.pid };
  }
  return undefined;
}
