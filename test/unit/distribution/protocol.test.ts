/**
 * The protocol revision a build announces, and how a central process and a worker of different
 * builds read each other: the revision follows every `pas.v1.*` schema and subject name (nobody
 * has to remember a bump), and the refusal reads the same to a worker of this build, to one from
 * before revisions, and to one whose `registered` schema has moved on.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeMessage, encodeMessage, heartbeatSchema, MESSAGE_SCHEMAS, registerSchema } from '../../../src/distribution/messages.ts';
import { distributionNames } from '../../../src/distribution/names.ts';
import { announcedBuild, protocolRevision, refusalReply, refusedForBuild, thisBuild, versionMismatch } from '../../../src/distribution/protocol.ts';
import { PAS_VERSION } from '../../../src/version.ts';
import { EXAMPLE_MESSAGES } from '../../support/distribution-fixtures.ts';

const central = { version: '0.1.0', protocol: '00112233aabbccdd' };
const timing = { heartbeat_ms: 1_000, offline_after_ms: 5_000 };
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('the protocol revision', () => {
  it('is this build\'s package version and a 16-hex revision of its schemas, the same however often it is computed', () => {
    expect(thisBuild()).toEqual({ version: PAS_VERSION, protocol: protocolRevision() });
    expect(thisBuild().protocol).toMatch(/^[0-9a-f]{16}$/);
    expect(protocolRevision({ ...MESSAGE_SCHEMAS })).toBe(thisBuild().protocol);
  });

  it('changes when a message gains an optional field, when a limit changes, when a message is added and when a subject name changes', () => {
    const ours = protocolRevision();
    const withField = protocolRevision({ ...MESSAGE_SCHEMAS, 'pas.v1.heartbeat': heartbeatSchema.extend({ load: z.number().optional() }) });
    const withLimit = protocolRevision({ ...MESSAGE_SCHEMAS, 'pas.v1.register': registerSchema.extend({ programmer_ids: z.array(z.string()).min(1).max(50) }) });
    const withKind = protocolRevision({ ...MESSAGE_SCHEMAS, 'pas.v1.drain': z.strictObject({ kind: z.literal('pas.v1.drain') }) });
    const names = distributionNames('p');
    const withSubject = protocolRevision(MESSAGE_SCHEMAS, { ...names, subjects: { ...names.subjects, register: 'pas.v1.p.hello' } });
    expect(new Set([ours, withField, withLimit, withKind, withSubject]).size).toBe(5);
  });

  it('is announced by a register and a heartbeat of this build, which this build\'s schemas accept', () => {
    const register = { ...EXAMPLE_MESSAGES['pas.v1.register'], protocol: thisBuild().protocol };
    expect(decodeMessage('pas.v1.register', encodeMessage('pas.v1.register', register)).protocol).toBe(thisBuild().protocol);
    expect(announcedBuild(encodeMessage('pas.v1.heartbeat', { ...EXAMPLE_MESSAGES['pas.v1.heartbeat'], protocol: 'abc' }))).toMatchObject({ workerId: 'gpu-1', pid: 4242, protocol: 'abc' });
  });
});

describe('a worker of another build', () => {
  it('is read from its registration even when it carries fields this build does not know', () => {
    const future = { ...EXAMPLE_MESSAGES['pas.v1.register'], version: '0.9.0', protocol: 'ffffffffffffffff', gpu_count: 2 };
    expect(() => decodeMessage('pas.v1.register', bytes(future))).toThrow(/unknown field "gpu_count"/);
    expect(announcedBuild(bytes(future))).toEqual({ workerId: 'gpu-1', pid: 4242, version: '0.9.0', protocol: 'ffffffffffffffff', programmerIds: ['Prog-011', 'Prog-012'] });
    expect(announcedBuild(new TextEncoder().encode('not json'))).toBeUndefined();
  });

  it('is told both builds and what to do, under PAS_ERR_DIST_VERSION_MISMATCH, and its answer reads back to the same error even from a registered schema that has moved on', () => {
    const worker = announcedBuild(bytes({ ...EXAMPLE_MESSAGES['pas.v1.register'], version: '0.2.0', protocol: 'ffffffffffffffff' }))!;
    const error = versionMismatch(worker, central);
    expect(error.code).toBe('PAS_ERR_DIST_VERSION_MISMATCH');
    expect(error.message).toContain('worker gpu-1 runs PAS 0.2.0 (protocol ffffffffffffffff)');
    expect(error.message).toContain('the central process runs PAS 0.1.0 (protocol 00112233aabbccdd)');
    expect(error.message).toContain('Run the same PAS build on both hosts');
    const reply = refusalReply(worker, error, timing)!;
    // This build's schema takes it: accepted none, every programmer refused with the mismatch.
    const decoded = decodeMessage('pas.v1.registered', encodeMessage('pas.v1.registered', reply));
    expect(decoded.accepted).toEqual([]);
    expect(decoded.refused.map((r) => [r.programmer_id, r.error.code])).toEqual([
      ['Prog-011', 'PAS_ERR_DIST_VERSION_MISMATCH'],
      ['Prog-012', 'PAS_ERR_DIST_VERSION_MISMATCH'],
    ]);
    // A later build's `registered` may carry more fields: the refusal is still read.
    const read = refusedForBuild(bytes({ ...reply, cluster_name: 'x' }))!;
    expect(read.code).toBe('PAS_ERR_DIST_VERSION_MISMATCH');
    expect(read.message).toBe(error.message);
    expect(read.details).toMatchObject({ worker: { protocol: 'ffffffffffffffff' }, central: { protocol: '00112233aabbccdd' } });
    // An ordinary answer is no refusal.
    expect(refusedForBuild(encodeMessage('pas.v1.registered', EXAMPLE_MESSAGES['pas.v1.registered']))).toBeUndefined();
  });

  it('from before protocol revisions gets the same message under a code its own schema knows, so it stops instead of asking forever', () => {
    const old = { ...EXAMPLE_MESSAGES['pas.v1.register'], version: '1' };
    const worker = announcedBuild(bytes(old))!;
    expect(worker.protocol).toBeUndefined();
    const error = versionMismatch(worker, central);
    expect(error.message).toContain('worker gpu-1 runs an older PAS build (version field "1") that announces no protocol revision');
    expect(error.message).toContain('PAS 0.1.0 (protocol 00112233aabbccdd)');
    const reply = refusalReply(worker, error, timing)!;
    const decoded = decodeMessage('pas.v1.registered', encodeMessage('pas.v1.registered', reply));
    expect(decoded.accepted).toEqual([]);
    expect(decoded.refused.map((r) => r.error.code)).toEqual(['PAS_ERR_DIST_BAD_MESSAGE', 'PAS_ERR_DIST_BAD_MESSAGE']);
    expect(decoded.refused.every((r) => r.error.message === error.message)).toBe(true);
  });

  it('whose worker id is no subject token gets no answer', () => {
    const worker = announcedBuild(bytes({ ...EXAMPLE_MESSAGES['pas.v1.register'], worker_id: 'a.b' }))!;
    expect(refusalReply(worker, versionMismatch(worker, central), timing)).toBeUndefined();
  });
});
