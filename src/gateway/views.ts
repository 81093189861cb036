/**
 * The JSON views the HTTP API answers with: agent health, jobs, the pool, models. Pure reads of
 * the runtime; nothing here holds a secret (keys never leave the environment).
 */
import type { ArchitectContext } from '../../machines/architect.machine.ts';
import type { DirectorContext } from '../../machines/director.machine.ts';
import type { ManagerContext } from '../../machines/manager.machine.ts';
import type { JobOutcome } from '../../machines/domain.ts';
import { breakerId } from '../../machines/pas-system.machine.ts';
import type { ProgrammerContext } from '../../machines/programmer.machine.ts';
import { breakerCauseText } from '../llm/breaker-cause.ts';
import { priceIsFree } from '../llm/prices.ts';
import { jobNotes } from '../runtime/job-notes.ts';
import type { JobRecord, TaskRecord } from '../journal/journal.ts';
import type { Runtime } from '../runtime/create-runtime.ts';
import type { AgentInfo } from '../runtime/topology.ts';
import { isFinishedTaskStatus, isTerminalJobStatus } from '../../machines/statuses.ts';

export function llmView(runtime: Runtime, agentId: string) {
  const llm = runtime.llmSettings.get(agentId);
  if (!llm) return null;
  const primaryState = runtime.breakers.state(llm.primary);
  const usingBackup = primaryState !== 'closed' && !!llm.backup;
  return {
    current: usingBackup ? llm.backup! : llm.primary,
    primary: llm.primary,
    backup: llm.backup ?? null,
    using_backup: usingBackup,
    circuit_open: primaryState === 'open',
    breaker_state: primaryState,
    backup_breaker_state: llm.backup ? runtime.breakers.state(llm.backup) : null,
    failures: runtime.breakers.failures(llm.primary),
    /** Why the primary's (and backup's) breaker is not closed: its last failure and how often. */
    breaker_cause: breakerCauseText(runtime.breakers.recentFailures(llm.primary)),
    backup_breaker_cause: llm.backup ? breakerCauseText(runtime.breakers.recentFailures(llm.backup)) : null,
  };
}

function base(runtime: Runtime, agent: AgentInfo) {
  return {
    status: 'ok' as const,
    agent: agent.agentId,
    role: agent.role,
    port: agent.port,
    parent: agent.parent,
    state: runtime.bus.state(agent.agentId) ?? 'IDLE',
    ...(agent.lane ? { lane: agent.lane } : {}),
  };
}

export function agentHealth(runtime: Runtime, agent: AgentInfo): Record<string, unknown> {
  switch (agent.role) {
    case 'programmer': {
      const ctx = contextOf<ProgrammerContext>(runtime, agent.agentId);
      const cfg = runtime.config.programmers.find((p) => p.id === agent.agentId)!;
      const member = runtime.poolContext().members.find((m) => m.id === agent.agentId);
      return {
        ...base(runtime, agent),
        programmer_id: agent.agentId,
        llm: llmView(runtime, agent.agentId),
        capabilities: cfg.capabilities,
        executor: cfg.executor,
        free: cfg.free,
        pool_status: member?.status ?? null,
        host: cfg.host ?? 'local',
        // False while its worker is offline or not started: it gets no work.
        reachable: !(runtime.poolContext().unreachable ?? []).includes(agent.agentId),
        task: ctx.task ? { task_id: ctx.task.id, job_id: ctx.task.jobId } : null,
        failure: ctx.failure ?? null,
        stats: { completed: ctx.completed ?? 0, failed: ctx.failed ?? 0, restarts: ctx.restarts ?? 0, assigned: member?.assigned ?? 0 },
        usage_today: runtime.usageToday(agent.agentId),
      };
    }
    case 'manager': {
      const ctx = contextOf<ManagerContext>(runtime, agent.agentId);
      const cfg = runtime.config.pas.managers.find((m) => m.agent_id === agent.agentId)!;
      return {
        ...base(runtime, agent),
        llm: llmView(runtime, agent.agentId),
        active_jobs: ctx.active ?? [],
        queue_depth: (ctx.queue ?? []).length,
        finished_jobs: ctx.finished ?? 0,
        escalations: ctx.escalations ?? 0,
        failure: ctx.failure ?? null,
        resources: cfg.resources,
        usage_today: runtime.usageToday(agent.agentId),
      };
    }
    case 'director': {
      const ctx = contextOf<DirectorContext>(runtime, agent.agentId);
      return { ...base(runtime, agent), managers: ctx.managers ?? [], load: ctx.load ?? {}, down: ctx.down ?? [], jobs_in_flight: Object.keys(ctx.jobs ?? {}).length, failure: ctx.failure ?? null };
    }
    case 'architect': {
      const ctx = contextOf<ArchitectContext>(runtime, agent.agentId);
      return { ...base(runtime, agent), llm: llmView(runtime, agent.agentId), jobs_in_flight: Object.keys(ctx.inflight ?? {}).length, routed: ctx.routed ?? 0, failure: ctx.failure ?? null };
    }
  }
}

/** Where a run's receipts are: `{dataDir}/receipts/{runId}.jsonl`. */
export function receiptsFile(dataDir: string, runId: string): string {
  return `${dataDir}/receipts/${runId}.jsonl`;
}

/** A task's newest progress entries as the API shows them (no agent/job/task ids: the task holds them). */
export function activityView(runtime: Runtime, taskId: string, limit = 5) {
  return runtime.progress.recent(taskId, limit).map(({ agentId: _a, jobId: _j, taskId: _t, role: _r, ...rest }) => rest);
}

/** The live context of an agent's actor (empty while it is not running). */
function contextOf<C>(runtime: Runtime, agentId: string): Partial<C> {
  const snapshot = runtime.system.system.get(agentId)?.getSnapshot() as { context?: C } | undefined;
  return snapshot?.context ?? {};
}

export function taskView(task: TaskRecord, receipts?: string[], runtime?: Runtime) {
  return {
    task_id: task.id,
    job_id: task.jobId,
    status: task.status,
    attempt: task.attempt,
    programmer_id: task.programmerId,
    instruction: task.spec.instruction,
    files: task.spec.files,
    // The executor that runs it: its job's (or its request's) override, else its programmer's own.
    executor: task.spec.executor ?? runtime?.config.programmers.find((p) => p.id === task.programmerId)?.executor ?? null,
    merged: task.merged,
    result: task.result,
    error: task.error ?? task.result?.error ?? null,
    created_at: task.createdAt,
    started_at: task.startedAt,
    finished_at: task.finishedAt,
    ...(receipts ? { receipts } : {}),
    ...(runtime ? { activity: activityView(runtime, task.id) } : {}),
  };
}

export function jobView(runtime: Runtime, job: JobRecord, withTasks = true) {
  const tasks = withTasks ? runtime.journal.tasksForJob(job.id) : [];
  // The receipts files the journal says hold this job's receipts (a job that ran across restarts has several).
  const written = runtime.journal.receiptsOfJob(job.id).map((r) => ({ taskId: r.taskId, file: receiptsFile(runtime.dataDir, r.runId) }));
  const files = [...new Set(written.map((r) => r.file))];
  const unfinished = !isTerminalJobStatus(job.status);
  const done = tasks.filter((t) => isFinishedTaskStatus(t.status)).length;
  return {
    job_id: job.id,
    status: job.status,
    task: job.spec.task,
    lane: job.lane ?? job.spec.lane ?? null,
    files: job.spec.files ?? [],
    repo: job.spec.repo ?? null,
    verify: job.spec.verify ?? null,
    executor: job.spec.executor ?? null,
    manager_id: job.managerId,
    accepted_at: job.acceptedAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    duration_ms: job.outcome?.durationMs ?? null,
    progress: { total: tasks.length, done },
    merged_branch: job.outcome?.mergedBranch ?? null,
    conflicts: job.outcome?.conflicts ?? [],
    merges: mergesView(runtime, job.id),
    verification: job.outcome?.verification ? verificationView(job.outcome.verification) : null,
    tokens: job.outcome?.tokens ?? null,
    cost_usd: job.outcome?.costUsd ?? null,
    error: job.outcome?.error ?? job.error ?? null,
    // The newest file with its receipts; an unfinished job without any yet writes them to this run's file.
    receipts: files.at(-1) ?? (unfinished ? receiptsFile(runtime.dataDir, runtime.runId) : null),
    receipt_files: files,
    notes: jobNotes(runtime.journal, job.id),
    ...(withTasks ? { tasks: tasks.map((t) => taskView(t, [...new Set(written.filter((r) => r.taskId === t.id).map((r) => r.file))], runtime)) } : {}),
  };
}

/** The job's merge queue while this process ran it: each branch's latest state, in queue order. */
export function mergesView(runtime: Runtime, jobId: string) {
  return runtime.merges.ofJob(jobId).map((m) => ({
    task_id: m.taskId,
    state: m.state,
    queued_at: m.queuedAt,
    merging_at: m.mergingAt ?? null,
    merged_at: m.mergedAt ?? null,
    head: m.head ?? null,
    files: m.files ?? [],
    ...(m.exitCode !== undefined ? { verify_exit_code: m.exitCode } : {}),
    ts: m.ts,
  }));
}

/** The job's verify command on its merged branch, last run. */
function verificationView(v: NonNullable<JobOutcome['verification']>) {
  return { command: v.command, passed: v.passed, exit_code: v.exitCode, head: v.head, fixup_rounds: v.fixups };
}

export function poolView(runtime: Runtime) {
  const ctx = runtime.poolContext();
  const status = runtime.poolStatus();
  const programmers = ctx.members.map((m) => {
    const llm = llmView(runtime, m.id);
    return {
      id: m.id,
      status: m.status,
      state: runtime.bus.state(m.id) ?? 'IDLE',
      task_id: m.taskId,
      assigned: m.assigned,
      completed: m.completed,
      failed: m.failed,
      capabilities: m.capabilities,
      free: m.free,
      reachable: !(ctx.unreachable ?? []).includes(m.id),
      llm,
      queue_depth: ctx.queue.filter((t) => t.pin === m.id).length,
    };
  });
  return {
    ...status,
    using_backup: programmers.filter((p) => p.llm?.using_backup).length,
    budget: runtime.budget(),
    llm_providers: providerLimitsView(runtime),
    programmers,
  };
}

export function modelsView(runtime: Runtime) {
  const models = [];
  for (const [provider, cfg] of Object.entries(runtime.config.models.providers)) {
    for (const [model, price] of Object.entries(cfg.models)) {
      const ref = `${provider}/${model}`;
      const breaker = runtime.topology.breakers.find((b) => b.key === ref);
      models.push({
        ref,
        provider,
        model,
        free: priceIsFree(price),
        price: price,
        breaker: {
          id: breakerId(ref),
          state: runtime.breakers.state(ref),
          failures: runtime.breakers.failures(ref),
          cause: breakerCauseText(runtime.breakers.recentFailures(ref)),
          recent_failures: runtime.breakers.recentFailures(ref).map((f) => ({ at: new Date(f.at).toISOString(), code: f.code, message: f.message })),
        },
        used_by: breaker?.usedBy ?? [],
      });
    }
  }
  return { models, providers: providerLimitsView(runtime) };
}

/** The LLM gateway's adaptive concurrency limit per provider (AIMD), as /api/models and /api/pool show it. */
export function providerLimitsView(runtime: Runtime) {
  return runtime.llmGateway?.limiter.view() ?? [];
}
