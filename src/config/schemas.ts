/**
 * The single source of truth for PAS configuration. Types come from these schemas via z.infer;
 * every object is strict so a typo fails with its file and key path.
 */
import { z } from 'zod';
import { EXECUTOR_KINDS, LANES } from '../../machines/domain.ts';

const agentId = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'an agent id is letters, digits, - and _');
const port = z.number().int().min(1).max(65535);
const lane = z.enum(LANES as [string, ...string[]]);
/** `provider/model`; the model part may hold `:` and `/` (`ollama/qwen2.5-coder:7b-instruct`). */
export const modelRef = z.string().regex(/^[a-z][a-z0-9_-]*\/\S+$/, 'expected "provider/model"');

export const llmChoiceSchema = z.strictObject({
  provider: z.string().min(1),
  model: z.string().min(1),
  temperature: z.number().min(0).max(2).default(0.2),
  max_tokens: z.number().int().positive().default(4096),
});

export const llmPairSchema = z.strictObject({
  primary: llmChoiceSchema,
  backup: llmChoiceSchema.optional(),
});

// ── pas.yaml ────────────────────────────────────────────────────────────────

export const gatewaySchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(6101),
  body_limit_bytes: z.number().int().positive().default(1_048_576),
  /** Host names (besides localhost and loopback addresses) a request's Host header may name. */
  allowed_hosts: z.array(z.string().min(1).max(253).regex(/^[A-Za-z0-9.:[\]_-]+$/, 'a host name or address, without scheme or path')).default([]),
  /** How long a client may take, and how many connections all PAS ports hold together. */
  limits: z
    .strictObject({
      /** Connections across the gateway and every agent port; `auto` = half the open-files limit (≤ 4096). */
      max_connections: z.union([z.literal('auto'), z.number().int().min(1)]).default('auto'),
      /** A request's headers must have arrived within this. */
      headers_timeout_s: z.number().positive().max(3600).default(10),
      /** A whole request (headers and body) must have arrived within this. */
      request_timeout_s: z.number().positive().max(3600).default(30),
      /** An idle keep-alive connection is closed after this (and a second of grace the process ran through, src/gateway/stall-safe-timeouts.ts). */
      keep_alive_timeout_s: z.number().positive().max(3600).default(5),
      /** A connection with no traffic at all is closed after this. */
      idle_timeout_s: z.number().positive().max(86_400).default(60),
    })
    .prefault({}),
  /** Body limit of the LLM gateway's routes only (/llm/…): agent CLIs send long prompts. */
  llm_body_limit_bytes: z.number().int().positive().default(64 * 1_048_576),
  ws: z
    .strictObject({
      ring_size: z.number().int().positive().default(10_000),
      max_buffered_bytes: z.number().int().positive().default(4 * 1_048_576),
      heartbeat_s: z.number().positive().default(15),
    })
    .prefault({}),
});

export const architectSchema = z.strictObject({
  agent_id: agentId,
  service: z.string().min(1),
  port,
  llm: llmPairSchema,
});

export const directorSchema = z.strictObject({
  agent_id: agentId,
  service: z.string().min(1),
  port,
  parent: agentId,
  lane,
  llm: llmPairSchema.optional(),
});

export const managerSchema = z.strictObject({
  agent_id: agentId,
  service: z.string().min(1),
  port,
  parent: agentId,
  lane,
  llm: llmPairSchema,
  resources: z.strictObject({
    max_concurrent_tasks: z.number().int().positive(),
    max_programmers: z.number().int().positive(),
    timeout_s: z.number().positive(),
  }),
});

/**
 * Programmers on other hosts (CONTRACT §11): present turns distribution on; absent, PAS runs on
 * one machine, needs no broker and never loads the NATS client.
 */
export const distributionSchema = z
  .strictObject({
    /** The NATS server (JetStream enabled), e.g. `nats://10.0.0.5:4222`; several joined by commas. */
    nats_url: z
      .string()
      .min(1)
      .refine((v) => v.split(',').every((u) => /^(nats|tls|wss?):\/\/[^\s/]+(:\d+)?\/?$/.test(u.trim()) || /^[^\s/:]+:\d+$/.test(u.trim())), 'expected nats://host:port (several joined by commas)'),
    /** Names the streams, buckets and subjects (`pas.v1.<prefix>.…`), so installations can share a broker. */
    prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'a prefix is 1–32 letters, digits, - and _').default('main'),
    /** Name of the environment variable that holds the broker token, if the broker wants one (never the token itself). */
    token_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name').optional(),
    /** How often a worker says it is alive. */
    heartbeat_ms: z.number().int().min(50).max(60_000).default(1000),
    /**
     * A worker silent this long has its programmers marked offline and their tasks re-dispatched
     * (once a round trip proves the central process still reaches the broker). Both sides also
     * ping the broker this often, so a dead link is dropped and dialled again.
     */
    offline_after_ms: z.number().int().min(100).max(600_000).default(5000),
    /** How long a worker may hold a task (the central process a result) without an in-progress ack before JetStream redelivers it. */
    ack_wait_ms: z.number().int().min(100).max(3_600_000).default(30_000),
    /** Deliveries of one task message before JetStream gives up on it (the central process then fails the task). */
    max_redeliveries: z.number().int().min(1).max(100).default(3),
    /** Request/reply (registration, cancel, breaker probes) waits this long for an answer. */
    request_timeout_ms: z.number().int().min(50).max(60_000).default(5000),
    /**
     * A worker asks the central process before each model call (cluster-wide breakers and budget);
     * while it gets no answer (the central process restarting) it keeps asking this long, then
     * refuses the call with PAS_ERR_DIST_NO_ADMISSION. A model is never called unchecked.
     */
    admission_wait_ms: z.number().int().min(50).max(3_600_000).default(60_000),
    /**
     * A worker told "allowed" for a model no budget holds back (a free model), while its breaker is
     * closed, calls it again without asking for this long; the lease ends early when the breaker
     * leaves closed (the central process revokes it), when a call of that worker fails, or when its
     * link to the broker drops. 0: every call asks.
     */
    lease_ms: z.number().int().min(0).max(60_000).default(3000),
    /** Bundles in the object store older than this are dropped by the broker. */
    bundle_ttl_s: z.number().int().min(60).max(30 * 86_400).default(86_400),
  })
  .refine((d) => d.offline_after_ms > 2 * d.heartbeat_ms, { message: 'offline_after_ms must be more than twice heartbeat_ms', path: ['offline_after_ms'] });

export const pasSchema = z.strictObject({
  gateway: gatewaySchema.prefault({}),
  runtime: z
    .strictObject({
      on_restart: z.enum(['requeue', 'interrupt']).default('requeue'),
      data_dir: z.string().min(1).default('artifacts'),
    })
    .prefault({}),
  lanes: z.array(lane).min(1),
  /** A job's verify command on its merged branch: lane defaults for jobs that name none, and fix-up rounds. */
  verify: z
    .strictObject({
      fixup_rounds: z.number().int().min(0).max(5).default(1),
      lanes: z.partialRecord(lane, z.array(z.string().min(1)).min(1)).default({}),
    })
    .prefault({}),
  architect: architectSchema,
  directors: z.array(directorSchema).min(1),
  managers: z.array(managerSchema).min(1),
  distribution: distributionSchema.optional(),
});

// ── programmer_pool.yaml ────────────────────────────────────────────────────

export const executorKind = z.enum(EXECUTOR_KINDS);

/** A coding-agent CLI's section (`claude_code:`, `codex:`, `gemini_cli:`, `opencode:`; CONTRACT §8). */
function agentCliSection(binary: string) {
  return z.strictObject({
    /** Command name (found on PATH) or path of the CLI. */
    binary: z.string().min(1).default(binary),
    /** A run still going after this is killed with its whole process tree. */
    timeout_s: z.number().positive().default(600),
    /** A run that prints no event for this long is killed like a hang. */
    stall_timeout_s: z.number().positive().default(180),
    /** Tool turns the agent may take in one run (where the CLI has such a limit). */
    max_turns: z.number().int().positive().default(30),
    /** The CLI's own retries of a failed model call; PAS's breakers and backup model do the rest. */
    max_retries: z.number().int().min(0).max(10).default(0),
  });
}

export const programmerSchema = z.strictObject({
  id: agentId,
  port,
  parent: agentId.optional(),
  primary_llm: modelRef,
  backup_llm: modelRef.optional(),
  capabilities: z.array(z.string().min(1)).default([]),
  executor: executorKind.optional(),
  timeout_s: z.number().positive().optional(),
  /** The worker (`pas worker --id NAME`) that runs this programmer; `local` runs it in the central process. */
  host: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'a host is letters, digits, - and _').default('local'),
});

export const poolSchema = z.strictObject({
  pool_size: z.number().int().min(1).max(49),
  defaults: z
    .strictObject({
      executor: executorKind.default('native'),
      timeout_s: z.number().positive().default(300),
      /** Edit–verify rounds of a subtask with a `verify` command (the native editor loops; others verify once). */
      verify_rounds: z.number().int().min(1).max(10).default(3),
    })
    .prefault({}),
  programmers: z.array(programmerSchema).min(1).max(49),
  load_balancing: z.strictObject({
    strategy: z.enum(['least_loaded', 'round_robin', 'capability_match']),
    prefer_free_models: z.boolean().default(true),
    max_queue_per_programmer: z.number().int().min(0),
    health_check_interval_s: z.number().positive().default(30),
  }),
  failover: z.strictObject({
    enabled: z.boolean().default(true),
    max_retries: z.number().int().min(0),
    retry_delay_s: z.number().min(0),
    circuit_breaker: z.strictObject({
      enabled: z.boolean().default(true),
      failure_threshold: z.number().int().positive(),
      window_minutes: z.number().positive(),
      cooldown_minutes: z.number().positive(),
    }),
  }),
  capability_routing: z.record(z.string(), z.array(agentId)).default({}),
  cost_optimization: z.strictObject({
    enabled: z.boolean().default(true),
    prefer_free_over_paid: z.boolean().default(true),
    max_daily_spend_usd: z.number().min(0),
    /** A job's own spending limit (the job body's `max_job_spend_usd` overrides it). */
    max_job_spend_usd: z.number().min(0).optional(),
  }),
  /** The LLM gateway's adaptive limit on calls in flight per provider (AIMD). */
  llm_concurrency: z
    .strictObject({
      initial: z.number().int().min(1).default(8),
      min: z.number().int().min(1).default(1),
      max: z.number().int().min(1).default(64),
      stagger_ms: z.number().int().min(0).default(200),
    })
    .prefault({}),
  supervision: z
    .strictObject({
      max_restarts: z.number().int().min(0).default(3),
      period_s: z.number().positive().default(60),
    })
    .prefault({}),
  aider: z
    .strictObject({
      binary: z.string().min(1).default('aider'),
      edit_format: z.string().min(1).default('diff'),
      timeout_s: z.number().positive().default(600),
    })
    .prefault({}),
  claude_code: agentCliSection('claude').prefault({}),
  codex: agentCliSection('codex')
    .extend({
      /** Codex's own sandbox for the commands it runs (bwrap on Linux). */
      sandbox_mode: z.enum(['read-only', 'workspace-write', 'danger-full-access']).default('workspace-write'),
    })
    .prefault({}),
  gemini_cli: agentCliSection('gemini').prefault({}),
  opencode: agentCliSection('opencode').prefault({}),
  /** The programmers' reused checkouts. */
  checkouts: z
    .strictObject({
      /** inotify watches their change tracking may hold together (0: none is watched); default a quarter of fs.inotify.max_user_watches. */
      max_watches: z.number().int().min(0).optional(),
    })
    .prefault({}),
});

// ── models.yaml ─────────────────────────────────────────────────────────────

export const modelPriceSchema = z.strictObject({
  input_per_mtok: z.number().min(0),
  output_per_mtok: z.number().min(0),
  cache_read_per_mtok: z.number().min(0).optional(),
  cache_write_per_mtok: z.number().min(0).optional(),
  context_window: z.number().int().positive().optional(),
});

export const providerKind = z.enum(['ollama', 'openai', 'anthropic', 'google', 'scripted']);

export const providerSchema = z.strictObject({
  /** Which wire protocol to speak; defaults to the provider's own name (an OpenAI-compatible server sets `openai`). */
  kind: providerKind.optional(),
  base_url: z.url().optional(),
  base_url_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
  api_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
  timeout_s: z.number().positive().default(120),
  cassette: z.string().min(1).optional(),
  models: z.record(z.string().min(1), modelPriceSchema),
});

export const modelsSchema = z.strictObject({
  providers: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), providerSchema),
});

// ── allowlists ──────────────────────────────────────────────────────────────

export const fsAllowlistSchema = z.strictObject({
  read: z.array(z.string().min(1)).default(['**/*']),
  write: z.array(z.string().min(1)),
  deny: z.array(z.string().min(1)).default([]),
});

export const cmdAllowlistSchema = z.strictObject({
  timeout_s: z.number().positive().default(120),
  commands: z.array(
    z.strictObject({
      name: z.string().min(1),
      program: z.string().min(1).regex(/^[^\s/\\]+$/, 'a program name, not a path or a shell line'),
      args: z.array(z.string()).default([]),
      allow_extra_args: z.boolean().default(false),
    }),
  ),
});

export type LlmChoice = z.infer<typeof llmChoiceSchema>;
export type LlmPair = z.infer<typeof llmPairSchema>;
export type PasConfigFile = z.infer<typeof pasSchema>;
export type DistributionConfig = z.infer<typeof distributionSchema>;
export type ManagerConfig = z.infer<typeof managerSchema>;
export type DirectorConfig = z.infer<typeof directorSchema>;
export type ArchitectConfig = z.infer<typeof architectSchema>;
export type PoolConfigFile = z.infer<typeof poolSchema>;
export type ProgrammerConfigFile = z.infer<typeof programmerSchema>;
export type ModelsConfigFile = z.infer<typeof modelsSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelPrice = z.infer<typeof modelPriceSchema>;
export type FsAllowlist = z.infer<typeof fsAllowlistSchema>;
export type CmdAllowlist = z.infer<typeof cmdAllowlistSchema>;
export type ExecutorKind = z.infer<typeof executorKind>;

/** The files of a configs folder and the schema each one must satisfy. */
export const CONFIG_FILES = {
  pas: { file: 'pas.yaml', schema: pasSchema },
  pool: { file: 'programmer_pool.yaml', schema: poolSchema },
  models: { file: 'models.yaml', schema: modelsSchema },
  fsAllowlist: { file: 'fs_allowlist.yaml', schema: fsAllowlistSchema },
  cmdAllowlist: { file: 'cmd_allowlist.yaml', schema: cmdAllowlistSchema },
} as const;
