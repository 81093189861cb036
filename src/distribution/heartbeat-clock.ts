/**
 * When the central process may call a worker offline. A worker silent for `offline_after_ms` is
 * offline, but silence proves nothing while this process itself may have lost the broker: in a
 * real partition (packets dropped, no reset) the NATS client notices only after its pings go
 * unanswered, and meanwhile every worker's heartbeats stop at once. So before declaring anyone
 * the clock proves the broker still answers, with a round trip (PING/PONG on the connection the
 * heartbeats come in on, so heartbeats sent before the answer have been read). No prompt answer:
 * this side is cut off; nobody is declared, and every worker's clock starts again once the broker
 * answers (or the client reconnects).
 */

export interface ClockEntry {
  /** Last heartbeat (this process's clock). */
  at: number;
  pid: number;
  online: boolean;
}

export interface HeartbeatClockOptions {
  heartbeatMs: number;
  offlineAfterMs: number;
  /** A round trip to the broker; settles when it answers, rejects when the connection is lost (it may also hang). */
  probeBroker(): Promise<void>;
  /** A round trip slower than this counts as no answer: this side is cut off from the broker. */
  probeTimeoutMs: number;
  now(): number;
  /** The workers silent past `offline_after_ms` while the broker answers, one call each. */
  onOffline(worker: string, silentMs: number): void;
  /** This side is cut off from the broker (`true`) or reaches it again (`false`). */
  onCutOff?(cutOff: boolean, why: string): void;
}

export class HeartbeatClock {
  private readonly seen = new Map<string, ClockEntry>();
  /** Each worker's processes heard lately (process identity → last heartbeat): two at once share one worker id. */
  private readonly processes = new Map<string, Map<string, number>>();
  private connected = true;
  private cutOff = false;
  /** When the outstanding round trip started (undefined: none). */
  private probing: number | undefined;
  private lastCheck: number;
  private readonly every: number;

  constructor(private readonly options: HeartbeatClockOptions) {
    this.every = Math.max(25, Math.floor(options.heartbeatMs / 2));
    this.lastCheck = options.now();
  }

  /** How often `check()` should run. */
  get checkEveryMs(): number {
    return this.every;
  }

  /** A heartbeat (or a registration) from `worker`; true when it was not online before. */
  beat(worker: string, pid: number, process: string = String(pid)): boolean {
    const before = this.seen.get(worker);
    const at = this.options.now();
    this.seen.set(worker, { at, pid, online: true });
    const pids = this.processes.get(worker) ?? new Map<string, number>();
    pids.delete(process);
    pids.set(process, at);
    // The few newest processes are enough to tell a restart from a second process.
    if (pids.size > 4) pids.delete(pids.keys().next().value!);
    this.processes.set(worker, pids);
    return !before?.online;
  }

  /** When this process of the worker (its identity, `beat`'s `process`) was last heard (undefined: not lately). */
  lastBeatOf(worker: string, process: string): number | undefined {
    return this.processes.get(worker)?.get(process);
  }

  get(worker: string): Readonly<ClockEntry> | undefined {
    return this.seen.get(worker);
  }

  isOnline(worker: string): boolean {
    return this.seen.get(worker)?.online === true;
  }

  onlineWorkers(): string[] {
    return [...this.seen].filter(([, s]) => s.online).map(([w]) => w);
  }

  /** The NATS client lost its connection: nobody is judged until it is back. */
  disconnected(): void {
    this.connected = false;
  }

  /** The NATS client reconnected: heartbeats sent meanwhile were lost, so every clock starts again. */
  reconnected(): void {
    this.connected = true;
    this.reachedAgain('the NATS client reconnected');
  }

  /** Judges the workers; run every `checkEveryMs`. */
  async check(): Promise<void> {
    const { now, heartbeatMs, probeTimeoutMs } = this.options;
    const t = now();
    // This process stalled (a long synchronous step, a loaded machine): heartbeats that arrived
    // meanwhile are still queued behind this timer, so judge no one until they are read.
    const stalled = t - this.lastCheck > this.every + Math.max(heartbeatMs, 100);
    this.lastCheck = t;
    if (!this.connected || stalled) return;
    if (this.cutOff) {
      // Ask again now and then (a round trip lost with its connection never answers).
      if (this.probing === undefined || t - this.probing > probeTimeoutMs) void this.probe();
      return;
    }
    if (this.probing !== undefined || !this.silent(t).length) return;
    const answered = await this.probe();
    if (!answered || this.cutOff || !this.connected) return;
    // The broker answered at once: whoever is still silent is silent at the broker too.
    const at = now();
    for (const worker of this.silent(at)) {
      const s = this.seen.get(worker)!;
      s.online = false;
      this.options.onOffline(worker, at - s.at);
    }
  }

  private silent(t: number): string[] {
    return [...this.seen].filter(([, s]) => s.online && t - s.at > this.options.offlineAfterMs).map(([w]) => w);
  }

  /** One round trip: true when answered within the timeout; a late answer ends a cut-off. */
  private async probe(): Promise<boolean> {
    const started = this.options.now();
    this.probing = started;
    let timer: NodeJS.Timeout | undefined;
    const roundTrip = this.options.probeBroker().then(
      () => true,
      () => false,
    );
    void roundTrip.then((answered) => {
      if (this.probing === started) this.probing = undefined;
      if (answered && this.cutOff) this.reachedAgain('the broker answers again');
    });
    const inTime = await Promise.race([roundTrip, new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.options.probeTimeoutMs)))]);
    clearTimeout(timer);
    if (inTime === true) return true;
    if (!this.cutOff) {
      this.cutOff = true;
      this.options.onCutOff?.(true, inTime === 'late' ? `no answer from the broker within ${this.options.probeTimeoutMs} ms` : 'the round trip to the broker failed');
    }
    return false;
  }

  private reachedAgain(why: string): void {
    const t = this.options.now();
    for (const s of this.seen.values()) s.at = t;
    this.lastCheck = t;
    if (this.cutOff) {
      this.cutOff = false;
      this.options.onCutOff?.(false, why);
    }
  }
}
