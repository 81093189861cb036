/**
 * What a model (or a user reading an error) is shown of a verify command's output: stdout then
 * stderr, cut to its first and last lines with a marker saying how much was left out. Test
 * runners print the failing assertion near the end and the suite's name near the start, so the
 * head and the tail are kept, the middle dropped.
 */
import { PasError } from '../errors.ts';

export interface TrimOptions {
  headLines?: number;
  tailLines?: number;
  /** A hard cap on characters after the line cut (a minified line can be huge). */
  maxChars?: number;
}

const DEFAULTS: Required<TrimOptions> = { headLines: 20, tailLines: 60, maxChars: 6000 };

export function trimOutput(text: string, options: TrimOptions = {}): string {
  const { headLines, tailLines, maxChars } = { ...DEFAULTS, ...options };
  const lines = text.replace(/\s+$/, '').split('\n');
  let kept = lines.length <= headLines + tailLines
    ? lines.join('\n')
    : [...lines.slice(0, headLines), `… (${lines.length - headLines - tailLines} lines left out) …`, ...lines.slice(-tailLines)].join('\n');
  if (kept.length > maxChars) {
    const head = Math.floor(maxChars / 4);
    const tail = maxChars - head;
    kept = `${kept.slice(0, head)}\n… (${kept.length - maxChars} characters left out) …\n${kept.slice(-tail)}`;
  }
  return kept;
}

/** stdout and stderr of one command, as one text for `trimOutput`. */
export function commandOutput(stdout: string, stderr: string): string {
  const out = stdout.replace(/\s+$/, '');
  const err = stderr.replace(/\s+$/, '');
  if (!err) return out;
  if (!out) return err;
  return `${out}\n--- stderr ---\n${err}`;
}

/** A task's verify command still fails after its last edit–verify round. */
export function verifyFailedError(ran: { command: string; exitCode: number | null; output: string }, rounds: number): PasError {
  return new PasError('PAS_ERR_VERIFY_FAILED', `verify command ${ran.command} still failed (exit ${ran.exitCode ?? 'by signal'}) after ${rounds} round${rounds === 1 ? '' : 's'}:\n${ran.output}`, {
    details: { command: ran.command, exitCode: ran.exitCode, rounds, output: ran.output },
  });
}
