/**
 * Per-task credentials for programs PAS starts (agent CLIs, aider): a random token PAS puts in
 * the child's API-key variable instead of the real key. The LLM gateway maps it back to the task
 * it was issued for; it stops working when the task ends (revoke) or when it expires.
 */
import { randomBytes } from 'node:crypto';
import type { ModelRef } from '../../../machines/domain.ts';

export interface CredentialGrant {
  jobId: string;
  taskId: string;
  programmerId: string;
  /** The models the task may call, primary first (the backup is where failover goes). */
  models: ModelRef[];
  /** Epoch ms after which the credential is refused. */
  expiresAt: number;
}

export interface IssuedCredential {
  /** The value the child gets in its API-key variable. */
  token: string;
  grant: CredentialGrant;
  /** Ends the credential (the task finished); idempotent. */
  revoke(): void;
}

export type CredentialLookup =
  | { ok: true; grant: CredentialGrant }
  | { ok: false; reason: 'missing' | 'unknown' | 'expired' };

/** Every PAS credential starts with this, so logs and redaction can tell it from a provider key. */
export const CREDENTIAL_PREFIX = 'pas-task-';

export class CredentialRegistry {
  private readonly grants = new Map<string, CredentialGrant>();

  constructor(private readonly now: () => number = Date.now) {}

  issue(grant: Omit<CredentialGrant, 'expiresAt'> & { ttlMs: number }): IssuedCredential {
    const token = `${CREDENTIAL_PREFIX}${randomBytes(24).toString('base64url')}`;
    const { ttlMs, ...rest } = grant;
    const stored: CredentialGrant = { ...rest, models: [...rest.models], expiresAt: this.now() + ttlMs };
    this.grants.set(token, stored);
    return { token, grant: stored, revoke: () => void this.grants.delete(token) };
  }

  lookup(token: string | undefined): CredentialLookup {
    if (!token) return { ok: false, reason: 'missing' };
    const grant = this.grants.get(token);
    if (!grant) return { ok: false, reason: 'unknown' };
    if (this.now() > grant.expiresAt) return { ok: false, reason: 'expired' };
    return { ok: true, grant };
  }

  /** Credentials still live (for tests and /metrics). */
  size(): number {
    return this.grants.size;
  }
}
