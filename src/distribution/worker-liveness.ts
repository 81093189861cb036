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
  stop(): void;
}

export interface LivenessOptions {
  link: DistLink;
  config: PasConfig;
  logger: Logger;
  onOffline(worker: string, programmers: string[]): void;
  /** A worker registered with what its repository cache holds. */
  onRegister?(worker: string, repoHaves: Record<string, string[]>): void;
  /** A worker came back as a new process before it was declared offline: what its old process held is lost. */
  onRestart?(worker: string): void;
  /** Which programmers are reachable may have changed (a worker online or offline, an owner changed): read `online()`. Told before `onOffline`. */
  onChange?(): void;
  now?: () => number;
  /** The build this central process is (default this one's): a worker of another protocol revision is refused. */
  build?: BuildId;
}

interface Owner {
  worker_id: string;
  pid: number;
}

export async function watchWorkers(options: LivenessOptions): Promise<WorkerLiveness> {
  const { link, logger } = options;
  const { heartbeat_ms: heartbeatMs, offline_after_ms: offlineAfterMs } = link.settings;
  const now = options.now ?? Date.now;
  const log = logger.child({ component: 'distribution' });
  const startedAt = now();
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
        if (clock.beat(beat.worker_id, beat.pid)) {
          log.info({ worker: beat.worker_id, workerPid: beat.pid, programmers: programmersOf(beat.worker_id) }, 'worker online');
          options.onChange?.();
        }
      } catch (e) {
        log.warn({ err: toErrorData(e) }, 'bad heartbeat refused');
      }
    },
  });

  /**
   * Whether the worker's process `pid` still heartbeats: heard within two heartbeats after now
   * (a process that was heard lately gets that long to be heard again; one silent longer is gone).
   */
  const stillBeating = async (worker: string, pid: number): Promise<boolean> => {
    const asked = now();
    const last = clock.lastBeatOf(worker, pid);
    if (last === undefined || asked - last > 2 * heartbeatMs) return false;
    await new Promise((r) => setTimeout(r, last + 2 * heartbeatMs + 50 - asked));
    return (clock.lastBeatOf(worker, pid) ?? 0) > last;
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
          // Another process owns this worker id's programmers: a second process started with the
          // same --id (it still heartbeats) is refused; one gone (a restart sooner than
          // offline_after_ms) hands over, and the attempts given to it run again.
          const earlier = [...owners.values()].find((o) => o.worker_id === req.worker_id && o.pid !== req.pid);
          if (earlier && (await stillBeating(req.worker_id, earlier.pid))) {
            const error = codedError('PAS_ERR_DIST_OWNER_TAKEN', `worker id ${req.worker_id} is in use by a live process (pid ${earlier.pid}): give each pas worker its own --id`, { owner: req.worker_id, ownerPid: earlier.pid });
            log.error({ code: error.code, worker: req.worker_id, workerPid: req.pid, ownerPid: earlier.pid }, 'registration refused: another live process has this worker id');
            reply = { kind: 'pas.v1.registered', worker_id: req.worker_id, accepted: [], refused: req.programmer_ids.map((id) => ({ programmer_id: id, error })), heartbeat_ms: heartbeatMs, offline_after_ms: offlineAfterMs };
            msg.respond(encodeMessage('pas.v1.registered', reply));
            return;
          }
          if (earlier) {
            log.warn({ code: 'PAS_ERR_DIST_WORKER_OFFLINE', worker: req.worker_id, workerPid: req.pid, previousPid: earlier.pid }, 'worker restarted: the tasks its previous process held run again');
            options.onRestart?.(req.worker_id);
          }
          for (const id of req.programmer_ids) {
            if (hostOf.get(id) !== req.worker_id) {
              refused.push({ programmer_id: id, error: codedError('PAS_ERR_DIST_OWNER_TAKEN', `${id} is not configured with host: ${req.worker_id} (programmer_pool.yaml)`, { host: hostOf.get(id) ?? null }) });
              continue;
            }
            const value = toJson({ worker_id: req.worker_id, pid: req.pid } satisfies Owner);
            const entry = await link.owners.get(id);
            try {
              if (!entry || entry.operation !== 'PUT') {
                await (entry ? link.owners.update(id, value, entry.revision) : link.owners.create(id, value));
              } else {
                const owner = fromJson<Owner>(entry.value);
                const other = owner.worker_id !== req.worker_id || owner.pid !== req.pid;
                const alive = clock.get(owner.worker_id);
                if (other && alive?.online && alive.pid === owner.pid) {
                  refused.push({ programmer_id: id, error: codedError('PAS_ERR_DIST_OWNER_TAKEN', `${id} is owned by live worker ${owner.worker_id} (pid ${owner.pid})`, { owner: owner.worker_id }) });
                  continue;
                }
                await link.owners.update(id, value, entry.revision);
              }
              owners.set(id, { worker_id: req.worker_id, pid: req.pid });
              accepted.push(id);
            } catch (e) {
              refused.push({ programmer_id: id, error: codedError('PAS_ERR_DIST_OWNER_TAKEN', `${id}: another worker took it at the same time (${(e as Error).message})`) });
            }
          }
          clock.beat(req.worker_id, req.pid);
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
    stop() {
      clearInterval(timer);
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
export async function releaseOwnership(link: DistLink, workerId: string, pid: number, programmerIds: readonly string[]): Promise<void> {
  for (const id of programmerIds) {
    const entry = await link.owners.get(id);
    if (!entry || entry.operation !== 'PUT') continue;
    const owner = fromJson<Owner>(entry.value);
    if (owner.worker_id === workerId && owner.pid === pid) await link.owners.delete(id, { previousSeq: entry.revision });
  }
}
