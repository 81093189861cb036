/**
 * Coded errors for the I/O layer. Every failure that crosses a module boundary is a `PasError`
 * with a code from the one table in `machines/error-codes.ts`; machines carry only the plain
 * `ErrorData` form so their snapshots stay JSON.
 */
import { asErrorData } from '../machines/domain.ts';
import { redactValue } from './redaction.ts';
import { ERRORS, type ErrorCode, type ErrorData } from '../machines/error-codes.ts';

export { codedError, ERRORS, isErrorCode, type ErrorCode, type ErrorData, type ErrorSpec } from '../machines/error-codes.ts';

export interface PasErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
  retryable?: boolean;
}

export class PasError extends Error {
  override readonly name = 'PasError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, options: PasErrorOptions = {}) {
    super(message ?? ERRORS[code].doc, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? ERRORS[code].retryable;
    this.status = ERRORS[code].status;
    this.details = options.details ?? {};
  }

  toData(): ErrorData {
    return toErrorData(this);
  }
}

export function isPasError(err: unknown, code?: ErrorCode): err is PasError {
  return err instanceof PasError && (code === undefined || err.code === code);
}

/**
 * The JSON form machines and receipts hold, with secret values scrubbed from message and details
 * (src/redaction.ts). Unknown throwables become PAS_ERR_EXECUTOR_CRASHED.
 */
export function toErrorData(err: unknown): ErrorData {
  return redactValue(asErrorData(err));
}
