/**
 * Breaker actors keyed by provider/model, shared by every agent that uses the model. The
 * runtime spawns them inside its actor system (so they show in the feed); standalone use
 * (tests, scripts) creates them on first use.
 */
import { createActor, type ActorOptions, type ActorRefFrom, type AnyActorLogic } from 'xstate';
import {
  breakerAdmission,
  breakerStateOf,
  circuitBreakerMachine,
  failuresInWindow,
  type BreakerFailure,
} from '../../machines/circuit-breaker.machine.ts';
import type { ErrorData, ModelRef } from '../../machines/domain.ts';
import type { BreakerGate } from '../llm/types.ts';
import type { BreakerState } from '../../machines/statuses.ts';

/** XState's scheduler clock (real, or SimulatedClock in tests). */
export type Clock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

export type BreakerRef = ActorRefFrom<typeof circuitBreakerMachine>;

export interface BreakerSettings {
  enabled: boolean;
  failureThreshold: number;
  windowMs: number;
  cooldownMs: number;
  /** How long a probe may take before it counts as failed (past the provider's own timeout). */
  probeTimeoutMs?: (ref: ModelRef) => number;
}

export class BreakerRegistry implements BreakerGate {
  private readonly refs = new Map<ModelRef, BreakerRef>();
  /** Breakers this registry created itself (adopted ones belong to their system). */
  private readonly owned = new Set<BreakerRef>();

  constructor(
    private readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
    private readonly clock?: Clock,
  ) {}

  /** Adopt an actor spawned elsewhere (the runtime's system). */
  adopt(ref: ModelRef, actor: BreakerRef): void {
    this.refs.set(ref, actor);
  }

  get(ref: ModelRef): BreakerRef {
    let actor = this.refs.get(ref);
    if (!actor) {
      actor = createActor(circuitBreakerMachine, {
        input: {
          key: ref,
          threshold: this.settings.failureThreshold,
          windowMs: this.settings.windowMs,
          cooldownMs: this.settings.cooldownMs,
          ...(this.settings.probeTimeoutMs ? { probeTimeoutMs: this.settings.probeTimeoutMs(ref) } : {}),
        },
        ...(this.clock ? { clock: this.clock } : {}),
      });
      actor.start();
      this.owned.add(actor);
      this.refs.set(ref, actor);
    }
    return actor;
  }

  keys(): ModelRef[] {
    return [...this.refs.keys()];
  }

  admit(ref: ModelRef): 'allow' | 'probe' | 'reject' {
    if (!this.settings.enabled) return 'allow';
    const actor = this.get(ref);
    const admission = breakerAdmission(actor.getSnapshot().value);
    if (admission === 'probe') actor.send({ type: 'probe.started', at: this.now() });
    return admission;
  }

  record(ref: ModelRef, outcome: 'success' | 'failure', probe: boolean, error?: ErrorData): void {
    // No state reacts to the success of a call that was not the probe (a test holds the machine
    // to that): not sending it spares every answered call an actor step.
    if (!this.settings.enabled || (outcome === 'success' && !probe)) return;
    const at = this.now();
    const actor = this.get(ref);
    if (outcome === 'success') actor.send({ type: 'call.succeeded', at, probe });
    else actor.send(error ? { type: 'call.failed', at, probe, error } : { type: 'call.failed', at, probe });
  }

  abandonProbe(ref: ModelRef): void {
    if (!this.settings.enabled) return;
    this.get(ref).send({ type: 'probe.abandoned', at: this.now() });
  }

  state(ref: ModelRef): BreakerState {
    if (!this.settings.enabled) return 'closed';
    return breakerStateOf(this.get(ref).getSnapshot().value);
  }

  /**
   * Why the breaker is not closed: the failures it counted last (codes and messages), newest
   * last. Empty when it is closed or disabled; kept while it is open or half-open.
   */
  recentFailures(ref: ModelRef): BreakerFailure[] {
    if (!this.settings.enabled) return [];
    const snapshot = this.get(ref).getSnapshot();
    return breakerStateOf(snapshot.value) === 'closed' ? [] : (snapshot.context.recentErrors ?? []);
  }

  failures(ref: ModelRef): number {
    if (!this.settings.enabled) return 0;
    return failuresInWindow(this.get(ref).getSnapshot().context, this.now()).length;
  }

  stop(): void {
    for (const actor of this.owned) actor.stop();
    this.owned.clear();
    this.refs.clear();
  }
}
