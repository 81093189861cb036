/**
 * Rate-limit aware concurrency per provider: an adaptive limit on calls in flight (AIMD —
 * additive increase after each answered call, multiplicative decrease on 429/529), a pause
 * until a `retry-after` passes, and staggered starts after a pause so waiting calls do not all
 * hit the provider in the same millisecond. A provider with calls waiting (or paused) is
 * "saturated"; listeners hear each change so the pool can stop dispatching work to it.
 */
export interface LimiterSettings {
  /** The limit a provider starts with. */
  initial: number;
  min: number;
  max: number;
  /** Gap between starts while a provider recovers from a throttle. */
  staggerMs: number;
  /** Multiplicative decrease factor on a throttle (0..1). */
  decrease: number;
}

export const DEFAULT_LIMITER_SETTINGS: LimiterSettings = { initial: 8, min: 1, max: 64, staggerMs: 200, decrease: 0.5 };

export interface ProviderLimitView {
  provider: string;
  limit: number;
  in_flight: number;
  waiting: number;
  saturated: boolean;
  /** ISO time a retry-after pause ends, or null. */
  paused_until: string | null;
  throttles: number;
}

export type CallOutcome = 'ok' | 'throttled' | 'failed';

export interface Slot {
  release(outcome: CallOutcome, retryAfterMs?: number): void;
}

interface Waiter {
  resolve(slot: Slot): void;
  reject(reason: unknown): void;
  signal?: AbortSignal | undefined;
  onAbort?: () => void;
}

interface ProviderState {
  limit: number;
  inFlight: number;
  waiters: Waiter[];
  pausedUntil: number;
  staggerUntil: number;
  lastStart: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  saturated: boolean;
  throttles: number;
}

export class ProviderLimiter {
  private readonly providers = new Map<string, ProviderState>();
  private readonly listeners = new Set<(provider: string, saturated: boolean) => void>();
  private readonly settings: LimiterSettings;

  constructor(
    settings: Partial<LimiterSettings> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.settings = { ...DEFAULT_LIMITER_SETTINGS, ...settings };
  }

  /** Hears every change of a provider's saturation. */
  onSaturation(listener: (provider: string, saturated: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A slot for one call to `provider`; waits while the provider is at its limit or paused. */
  acquire(provider: string, signal?: AbortSignal): Promise<Slot> {
    const state = this.state(provider);
    signal?.throwIfAborted();
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = state.waiters.indexOf(waiter);
          if (i >= 0) state.waiters.splice(i, 1);
          reject(signal.reason);
          this.update(provider, state);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      state.waiters.push(waiter);
      this.pump(provider, state);
    });
  }

  /**
   * A slot at once when one is free (nobody waiting, no pause, no stagger), else undefined (then
   * `acquire` waits): the common case costs no promise and no abort listener.
   */
  tryAcquire(provider: string): Slot | undefined {
    const s = this.state(provider);
    if (s.waiters.length > 0 || s.inFlight >= Math.floor(s.limit)) return undefined;
    const now = this.now();
    if (now < s.pausedUntil || (now < s.staggerUntil && now - s.lastStart < this.settings.staggerMs)) return undefined;
    s.inFlight++;
    s.lastStart = now;
    this.update(provider, s);
    return this.slot(provider, s);
  }

  view(): ProviderLimitView[] {
    return [...this.providers.entries()].map(([provider, s]) => this.viewOf(provider, s));
  }

  viewOf(provider: string, s: ProviderState = this.state(provider)): ProviderLimitView {
    const now = this.now();
    return {
      provider,
      limit: Math.floor(s.limit),
      in_flight: s.inFlight,
      waiting: s.waiters.length,
      saturated: s.saturated,
      paused_until: s.pausedUntil > now ? new Date(s.pausedUntil).toISOString() : null,
      throttles: s.throttles,
    };
  }

  isSaturated(provider: string): boolean {
    return this.providers.get(provider)?.saturated ?? false;
  }

  /** Makes sure a provider shows up in views before its first call. */
  track(provider: string): void {
    this.state(provider);
  }

  stop(): void {
    for (const s of this.providers.values()) if (s.timer) clearTimeout(s.timer);
  }

  private state(provider: string): ProviderState {
    let s = this.providers.get(provider);
    if (!s) {
      s = { limit: this.settings.initial, inFlight: 0, waiters: [], pausedUntil: 0, staggerUntil: 0, lastStart: 0, timer: undefined, saturated: false, throttles: 0 };
      this.providers.set(provider, s);
    }
    return s;
  }

  private pump(provider: string, s: ProviderState): void {
    if (s.timer) {
      clearTimeout(s.timer);
      s.timer = undefined;
    }
    while (s.waiters.length > 0 && s.inFlight < Math.floor(s.limit)) {
      const now = this.now();
      if (now < s.pausedUntil) {
        this.wake(provider, s, s.pausedUntil - now);
        break;
      }
      if (now < s.staggerUntil && now - s.lastStart < this.settings.staggerMs) {
        this.wake(provider, s, this.settings.staggerMs - (now - s.lastStart));
        break;
      }
      const waiter = s.waiters.shift()!;
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
      s.inFlight++;
      s.lastStart = now;
      waiter.resolve(this.slot(provider, s));
    }
    // A pause with nobody waiting still ends: its end makes the provider available again.
    const left = s.pausedUntil - this.now();
    if (!s.timer && left > 0) this.wake(provider, s, left);
    this.update(provider, s);
  }

  private wake(provider: string, s: ProviderState, ms: number): void {
    s.timer = setTimeout(() => {
      s.timer = undefined;
      this.pump(provider, s);
    }, Math.max(1, ms));
    s.timer.unref?.();
  }

  private slot(provider: string, s: ProviderState): Slot {
    let released = false;
    return {
      release: (outcome, retryAfterMs) => {
        if (released) return;
        released = true;
        s.inFlight--;
        const { min, max, decrease, staggerMs } = this.settings;
        if (outcome === 'throttled') {
          s.throttles++;
          s.limit = Math.max(min, Math.floor(s.limit * decrease));
          const now = this.now();
          if (retryAfterMs !== undefined && retryAfterMs > 0) s.pausedUntil = Math.max(s.pausedUntil, now + retryAfterMs);
          s.staggerUntil = Math.max(s.pausedUntil, now) + staggerMs * Math.max(1, Math.floor(s.limit)) * 2;
        } else if (outcome === 'ok') {
          s.limit = Math.min(max, s.limit + 1 / Math.max(1, Math.floor(s.limit)));
        }
        this.pump(provider, s);
      },
    };
  }

  private update(provider: string, s: ProviderState): void {
    const saturated = s.waiters.length > 0 || this.now() < s.pausedUntil;
    if (saturated === s.saturated) return;
    s.saturated = saturated;
    for (const listener of this.listeners) listener(provider, saturated);
  }
}
