/**
 * The one table of PAS error codes (fastify's pattern), shared by the statecharts and the I/O
 * layer: code → retryable, HTTP status and the sentence that documents it (and is the default
 * message). Pure data, so machines name codes as a typed union and `src/errors.ts` builds
 * `PasError` on top; `npm run docs:errors` writes docs/errors.md from it.
 */

export interface ErrorSpec {
  /** Whether trying the same thing again may succeed. */
  readonly retryable: boolean;
  /** HTTP status used when the error answers a request. */
  readonly status: number;
  /** One sentence for the docs and the default message. */
  readonly doc: string;
}

export const ERRORS = {
  // configuration
  PAS_ERR_CONFIG_INVALID: { retryable: false, status: 500, doc: 'A configuration file breaks its schema; the message names the file and the key path.' },
  PAS_ERR_CONFIG_NOT_FOUND: { retryable: false, status: 500, doc: 'A configuration file is missing from the configs folder.' },
  PAS_ERR_CONFIG_YAML: { retryable: false, status: 500, doc: 'A configuration file is not well-formed YAML.' },
  PAS_ERR_SETTINGS_INVALID: { retryable: false, status: 400, doc: 'A settings change was refused; the config file is left untouched.' },

  // requests
  PAS_ERR_BAD_REQUEST: { retryable: false, status: 400, doc: 'A request body, parameter or query failed validation; details name the field.' },
  PAS_ERR_HOST_NOT_ALLOWED: { retryable: false, status: 403, doc: 'The Host header names another machine (DNS-rebinding guard); PAS answers only for its own host.' },
  PAS_ERR_UNAUTHORIZED: { retryable: false, status: 401, doc: 'PAS_API_TOKEN is set and the request has no matching bearer token.' },
  PAS_ERR_NOT_FOUND: { retryable: false, status: 404, doc: 'The route does not exist.' },
  PAS_ERR_AGENT_NOT_FOUND: { retryable: false, status: 404, doc: 'No agent has that id.' },
  PAS_ERR_JOB_NOT_FOUND: { retryable: false, status: 404, doc: 'No job has that id.' },
  PAS_ERR_TASK_NOT_FOUND: { retryable: false, status: 404, doc: 'No task has that id.' },
  PAS_ERR_PAYLOAD_TOO_LARGE: { retryable: false, status: 413, doc: 'The request body is larger than the gateway accepts.' },
  PAS_ERR_PORT_IN_USE: { retryable: false, status: 500, doc: 'An agent could not bind its port; the message names port and agent.' },
  PAS_ERR_DATA_DIR_IN_USE: { retryable: false, status: 409, doc: 'Another `pas up` or `pas demo` holds the data dir (its journal): one process per data dir, or both would resume the same unfinished jobs. The message names the holder\'s pid and host; the hold ends with that process, even after kill -9.' },
  PAS_ERR_INTERNAL: { retryable: true, status: 500, doc: 'An unexpected fault inside PAS; the log has the details.' },
  PAS_ERR_SHUTTING_DOWN: { retryable: true, status: 503, doc: 'The runtime is draining and accepts no new work.' },

  // pool, tasks and supervision
  PAS_ERR_POOL_QUEUE_FULL: { retryable: true, status: 503, doc: 'Every programmer is busy and the pool queue is at max_queue_per_programmer × pool size.' },
  PAS_ERR_NO_PROGRAMMER: { retryable: false, status: 422, doc: 'No programmer in the pool can take the task (capabilities, budget or all failed).' },
  PAS_ERR_TASK_TIMEOUT: { retryable: true, status: 504, doc: 'A programmer made no progress within its timeout_s; it is stopped and restarted.' },
  PAS_ERR_TASK_CANCELLED: { retryable: false, status: 409, doc: 'The task was cancelled before it finished.' },
  PAS_ERR_WAIT_TIMEOUT: { retryable: true, status: 504, doc: 'A wait for a job to end (waitForJob, `pas submit --wait`) ran out; the job itself goes on.' },
  PAS_ERR_TASK_INTERRUPTED: { retryable: true, status: 500, doc: 'The runtime stopped while the task ran; it was not re-queued.' },
  PAS_ERR_PROGRAMMER_FAILED: { retryable: true, status: 500, doc: 'The programmer was forced into FAILED while it held the task.' },
  PAS_ERR_SUPERVISOR_ESCALATED: { retryable: true, status: 500, doc: 'A programmer restarted more often than the supervision intensity allows; its Manager decides.' },
  PAS_ERR_EXECUTOR_CRASHED: { retryable: true, status: 500, doc: 'The executor threw an unexpected error.' },
  PAS_ERR_MANAGER_FAILED: { retryable: true, status: 500, doc: 'The Manager running the job failed.' },
  PAS_ERR_DIRECTOR_FAILED: { retryable: true, status: 500, doc: 'The Director was forced into FAILED; its lane takes no jobs until it is reset.' },
  PAS_ERR_ARCHITECT_FAILED: { retryable: true, status: 500, doc: 'The Architect was forced into FAILED; it routes no jobs until it is reset.' },
  PAS_ERR_PLAN_INVALID: { retryable: false, status: 500, doc: 'The Manager LLM reply was not a usable plan; the fallback plan (one subtask per file) is used.' },
  PAS_ERR_MERGE_CONFLICT: { retryable: false, status: 409, doc: 'A task branch conflicts with what is already merged.' },
  PAS_ERR_NO_LANE: { retryable: false, status: 400, doc: 'The job names a lane that has no Director.' },

  // LLM layer
  PAS_ERR_LLM_RATE_LIMITED: { retryable: true, status: 429, doc: 'The provider answered 429 (rate limit); retried after retry-after.' },
  PAS_ERR_LLM_OVERLOADED: { retryable: true, status: 503, doc: 'The provider is overloaded (Anthropic 529, 503).' },
  PAS_ERR_LLM_SERVER: { retryable: true, status: 502, doc: 'The provider answered 5xx.' },
  PAS_ERR_LLM_TIMEOUT: { retryable: true, status: 504, doc: 'The provider did not answer within the call timeout.' },
  PAS_ERR_LLM_CONNECTION: { retryable: true, status: 502, doc: 'The provider could not be reached (refused, reset, DNS).' },
  PAS_ERR_LLM_STREAM: { retryable: true, status: 502, doc: 'The provider sent an error in the middle of a stream.' },
  PAS_ERR_LLM_MALFORMED: { retryable: true, status: 502, doc: 'The provider body could not be parsed.' },
  PAS_ERR_LLM_BAD_REQUEST: { retryable: false, status: 400, doc: 'The provider rejected the request as malformed.' },
  PAS_ERR_LLM_CONTEXT_LENGTH: { retryable: false, status: 400, doc: 'The prompt is longer than the model context.' },
  PAS_ERR_LLM_AUTH: { retryable: false, status: 401, doc: 'The API key is missing, invalid or lacks permission.' },
  PAS_ERR_LLM_QUOTA: { retryable: false, status: 402, doc: 'The account has no quota or credit left (even when sent as 429).' },
  PAS_ERR_LLM_BREAKER_OPEN: { retryable: true, status: 503, doc: 'The model breaker is open (or probing) and refused the call.' },
  PAS_ERR_LLM_ALL_FAILED: { retryable: false, status: 502, doc: 'Primary and backup both failed; details hold both causes.' },
  PAS_ERR_LLM_UNKNOWN_MODEL: { retryable: false, status: 400, doc: 'The provider/model is not in models.yaml.' },
  PAS_ERR_LLM_GATEWAY_DOWN: { retryable: true, status: 503, doc: 'A program PAS starts needs the LLM gateway (CONTRACT §9) and the gateway is not listening.' },
  PAS_ERR_LLM_CASSETTE: { retryable: false, status: 500, doc: 'The scripted provider has no reply in its cassette for this call.' },
  PAS_ERR_BUDGET_EXHAUSTED: { retryable: false, status: 402, doc: 'Today\'s max_daily_spend_usd is spent; paid models are not called.' },

  // executors
  PAS_ERR_FS_PATH_ESCAPE: { retryable: false, status: 403, doc: 'A path leaves the worktree (.., absolute, symlink, odd unicode).' },
  PAS_ERR_FS_NOT_ALLOWED: { retryable: false, status: 403, doc: 'A path is inside the worktree but not allowed by fs_allowlist.yaml.' },
  PAS_ERR_CMD_NOT_ALLOWED: { retryable: false, status: 403, doc: 'The command is not in cmd_allowlist.yaml.' },
  PAS_ERR_CMD_TIMEOUT: { retryable: true, status: 504, doc: 'An allowed command ran past its timeout and its process tree was killed.' },
  PAS_ERR_CMD_FAILED: { retryable: false, status: 500, doc: 'An allowed command exited non-zero.' },
  PAS_ERR_VERIFY_FAILED: { retryable: false, status: 500, doc: "A `verify` command still failed after the last round: a subtask's after `verify_rounds` edit–test rounds, a job's merged branch after `fixup_rounds` fix-up subtasks. `details.output` holds its last output (head and tail)." },
  PAS_ERR_VERIFY_UNAVAILABLE: { retryable: false, status: 500, doc: 'The job has a `verify` command but the runtime services it runs on have no way to run it on the merged branch (no `verifyJob`); the merged branch is kept, unverified.' },
  PAS_ERR_AIDER_NOT_FOUND: { retryable: false, status: 500, doc: 'The aider binary is not on PATH.' },
  PAS_ERR_AIDER_NO_EDITS: { retryable: true, status: 502, doc: 'Aider finished without applying an edit; the output tail says why.' },
  PAS_ERR_AGENT_CLI_NOT_FOUND: { retryable: false, status: 500, doc: 'The coding-agent CLI binary (claude, codex, gemini, opencode) is not installed or not on PATH.' },
  PAS_ERR_AGENT_CLI_FAILED: { retryable: true, status: 502, doc: 'The coding-agent CLI ended without a successful final result event; the output tail says why.' },
  PAS_ERR_AGENT_CLI_NO_EDITS: { retryable: true, status: 502, doc: 'The coding-agent CLI reported success but changed no file in the worktree.' },
  PAS_ERR_AGENT_CLI_STALLED: { retryable: true, status: 504, doc: 'The coding-agent CLI printed no event for stall_timeout_s; its process tree was killed, as for a hang.' },
  PAS_ERR_EDIT_MALFORMED: { retryable: true, status: 502, doc: 'The model reply held no usable SEARCH/REPLACE block, even after one correction.' },
  PAS_ERR_EDIT_NO_MATCH: { retryable: true, status: 502, doc: 'A SEARCH block did not match the file.' },
  PAS_ERR_GIT: { retryable: false, status: 500, doc: 'A git command failed.' },
  PAS_ERR_RESOURCE: { retryable: true, status: 503, doc: 'A program (git, a verify command, an agent CLI) could not be started: no file descriptors, memory or process slots left, or the program is missing; the task fails, PAS keeps serving.' },
  PAS_ERR_SPAWNER: { retryable: true, status: 503, doc: 'The spawner (the small process that starts git and verify commands for the runtime) died while running a program; that program\'s result is lost, the next request starts a fresh spawner.' },

  // distribution (programmers on other hosts, CONTRACT §11)
  PAS_ERR_DIST_BAD_MESSAGE: { retryable: false, status: 400, doc: 'A message between the central process and a worker (`pas.v1.*`) failed its schema; it is rejected and logged, details name the kind and the field.' },
  PAS_ERR_DIST_BROKER: { retryable: true, status: 503, doc: 'The NATS broker named by distribution.nats_url could not be reached or refused a JetStream operation.' },
  PAS_ERR_DIST_BUNDLE_INVALID: { retryable: false, status: 422, doc: 'A git bundle was refused: it does not verify, lacks its prerequisites, or its commit is not a plain chain on top of the expected base.' },
  PAS_ERR_DIST_BUNDLE_MISSING: { retryable: true, status: 404, doc: 'A bundle or the base commit it should carry is missing (object store entry gone, or the worker\'s cache lacks the base); the central process sends a full bundle again.' },
  PAS_ERR_DIST_REF_EXISTS: { retryable: false, status: 409, doc: 'A task ref that a worker\'s result would create already exists; refs are created once and never overwritten.' },
  PAS_ERR_DIST_WORKER_OFFLINE: { retryable: true, status: 503, doc: 'The worker hosting the programmer sent no heartbeat for `distribution.offline_after_ms`; its task goes to another programmer.' },
  PAS_ERR_DIST_STALE_RESULT: { retryable: false, status: 409, doc: 'A result came from an attempt that is no longer the task\'s current one (a worker thought dead, a redelivery); it is fenced: never merged, logged and dropped.' },
  PAS_ERR_DIST_NO_ADMISSION: { retryable: true, status: 503, doc: 'A worker asked the central process whether it may call a model (cluster-wide breaker and budget) and got no answer within `distribution.admission_wait_ms` (asking again every `distribution.request_timeout_ms`); the call is not made (never a paid call unchecked).' },
  PAS_ERR_DIST_CENTRAL_IN_USE: { retryable: false, status: 409, doc: 'Another central process (`pas up`) answers on this broker under the same `distribution.prefix`: two would race for the workers\' programmers and fence each other\'s results. The second start exits 1 naming the first\'s pid and host; stop it, or give each installation its own prefix.' },
  PAS_ERR_DIST_OWNER_TAKEN: { retryable: false, status: 409, doc: 'Another live worker already owns the programmer id (KV compare-and-set); it is not given to this worker. A `pas worker` paused or cut off past `offline_after_ms` while another process of its id took its programmers exits 1 with it once it runs again.' },
  PAS_ERR_DIST_VERSION_MISMATCH: { retryable: false, status: 409, doc: 'A worker speaks another `pas.v1.*` protocol revision than the central process (another PAS build whose messages differ, or one that announces no revision): it is refused at registration, its heartbeats are ignored and it takes no task. Run the same PAS build on both hosts.' },

  // journal
  PAS_ERR_JOURNAL: { retryable: false, status: 500, doc: 'The durable journal could not be read or written.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** A failure as machines hold it: never an Error instance, always a known code. */
export interface ErrorData {
  code: ErrorCode;
  retryable: boolean;
  message: string;
  details?: Record<string, unknown>;
}

/** The plain form of a coded failure; `retryable` and the message default from the table. */
export function codedError(code: ErrorCode, message?: string, details?: Record<string, unknown>, retryable: boolean = ERRORS[code].retryable): ErrorData {
  const data: ErrorData = { code, retryable, message: message ?? ERRORS[code].doc };
  if (details) data.details = details;
  return data;
}
