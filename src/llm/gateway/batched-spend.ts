/**
 * Write-behind for the daily spend the LLM gateway books after every answered call: amounts are
 * kept in memory and written to the durable store in one go a moment later, so a call never
 * waits for (and other streams are never stalled by) a synchronous fsync. `spent()` always
 * includes what is still pending, so budget checks see every booked cent at once.
 */
import type { SpendStore, TaskCallSpend } from '../types.ts';
import { roundUsd } from '../prices.ts';

export class BatchedSpend implements SpendStore {
  private readonly pending = new Map<string, number>();
  /** Calls made for a task, booked one by one with it (SpendStore.addForTask). */
  private readonly pendingCalls: Array<{ day: string; usd: number; call: TaskCallSpend }> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: SpendStore,
    private readonly delayMs = 200,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  spent(day: string): number {
    let calls = 0;
    for (const c of this.pendingCalls) if (c.day === day) calls += c.usd;
    return roundUsd(this.store.spent(day) + (this.pending.get(day) ?? 0) + calls);
  }

  add(day: string, usd: number): void {
    if (!Number.isFinite(usd) || usd < 0) throw new RangeError(`spend must be a non-negative number, got ${usd}`);
    this.pending.set(day, (this.pending.get(day) ?? 0) + usd);
    this.flushSoon();
  }

  addForTask(day: string, usd: number, call: TaskCallSpend): void {
    if (!this.store.addForTask) return this.add(day, usd);
    if (!Number.isFinite(usd) || usd < 0) throw new RangeError(`spend must be a non-negative number, got ${usd}`);
    this.pendingCalls.push({ day, usd, call });
    this.flushSoon();
  }

  private flushSoon(): void {
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.delayMs);
      this.timer.unref?.();
    }
  }

  /** Writes what is pending now (also on stop). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const [day, usd] of this.pending) {
      this.pending.delete(day);
      try {
        this.store.add(day, roundUsd(usd));
      } catch (err) {
        this.onError(err);
      }
    }
    for (const { day, usd, call } of this.pendingCalls.splice(0)) {
      try {
        this.store.addForTask!(day, roundUsd(usd), call);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
