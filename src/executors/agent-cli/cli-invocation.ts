/**
 * What one agent-CLI run needs to be started, and what a per-CLI builder turns it into: the
 * arguments, the child's complete environment and the files to write into its private home.
 */
import type { ModelPrice } from '../../config/schemas.ts';
import type { ProtocolKind } from '../../llm/provider-errors.ts';

/** The model endpoint one run talks to (the primary's, or the backup's on the second run). */
export interface CliEndpoint {
  /** PAS provider name and model (`google`, `gemini-2.5-pro`). */
  provider: string;
  model: string;
  kind: ProtocolKind;
  /** As models.yaml (or its base-URL variable) gives it. */
  baseUrl: string;
  /** The key for the child's API-key variable; absent for keyless local providers. */
  apiKey?: string;
  price?: ModelPrice;
}

export interface CliRunContext {
  /** The task's worktree (the CLI's working directory). */
  worktree: string;
  /** The run's private HOME; created and removed by the runner. */
  home: string;
  /** The run's TMPDIR, inside `home`. */
  tmpdir: string;
  /** PATH and locale for the child. */
  baseEnv: Record<string, string>;
  prompt: string;
  endpoint: CliEndpoint;
  /** How often the CLI may retry a failed model call itself (PAS does the real retrying). */
  maxRetries: number;
}

export interface CliInvocation {
  args: string[];
  env: Record<string, string>;
  /** Files to write before the run, as absolute paths inside `home`. */
  files: { path: string; content: string }[];
}
