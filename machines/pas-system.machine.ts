/**
 * The root of the PAS actor system: spawns the Architect, the Directors, the Managers, the pool,
 * the Programmers and one circuit breaker per provider/model, each under its system id (the agent
 * id users see; `pool`; `breaker:<provider>/<model>`). The runtime supplies the I/O of the
 * children with `.provide(...)`.
 */
import { enqueueActions, setup } from 'xstate';
import { architectMachine, type ArchitectInput } from './architect.machine.ts';
import { circuitBreakerMachine, type BreakerInput } from './circuit-breaker.machine.ts';
import { directorMachine, type DirectorInput } from './director.machine.ts';
import { managerMachine, type ManagerInput } from './manager.machine.ts';
import { poolMachine, type PoolInput } from './pool.machine.ts';
import { programmerMachine, type ProgrammerInput } from './programmer.machine.ts';

export interface PasSystemInput {
  architect: ArchitectInput;
  directors: DirectorInput[];
  managers: ManagerInput[];
  programmers: ProgrammerInput[];
  pool: PoolInput;
  breakers: BreakerInput[];
}

export const POOL_ID = 'pool';

export function breakerId(key: string): string {
  return `breaker:${key}`;
}

export type PasSystemEvent =
  /** A model chosen at run time (an LLM settings change) gets its shared breaker in the system. */
  { type: 'breaker.spawn'; input: BreakerInput };

export const pasSystemMachine = setup({
  types: {
    input: {} as PasSystemInput,
    context: {} as { input: PasSystemInput },
    events: {} as PasSystemEvent,
  },
  actors: {
    architect: architectMachine,
    director: directorMachine,
    manager: managerMachine,
    programmer: programmerMachine,
    pool: poolMachine,
    breaker: circuitBreakerMachine,
  },
}).createMachine({
  id: 'pas',
  context: ({ input }) => ({ input }),
  initial: 'running',
  states: {
    running: {
      entry: enqueueActions(({ context: { input }, enqueue }) => {
        for (const b of input.breakers) enqueue.spawnChild('breaker', { id: breakerId(b.key), systemId: breakerId(b.key), input: b });
        enqueue.spawnChild('pool', { id: POOL_ID, systemId: POOL_ID, input: input.pool });
        for (const p of input.programmers) enqueue.spawnChild('programmer', { id: p.id, systemId: p.id, input: { ...p, poolId: POOL_ID } });
        for (const m of input.managers) enqueue.spawnChild('manager', { id: m.id, systemId: m.id, input: { ...m, poolId: POOL_ID } });
        for (const d of input.directors) enqueue.spawnChild('director', { id: d.id, systemId: d.id, input: d });
        enqueue.spawnChild('architect', { id: input.architect.id, systemId: input.architect.id, input: input.architect });
      }),
      on: {
        'breaker.spawn': {
          actions: enqueueActions(({ event, enqueue, system }) => {
            const id = breakerId(event.input.key);
            if (!system.get(id)) enqueue.spawnChild('breaker', { id, systemId: id, input: event.input });
          }),
        },
      },
    },
  },
});
