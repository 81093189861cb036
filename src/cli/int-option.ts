import { PasError } from '../errors.ts';

/** A whole-number CLI option (`--port-offset 3`), or `fallback` when absent; anything else is a usage error. */
export function intOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new PasError('PAS_ERR_BAD_REQUEST', `--${name} takes a whole number, got "${String(raw)}"`);
  return n;
}
