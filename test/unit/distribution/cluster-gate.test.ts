/**
 * The worker's cluster gate without a broker: the central process's answers are scripted replies
 * in the real wire format. The synchronous face (`admit`, which agent-CLI executors ask before
 * starting a program) follows what the central process said of the model.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createClusterGate } from '../../../src/distribution/cluster-gate.ts';
import { encodeMessage, type BreakerReplyMessage } from '../../../src/distribution/messages.ts';
import { distributionNames } from '../../../src/distribution/names.ts';

const REF = 'anthropic/claude-sonnet-4';
const COOLDOWN_MS = 5 * 60_000;

function gateAnswering(replies: Array<Pick<BreakerReplyMessage, 'state' | 'allow'>>) {
  let t = Date.parse('2026-03-01T12:00:00Z');
  let n = 0;
  const gate = createClusterGate({
    workerId: 'w1',
    names: distributionNames('unit'),
    request: async () => {
      const r = replies[Math.min(n++, replies.length - 1)]!;
      return { data: encodeMessage('pas.v1.breaker_reply', { kind: 'pas.v1.breaker_reply', call_id: `w1.c${n}`, model: REF, ...r }) };
    },
    publishDurably: async () => undefined,
    requestTimeoutMs: 100,
    admissionWaitMs: 1_000,
    cooldownMs: COOLDOWN_MS,
    logger: pino({ level: 'silent' }),
    now: () => t,
    newCallId: () => `w1.c${n + 1}`,
  });
  return { gate, advance: (ms: number) => void (t += ms) };
}

describe('cluster gate, synchronous face', () => {
  it('admits a model again once the half-open probe this worker made has succeeded, not only after the cooldown', async () => {
    const { gate, advance } = gateAnswering([{ state: 'halfOpen', allow: true }]);
    const ticket = await gate.admitCall(REF, { agentId: 'p1' });
    expect(ticket.admission).toBe('probe');
    advance(1_000);
    ticket.finish('success', { usage: { input: 1, output: 1 }, costUsd: 0 });
    expect(gate.admit(REF)).toBe('allow');
    expect(gate.state(REF)).toBe('closed');
  });

  it('does not hold a model back for the whole cooldown because another worker held the half-open probe', async () => {
    const { gate, advance } = gateAnswering([{ state: 'halfOpen', allow: false }]);
    await expect(gate.admitCall(REF, {})).rejects.toMatchObject({ code: 'PAS_ERR_LLM_BREAKER_OPEN' });
    advance(10_000);
    expect(gate.admit(REF)).toBe('allow');
  });

  it('refuses a model the central process said is open until the cooldown has passed', async () => {
    const { gate, advance } = gateAnswering([{ state: 'open', allow: false }]);
    await expect(gate.admitCall(REF, {})).rejects.toMatchObject({ code: 'PAS_ERR_LLM_BREAKER_OPEN' });
    advance(COOLDOWN_MS - 1);
    expect(gate.admit(REF)).toBe('reject');
    advance(2);
    expect(gate.admit(REF)).toBe('allow');
  });
});
