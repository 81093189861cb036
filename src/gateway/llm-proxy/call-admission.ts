/**
 * Whether the LLM gateway may make one call to one model, and how that call ended, told to the
 * breakers. In process (the central host) the breaker registry answers at once (`admit`, then
 * `record`); a gate that asks elsewhere (`admitCall`: a worker asking the cluster's central
 * process, which keeps the one half-open probe and the daily and job budgets) is awaited, refuses
 * with its own code, and hears the call's end and cost through its ticket: that report is the
 * only place the call's spend is booked, so it is counted once cluster-wide.
 */
import type { ErrorData, ModelRef, TokenUsage } from '../../../machines/domain.ts';
import { PasError, toErrorData } from '../../errors.ts';
import type { CredentialGrant } from '../../llm/gateway/credential-registry.ts';
import type { BreakerGate, CallTicket } from '../../llm/types.ts';
import type { Hangup } from './upstream.ts';

/** One call let through: the gate's ticket when it was asked asynchronously. */
export interface CallPass {
  readonly ref: ModelRef;
  readonly probe: boolean;
  readonly ticket?: CallTicket;
}

/** A pass, the gate's coded refusal, or undefined when the caller hung up while it was asked. */
export type GateAnswer = CallPass | PasError | undefined;

/** The synchronous answer of an in-process breaker (no await on the central host's hot path). */
export function admitNow(gate: BreakerGate, ref: ModelRef): CallPass | undefined {
  const admission = gate.admit(ref);
  return admission === 'reject' ? undefined : { ref, probe: admission === 'probe' };
}

/** Asks a gate that answers asynchronously; a ticket won after the caller hung up is given back. */
export async function admitThroughGate(admitCall: NonNullable<BreakerGate['admitCall']>, ref: ModelRef, grant: CredentialGrant, hangup: Hangup): Promise<GateAnswer> {
  let ticket: CallTicket;
  try {
    ticket = await admitCall(ref, { agentId: grant.programmerId, jobId: grant.jobId, taskId: grant.taskId, signal: hangup.signal() });
  } catch (err) {
    if (hangup.happened) return undefined;
    if (err instanceof PasError) return err;
    const data = toErrorData(err);
    return new PasError(data.code, data.message, { details: { ref, ...data.details }, retryable: data.retryable });
  }
  if (hangup.happened) {
    ticket.finish('abandoned');
    return undefined;
  }
  return { ref, probe: ticket.admission === 'probe', ticket };
}

/**
 * Tells the breakers how an admitted call ended: `failure` counts towards the breaker,
 * `abandoned` (the caller went away) frees a probe for the next caller. Through a ticket the
 * call's usage and cost go with it, whatever the outcome.
 */
export function endCall(gate: BreakerGate, pass: CallPass, how: 'success' | 'failure' | 'abandoned', detail: { error?: ErrorData; usage?: TokenUsage; costUsd?: number } = {}): void {
  if (pass.ticket) return pass.ticket.finish(how, detail);
  if (how === 'abandoned') {
    if (pass.probe) gate.abandonProbe(pass.ref);
  } else gate.record(pass.ref, how, pass.probe, how === 'failure' ? detail.error : undefined);
}
