/**
 * Clean-ups that need not happen on the spot (an applied result bundle's delete, a finished task's
 * attempt record): they wait while results and dispatches keep coming and run once the central
 * process had none for `idleMs`, so a burst of 49 results is applied without 49 × 4 broker round
 * trips of clean-up between them. Past `maxWaiting` they run at once; `stop()` runs what is left.
 * A clean-up that fails is dropped: the store's TTL (bundle_ttl_s) or the next run sweeps after it.
 */
export class IdleCleanup {
  private waiting: Array<() => Promise<unknown>> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly idleMs = 200,
    private readonly maxWaiting = 256,
  ) {}

  /** Runs `job` once the process is idle (or at once when too many wait). */
  later(job: () => Promise<unknown>): void {
    this.waiting.push(job);
    if (this.waiting.length >= this.maxWaiting) void this.run();
    else this.busy();
  }

  /** Work arrived: the waiting clean-ups wait `idleMs` more. */
  busy(): void {
    if (this.waiting.length === 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), this.idleMs);
    this.timer.unref();
  }

  /** Runs every waiting clean-up now. */
  async run(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const jobs = this.waiting.splice(0);
    await Promise.allSettled(jobs.map((job) => job()));
  }

  /** Runs what is left, waiting for it at most `timeoutMs` (a broker gone away does not hold up a stop). */
  async stop(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.run(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }
}
