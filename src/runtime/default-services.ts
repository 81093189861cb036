/**
 * The real I/O behind the statecharts: the LLM client (adapters, failover, breakers, budget),
 * the programmer pipeline (git worktree → aider or native editor → commit → KPIs → receipt), the
 * Manager's LLM plan, the Architect's lane question and the merge of task branches.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TaskResult } from '../../machines/domain.ts';
import type { ExecuteTaskInput } from '../../machines/programmer.machine.ts';
import type { JobPlan, MergeOutcome } from '../../machines/job.machine.ts';
import type { ResolvedProgrammer } from '../config/load-config.ts';
import { PasError, toErrorData } from '../errors.ts';
import { git, repoKey } from '../executors/git-command.ts';
import {
  cleanupOrphanWorktrees,
  AGENT_CLI_SPECS,
  createAgentCliExecutor,
  createAiderExecutor,
  createNativeExecutor,
  jobBranchName,
  mergeTaskBranches,
  resolveBaseCommit,
  runProgrammerTask,
  type Executor,
  type ExecutorKindName,
} from '../executors/index.ts';
import { createLlmClient, llmClientOptionsFrom, ReceiptWriter } from '../llm/index.ts';
import { LlmGateway } from '../llm/gateway/llm-gateway.ts';
import { mountScriptedWire, type WireServe } from '../llm/gateway/scripted-mount.ts';
import type { LlmClient, ProviderAdapter, Receipt } from '../llm/types.ts';
import type { RuntimeServices, ServiceContext } from './create-runtime.ts';
import { createOfflineAdapter } from '../llm/providers/offline-adapter.ts';
import { planJobFromRepo } from '../planning/plan-job.ts';
import { addJobNote, fallbackPlanNote, OFFLINE_JOB_NOTE } from './job-notes.ts';
import { lanePrompt, parseLane } from './planner.ts';
import { laneVerifyCommand, verifyMergedJob } from './services/verify-job.ts';
import { resolverInstruction } from './services/conflict-resolver.ts';

export interface DefaultServiceOptions {
  /** Route every LLM call to the scripted provider (the demo, tests). */
  offline?: boolean;
  /** The scripted adapter to use (default: the cassette named in models.yaml). */
  scripted?: ProviderAdapter;
  /** Replace provider adapters (tests against local protocol servers use real adapters instead). */
  adapters?: Record<string, ProviderAdapter>;
  fetch?: typeof fetch;
  /** The scripted model in every wire format, mounted on the LLM gateway for `scripted` models and offline runs. */
  scriptedWire?: WireServe;
}

/** A scratch repository for a job that names none: `{dataDir}/repos/{jobId}` with one commit. */
export async function ensureScratchRepo(dataDir: string, jobId: string, task: string): Promise<string> {
  const repo = path.join(dataDir, 'repos', jobId);
  if (existsSync(path.join(repo, '.git'))) return repo;
  mkdirSync(repo, { recursive: true });
  await git(repo, ['init', '--quiet', '--initial-branch=main']);
  writeFileSync(path.join(repo, 'README.md'), `# Scratch repository for PAS job ${jobId}\n\n${task}\n`);
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '--quiet', '-m', `pas: scratch repository for job ${jobId}`]);
  return repo;
}

export function createDefaultServices(options: DefaultServiceOptions = {}) {
  return (ctx: ServiceContext): RuntimeServices & { llm: LlmClient; receipts: ReceiptWriter; llmGateway: LlmGateway } => {
    const { config, logger, journal, breakers, runId, dataDir, llmSettings } = ctx;
    const llm = createLlmClient({
      ...llmClientOptionsFrom(config),
      breakers,
      spend: journal.spendStore(),
      money: ctx.money,
      logger: logger.child({ component: 'llm' }),
      ...(options.offline ? { offline: true } : {}),
      ...(options.scripted ? { scripted: options.scripted } : options.offline ? { scripted: createOfflineAdapter(config.models, config.dir) } : {}),
      ...(options.adapters ? { adapters: options.adapters } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      // In-process calls (the native editor, plans) count against a job's budget like gateway calls.
      jobBudget: { limit: (jobId) => llmGateway.jobLimit(jobId), spent: (jobId) => llmGateway.ledger.jobSpent(jobId), add: (jobId, usd) => llmGateway.ledger.addJobSpend(jobId, usd) },
    });
    const receipts = new ReceiptWriter(path.join(dataDir, 'receipts'), runId);
    // Every model call aider makes passes through this policy (the agent CLIs do not go through it yet).
    const llmGateway = new LlmGateway({
      models: config.models,
      costOptimization: config.pool.cost_optimization,
      failoverEnabled: config.pool.failover.enabled,
      breakers,
      spend: journal.spendStore(),
      jobLimit: (jobId) => journal.getJob(jobId)?.spec.maxJobSpendUsd,
      limiter: { initial: config.pool.llm_concurrency.initial, min: config.pool.llm_concurrency.min, max: config.pool.llm_concurrency.max, staggerMs: config.pool.llm_concurrency.stagger_ms },
      logger: logger.child({ component: 'llm-gateway' }),
      now: () => ctx.now().getTime(),
      ...(options.offline ? { offline: true } : {}),
      ...(options.scriptedWire ? { scripted: mountScriptedWire(options.scriptedWire) } : {}),
    });
    const workspacesDir = path.join(dataDir, 'workspaces');
    const budget = {
      enabled: config.pool.cost_optimization.enabled,
      maxDailySpendUsd: config.pool.cost_optimization.max_daily_spend_usd,
      spend: journal.spendStore(),
      now: () => ctx.now().getTime(),
    };
    const executors: Partial<Record<ExecutorKindName, Executor>> = {
      native: createNativeExecutor({ fsAllowlist: config.fsAllowlist }),
      aider: createAiderExecutor({
        fsAllowlist: config.fsAllowlist,
        models: config.models,
        aider: config.pool.aider,
        gateway: llmGateway,
        money: ctx.money,
      }),
    };
    for (const spec of Object.values(AGENT_CLI_SPECS)) {
      executors[spec.name] = createAgentCliExecutor({
        spec,
        settings: config.pool[spec.section as 'claude_code'],
        fsAllowlist: config.fsAllowlist,
        models: config.models,
        runsDir: path.join(dataDir, 'agent-runs'),
        breakers,
        failover: config.pool.failover.enabled,
        budget,
      });
    }
    const executorFor = (kind: ExecutorKindName): Executor => {
      const executor = executors[kind];
      if (!executor) throw new PasError('PAS_ERR_CONFIG_INVALID', `programmer_pool.yaml: executor "${kind}" is not available in this build`, { details: { executor: kind } });
      return executor;
    };
    /**
     * The run of each task id still winding down. A run stopped mid-task (its programmer forced
     * into FAILED, a timeout) keeps the task's worktree and branch until its executor has stopped
     * and its receipt is written; a re-dispatch of the same task waits for it instead of failing
     * on (or later losing) the shared worktree.
     */
    const runs = new Map<string, Promise<unknown>>();
    /** The orphan sweep of each repository (by repoKey), once per run: after a crash, or on first use (see runTask). */
    const repoSweeps = new Map<string, Promise<void>>();
    // Built before the runtime recovers and starts: nothing of this run holds a worktree yet, so
    // whatever a killed run left in the repositories of its unfinished jobs is an orphan.
    const startupSweep = sweepAfterCrash(ctx, workspacesDir, repoSweeps);

    /** The programmer as configured, with the LLM choice live from the settings. */
    const programmerOf = (id: string): ResolvedProgrammer => {
      const base = config.programmers.find((p) => p.id === id);
      if (!base) throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no programmer ${id}`);
      const live = llmSettings.get(id);
      const resolved: ResolvedProgrammer = { ...base, capabilities: [...base.capabilities] };
      if (live) {
        resolved.primary = live.primary;
        if (live.backup) resolved.backup = live.backup;
        else delete resolved.backup;
      }
      return resolved;
    };

    const runTask = async ({ task, programmerId }: ExecuteTaskInput, signal: AbortSignal): Promise<TaskResult> => {
      await startupSweep;
      const programmer = programmerOf(programmerId);
      const repo = task.repo ?? (await ensureScratchRepo(dataDir, task.jobId, task.instruction));
      // Worktrees left by a crash are found and removed once per repository per run. Every task on
      // the repository waits for that sweep: a worktree made while it runs would be taken for an orphan.
      // Keyed by the repository itself, however its path was written (relative, trailing slash, link).
      const key = await repoKey(repo);
      let sweep = repoSweeps.get(key);
      if (!sweep) {
        const running = new Set(journal.runningTasks().map((t) => t.id));
        sweep = cleanupOrphanWorktrees(repo, workspacesDir, running, { keepMerges: true }).then(
          (removed) => {
            if (removed.length > 0) logger.warn({ repo, removed }, 'removed worktrees left by an earlier run');
          },
          () => undefined,
        );
        repoSweeps.set(key, sweep);
      }
      await sweep;
      // The journal numbers every start of the task (see the runtime's projection of task.assigned).
      const attempt = journal.getTask(task.id)?.attempt ?? task.attempt ?? 1;
      const sink = {
        append: async (receipt: Receipt) => {
          // One receipt per task attempt, even when a restart replays the same attempt.
          if (journal.recordReceipt({ runId, taskId: receipt.task_id, attempt })) await receipts.append(receipt);
        },
      };
      return runProgrammerTask({
        task,
        programmer,
        repo,
        workspacesDir,
        executor: executorFor(task.executor ?? programmer.executor),
        llm,
        receipts: sink,
        runId,
        signal,
        fsAllowlist: config.fsAllowlist,
        cmdAllowlist: config.cmdAllowlist,
        verifyRounds: config.pool.defaults.verify_rounds,
        log: logger.child({ agentId: programmerId, role: 'programmer', taskId: task.id }),
        ...(ctx.progress ? { onProgress: (p) => ctx.progress!.report({ agentId: programmerId, jobId: task.jobId, taskId: task.id }, p) } : {}),
      });
    };

    return {
      llm,
      receipts,
      llmGateway,

      async executeTask(input, signal): Promise<TaskResult> {
        const previous = runs.get(input.task.id);
        const run = (async () => {
          if (previous) await untilSettledOrAborted(previous, signal);
          return runTask(input, signal);
        })();
        const settled = run.then(
          () => undefined,
          () => undefined,
        );
        runs.set(input.task.id, settled);
        void settled.then(() => {
          if (runs.get(input.task.id) === settled) runs.delete(input.task.id);
        });
        return run;
      },

      async planJob({ job, managerId, maxProgrammers }, signal): Promise<JobPlan> {
        const repo = job.repo ? path.resolve(job.repo) : await ensureScratchRepo(dataDir, job.id, job.task);
        if (!existsSync(path.join(repo, '.git')) && !existsSync(repo)) throw new PasError('PAS_ERR_GIT', `repository ${repo} does not exist`, { details: { field: 'repo' } });
        const baseCommit = await resolveBaseCommit(repo);
        const llmChoice = llmSettings.get(managerId);
        // `pas up --offline` (no scripted adapter of the caller's own): say the edits are synthetic.
        if (options.offline && !options.scripted) addJobNote(journal, job.id, OFFLINE_JOB_NOTE);
        const plan = await planJobFromRepo({ job, managerId, maxProgrammers, repo, baseCommit, llm, logger, signal, ...(llmChoice ? { llmChoice } : {}) });
        if (plan.planner === 'fallback' && plan.planError && !signal.aborted) addJobNote(journal, job.id, fallbackPlanNote(plan.planError));
        const laneVerify = laneVerifyCommand(config, managerId);
        return !job.verify && laneVerify ? { ...plan, verify: laneVerify } : plan;
      },

      async mergeJob({ job, plan, results }, signal): Promise<MergeOutcome> {
        await startupSweep;
        const repo = plan.repo!;
        const withBranch = results.filter((r) => r.branch);
        const outcome = await mergeTaskBranches({
          repo,
          jobBranch: jobBranchName(job.id),
          baseCommit: plan.baseCommit!,
          branches: withBranch.map((r) => r.branch!),
          workspacesDir,
          signal,
        });
        const taskOf = new Map(withBranch.map((r) => [r.branch!, r.taskId]));
        const merged: string[] = [];
        const conflicts: MergeOutcome['conflicts'] = [];
        for (const r of outcome.results) {
          const taskId = taskOf.get(r.branch);
          if (!taskId) continue;
          if (r.status === 'merged') merged.push(taskId);
          else if (r.status === 'conflict') conflicts.push({ taskId, files: r.files });
          else logger.error({ jobId: job.id, taskId, error: r.error }, 'merge of a task branch failed');
        }
        // A conflicting subtask's re-run resolves what collided: it is shown both sides of each hunk.
        if (outcome.head) {
          const subtaskOf = (taskId: string) => plan.subtasks.find((s) => s.id === taskId || `${s.id}-r1` === taskId);
          const mergedWork = withBranch.filter((r) => merged.includes(r.taskId) && r.commit && subtaskOf(r.taskId)).map((r) => ({ subtask: subtaskOf(r.taskId)!, commit: r.commit! }));
          for (const conflict of conflicts) {
            const subtask = plan.subtasks.find((s) => s.id === conflict.taskId);
            const branch = withBranch.find((r) => r.taskId === conflict.taskId)?.branch;
            if (!subtask || !branch) continue;
            try {
              const resolver = await resolverInstruction({ repo, baseCommit: plan.baseCommit!, head: outcome.head, branch, subtask, files: conflict.files, merged: mergedWork });
              if (resolver) conflict.resolver = resolver;
            } catch (err) {
              logger.warn({ jobId: job.id, taskId: conflict.taskId, err: toErrorData(err) }, 'could not show the conflict to its resolver; the subtask is re-run as it was');
            }
          }
        }
        return { mergedBranch: outcome.jobBranch, head: outcome.head, merged, conflicts };
      },

      verifyJob: (input, signal) =>
        verifyMergedJob({ cmdAllowlist: config.cmdAllowlist, workspacesDir, fixupRounds: config.pas.verify.fixup_rounds, logger: logger.child({ agentId: input.managerId, role: 'manager' }) }, input, signal),

      async classifyLane({ job, lanes }, signal) {
        const architect = config.pas.architect.agent_id;
        const choice = llmSettings.get(architect);
        if (!choice) return { lane: null };
        const reply = await llm.call({
          agentId: architect,
          primary: choice.primary,
          ...(choice.backup ? { backup: choice.backup } : {}),
          request: { messages: lanePrompt(job, lanes), signal, maxTokens: 16, meta: { agentId: architect, role: 'architect', jobId: job.id, purpose: 'route' } },
        });
        return { lane: parseLane(reply.text, lanes) };
      },
    };
  };
}

/**
 * Removes the task and merge worktrees a killed run left in the repositories of its unfinished
 * jobs (and of its running tasks), once, before this run's first task or merge. Swept
 * repositories are recorded in `sweeps` so the per-task sweep does not repeat them.
 */
async function sweepAfterCrash(ctx: ServiceContext, workspacesDir: string, sweeps: Map<string, Promise<void>>): Promise<void> {
  const { journal, logger, dataDir } = ctx;
  const repos = new Set<string>();
  try {
    for (const job of journal.unfinishedJobs()) {
      const plan = journal.loadSnapshot<JobPlan>(`plan:${job.id}`);
      repos.add(plan?.repo ?? (job.spec.repo ? path.resolve(job.spec.repo) : path.join(dataDir, 'repos', job.id)));
    }
    for (const task of journal.runningTasks()) {
      repos.add(task.spec.repo ? path.resolve(task.spec.repo) : path.join(dataDir, 'repos', task.jobId));
    }
  } catch (err) {
    logger.error({ err: toErrorData(err) }, 'could not list the repositories to sweep after a restart');
    return;
  }
  if (!existsSync(workspacesDir)) return;
  for (const repo of repos) {
    if (!existsSync(path.join(repo, '.git'))) continue;
    try {
      sweeps.set(await repoKey(repo), Promise.resolve());
    } catch {
      continue;
    }
    try {
      const removed = await cleanupOrphanWorktrees(repo, workspacesDir, new Set());
      if (removed.length > 0) logger.warn({ repo, removed }, 'removed worktrees left by an earlier run');
    } catch (err) {
      logger.error({ repo, err: toErrorData(err) }, 'could not sweep the worktrees left by an earlier run');
    }
  }
}

/** Resolves when `previous` settles, or as soon as `signal` aborts. */
function untilSettledOrAborted(previous: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void previous.then(done, done);
  });
}
