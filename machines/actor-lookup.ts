import type { AnyActorRef } from 'xstate';

/** The part of XState's actor system a machine uses to reach another actor by its system id. */
export interface ActorLookup {
  get(systemId: string): AnyActorRef | undefined;
}
