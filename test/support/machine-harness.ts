/**
 * A small actor system for machine tests: the machines under test run as children of a host
 * that stands in for the rest of the tree, every actor shares one SimulatedClock, and recorders
 * registered under system ids (`pool`, `job:J1`, `Mgr-Code-01`, …) write down what they receive.
 */
import {
  createActor,
  enqueueActions,
  fromCallback,
  fromPromise,
  setup,
  SimulatedClock,
  type Actor,
  type AnyActorLogic,
  type AnyActorRef,
  type AnyEventObject,
} from 'xstate';
import type { TaskResult } from '../../machines/domain.ts';
import type { ExecuteTaskInput } from '../../machines/programmer.machine.ts';

export interface Delivered {
  to: string;
  event: AnyEventObject;
}

export interface ChildSpec {
  id: string;
  logic: AnyActorLogic;
  input?: unknown;
  /** Defaults to `id`. */
  systemId?: string;
}

export interface HarnessOptions {
  children?: ChildSpec[];
  /** System ids of actors that only record what they receive. */
  recorders?: string[];
  /** System id of the host itself (it records too). */
  hostId?: string;
  clock?: SimulatedClock;
}

export interface Harness {
  clock: SimulatedClock;
  host: Actor<AnyActorLogic>;
  log: Delivered[];
  /** Every event delivered to any actor of the system, by actor id (from inspection). */
  delivered: Delivered[];
  get(systemId: string): AnyActorRef;
  send(systemId: string, event: AnyEventObject): void;
  /** Events a recorder (or the host) received, optionally of one type. */
  received(to: string, type?: string): AnyEventObject[];
  /** Move simulated time on and let promise callbacks run. */
  advance(ms: number): Promise<void>;
  stop(): void;
}

/** Lets resolved promises deliver their done events. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

export function recorder(log: Delivered[]) {
  return fromCallback<AnyEventObject, { id: string }>(({ input, receive }) => {
    receive((event) => {
      log.push({ to: input.id, event });
    });
  });
}

export function startHarness(options: HarnessOptions = {}): Harness {
  const clock = options.clock ?? new SimulatedClock();
  const log: Delivered[] = [];
  const hostId = options.hostId ?? 'host';
  const children = options.children ?? [];
  const actors: Record<string, AnyActorLogic> = { recorder: recorder(log) };
  for (const child of children) actors[`src:${child.id}`] = child.logic;
  const hostMachine = setup({ actors }).createMachine({
    id: 'host',
    entry: enqueueActions(({ enqueue }) => {
      const spawn = enqueue.spawnChild as unknown as (src: string, opts: { id: string; systemId: string; input?: unknown }) => void;
      for (const id of options.recorders ?? []) spawn('recorder', { id, systemId: id, input: { id } });
      for (const child of children) {
        const opts: { id: string; systemId: string; input?: unknown } = { id: child.id, systemId: child.systemId ?? child.id };
        if (child.input !== undefined) opts.input = child.input;
        spawn(`src:${child.id}`, opts);
      }
    }),
    on: {
      '*': {
        actions: ({ event }) => {
          log.push({ to: hostId, event });
        },
      },
    },
  });
  const delivered: Delivered[] = [];
  const host = createActor(hostMachine, {
    clock,
    systemId: hostId,
    inspect: (ev) => {
      if (ev.type === '@xstate.event') delivered.push({ to: (ev.actorRef as { id?: string }).id ?? '', event: ev.event });
    },
  }) as unknown as Actor<AnyActorLogic>;
  host.start();
  const get = (systemId: string): AnyActorRef => {
    const ref = host.system.get(systemId);
    if (!ref) throw new Error(`no actor ${systemId} in the harness`);
    return ref;
  };
  return {
    clock,
    host,
    log,
    delivered,
    get,
    send: (systemId, event) => get(systemId).send(event),
    received: (to, type) => log.filter((d) => d.to === to && (type === undefined || d.event.type === type)).map((d) => d.event),
    async advance(ms) {
      clock.increment(ms);
      await settle();
    },
    stop: () => host.stop(),
  };
}

export interface ExecutorRun {
  input: ExecuteTaskInput;
  signal: AbortSignal;
  resolve(result: TaskResult): void;
  reject(error: unknown): void;
}

/** An `executeTask` whose runs finish only when the test says so. */
export function controllableExecutor() {
  const runs: ExecutorRun[] = [];
  const logic = fromPromise<TaskResult, ExecuteTaskInput>(
    ({ input, signal }) =>
      new Promise<TaskResult>((resolve, reject) => {
        runs.push({ input, signal, resolve, reject });
      }),
  );
  const find = (taskId: string, programmerId?: string): ExecutorRun => {
    const run = [...runs].reverse().find((r) => r.input.task.id === taskId && (!programmerId || r.input.programmerId === programmerId));
    if (!run) throw new Error(`task ${taskId} was never started`);
    return run;
  };
  return {
    logic,
    runs,
    /** `taskId@programmerId` of every run started, in order. */
    started: () => runs.map((r) => `${r.input.task.id}@${r.input.programmerId}`),
    find,
    complete(taskId: string, extra: Partial<TaskResult> = {}, programmerId?: string) {
      const run = find(taskId, programmerId);
      run.resolve({ taskId, jobId: run.input.task.jobId, programmerId: run.input.programmerId, status: 'completed', ...extra });
    },
    fail(taskId: string, error: TaskResult['error'], programmerId?: string) {
      const run = find(taskId, programmerId);
      const result: TaskResult = { taskId, jobId: run.input.task.jobId, programmerId: run.input.programmerId, status: 'failed' };
      if (error) result.error = error;
      run.resolve(result);
    },
  };
}

export interface PromiseCall<I, O> {
  input: I;
  signal: AbortSignal;
  resolve(output: O): void;
  reject(error: unknown): void;
}

/** A promise actor whose calls the test settles by hand (planJob, mergeJob, classifyLane, …). */
export function controllablePromise<O, I>() {
  const calls: Array<PromiseCall<I, O>> = [];
  const logic = fromPromise<O, I>(
    ({ input, signal }) =>
      new Promise<O>((resolve, reject) => {
        calls.push({ input, signal, resolve, reject });
      }),
  );
  const last = (): PromiseCall<I, O> => {
    const call = calls.at(-1);
    if (!call) throw new Error('the promise actor was never called');
    return call;
  };
  return { logic, calls, last };
}
