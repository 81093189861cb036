import { describe, expect, it } from 'vitest';
import { brokerAway, type DistLink } from '../../../src/distribution/link.ts';
import { PasError } from '../../../src/errors.ts';

const link = (connected: boolean) => ({ nats: { isConnected: () => connected } }) as unknown as DistLink;

describe('which failed broker calls are tried again', () => {
  it('tries again while the link is down, and when the broker timed out or had nobody to answer (JetStream not back yet)', () => {
    expect(brokerAway(link(false), new Error('anything at all'))).toBe(true);
    expect(brokerAway(link(true), Object.assign(new Error('TIMEOUT'), { name: 'TimeoutError' }))).toBe(true);
    expect(brokerAway(link(true), Object.assign(new Error('no responders: $JS.API.STREAM.MSG.GET.X'), { name: 'NoRespondersError' }))).toBe(true);
    expect(brokerAway(link(true), new PasError('PAS_ERR_DIST_BROKER', 'cannot read bundle a.base.bundle: timeout'))).toBe(true);
    expect(brokerAway(link(true), new Error('wrapped', { cause: Object.assign(new Error('connection closed'), { name: 'ClosedConnectionError' }) }))).toBe(true);
  });

  it('gives up on an answer that is the same every time: a bundle the store does not have, a message too big, a bad name', () => {
    expect(brokerAway(link(true), new PasError('PAS_ERR_DIST_BUNDLE_MISSING', 'bundle a.base.bundle is not in the object store (expired or deleted)'))).toBe(false);
    expect(brokerAway(link(true), new Error('MAX_PAYLOAD_EXCEEDED'))).toBe(false);
    expect(brokerAway(link(true), new Error('invalid key'))).toBe(false);
  });
});
