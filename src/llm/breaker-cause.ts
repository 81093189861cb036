/**
 * Words for "why": what opened a model's breaker, and a failed call's causes, so a task refused
 * by an open breaker says "connection refused at http://127.0.0.1:11434" or "GEMINI_API_KEY is not
 * set" rather than only "circuit breaker is open".
 */
import type { ErrorData } from '../../machines/domain.ts';

export interface FailureNote {
  code: string;
  message: string;
}

/** `PAS_ERR_LLM_CONNECTION: …` for the newest failure, with how many of the last ones share its code. */
export function breakerCauseText(failures: readonly FailureNote[]): string | null {
  const last = failures[failures.length - 1];
  if (!last) return null;
  const same = failures.filter((f) => f.code === last.code).length;
  return `${last.code}: ${last.message}${failures.length > 1 ? ` (${same} of the last ${failures.length} failures)` : ''}`;
}

/** One cause of PAS_ERR_LLM_ALL_FAILED as `ref: CODE: message`, following an open breaker to its cause. */
export function describeCause(ref: string, cause: ErrorData | undefined): string {
  if (!cause) return `${ref}: not tried`;
  const strip = (m: string) => (m.startsWith(`${ref}: `) ? m.slice(ref.length + 2) : m);
  const opened = (cause.details as { cause?: string } | undefined)?.cause;
  if (cause.code === 'PAS_ERR_LLM_BREAKER_OPEN' && opened) return `${ref}: breaker open after ${opened}`;
  return `${ref}: ${cause.code}: ${strip(cause.message)}`;
}
