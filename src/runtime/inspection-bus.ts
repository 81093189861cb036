/**
 * One inspection bus for the whole actor system: turns XState inspection events into ordered
 * transition records (one per top-level state change of an agent or a breaker) for the feed, the
 * log and the tree. What happened to jobs and tasks is not read from here: the statecharts state
 * it as facts (machines/facts.ts).
 */
import type { AnyEventObject, InspectionEvent } from 'xstate';
import { breakerStateOf } from '../../machines/circuit-breaker.machine.ts';
import type { AgentRole } from '../../machines/domain.ts';
import type { TransitionRecord } from './transition-record.ts';

export type BusRecord = Omit<TransitionRecord, 'seq'>;

type RecordListener = (record: TransitionRecord) => void;

export function topLevelState(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') return Object.keys(value)[0] ?? 'unknown';
  return 'unknown';
}

type Fields = Record<string, unknown>;
const fields = (value: unknown): Fields | undefined => (value && typeof value === 'object' ? (value as Fields) : undefined);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Job and task ids an event is about, when it says. */
export function idsOf(event: AnyEventObject): { jobId?: string; taskId?: string } {
  const e = event as Fields;
  const output = fields(e.output);
  const task = fields(e.task) ?? fields(e.result) ?? (output && 'taskId' in output ? output : undefined);
  const out: { jobId?: string; taskId?: string } = {};
  const jobId = text(task?.jobId) ?? text(fields(e.job)?.id) ?? text(fields(e.outcome)?.jobId) ?? text(e.jobId);
  const taskId = text(task?.id) ?? text(task?.taskId) ?? text(e.taskId);
  if (jobId) out.jobId = jobId;
  if (taskId) out.taskId = taskId;
  return out;
}

/** The error code an event carries: its result's (a programmer's finished task) or its own (a fault), if any. */
export function errorCodeOf(event: AnyEventObject): string | undefined {
  const e = event as Fields;
  return text(fields(fields(e.output ?? e.result)?.error)?.code) ?? text(fields(e.error)?.code);
}

export class InspectionBus {
  private seq = 0;
  private readonly roles = new Map<string, AgentRole>();
  private readonly states = new Map<string, string>();
  /** The job/task an agent is working on, from the event that started it. */
  private readonly work = new Map<string, { jobId?: string; taskId?: string }>();
  private readonly recordListeners = new Set<RecordListener>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Declare which actor ids are agents (and breakers) whose transitions are published. */
  watch(agentId: string, role: AgentRole, initialState: string): void {
    this.roles.set(agentId, role);
    this.states.set(agentId, initialState);
  }

  state(agentId: string): string | undefined {
    return this.states.get(agentId);
  }

  workOf(agentId: string): { jobId?: string; taskId?: string } {
    return this.work.get(agentId) ?? {};
  }

  lastSeq(): number {
    return this.seq;
  }

  onTransition(listener: RecordListener): () => void {
    this.recordListeners.add(listener);
    return () => this.recordListeners.delete(listener);
  }

  /** Pass as `inspect` to createActor. */
  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.snapshot') return;
    const id = (ev.actorRef as { id?: string }).id;
    if (!id) return;
    const role = this.roles.get(id);
    if (!role) return;
    const snapshot = ev.snapshot as { value?: unknown; status?: string };
    const to = role === 'breaker' ? breakerStateOf(snapshot.value) : topLevelState(snapshot.value);
    const from = this.states.get(id) ?? to;
    if (from === to) return;
    this.states.set(id, to);
    let ids = idsOf(ev.event);
    if (to === 'EXECUTING' && (ids.jobId || ids.taskId)) this.work.set(id, ids);
    if (!ids.jobId && !ids.taskId) ids = this.work.get(id) ?? {};
    if (to !== 'EXECUTING') this.work.delete(id);
    const record: TransitionRecord = {
      v: 1,
      type: 'transition',
      seq: ++this.seq,
      ts: this.now().toISOString(),
      agentId: id,
      role,
      from,
      to,
      event: ev.event.type,
      ...ids,
    };
    const error = to === 'EXECUTING' ? undefined : errorCodeOf(ev.event);
    if (error) record.error = error;
    for (const listener of this.recordListeners) listener(record);
  };
}
