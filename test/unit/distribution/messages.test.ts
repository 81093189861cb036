import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, encodeResultMessage, encodeWithInlineBundle, INLINE_BUNDLE_MAX_BYTES, MESSAGE_SCHEMAS, type MessageKind, type ResultMessage } from '../../../src/distribution/messages.ts';
import { EXAMPLE_MESSAGES as EXAMPLES, exampleResult as result, exampleTask as task } from '../../support/distribution-fixtures.ts';
import { distributionNames } from '../../../src/distribution/names.ts';
import { isPasError, type PasError } from '../../../src/errors.ts';

function refusal(fn: () => unknown): PasError {
  try {
    fn();
  } catch (err) {
    if (isPasError(err, 'PAS_ERR_DIST_BAD_MESSAGE')) return err;
    throw err;
  }
  throw new Error('the message was accepted');
}

describe('pas.v1 messages', () => {
  it('round-trips one example of every kind through its bytes unchanged', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(Object.keys(MESSAGE_SCHEMAS).sort());
    for (const kind of Object.keys(EXAMPLES) as MessageKind[]) {
      const bytes = encodeMessage(kind, EXAMPLES[kind] as never);
      expect(decodeMessage(kind, bytes), kind).toEqual(EXAMPLES[kind]);
    }
  });

  it('refuses a task whose attempt id is missing, naming the field', () => {
    const { attempt_id: _, ...rest } = task;
    const err = refusal(() => decodeMessage('pas.v1.task', JSON.stringify(rest)));
    expect(err.details).toMatchObject({ kind: 'pas.v1.task', field: 'attempt_id' });
    expect(err.message).toContain('pas.v1.task: attempt_id:');
  });

  it('refuses a task that carries the path of the user checkout', () => {
    const err = refusal(() => decodeMessage('pas.v1.task', JSON.stringify({ ...task, task: { ...task.task, repo: '/home/me/app' } })));
    expect(err.details).toMatchObject({ field: 'task.repo' });
    expect(err.message).toContain('unknown field "repo"');
  });

  it('carries a job\'s own budget with its task, and refuses a negative one naming the field', () => {
    expect(decodeMessage('pas.v1.task', encodeMessage('pas.v1.task', { ...task, job_max_spend_usd: 0.25 })).job_max_spend_usd).toBe(0.25);
    expect(refusal(() => decodeMessage('pas.v1.task', JSON.stringify({ ...task, job_max_spend_usd: -1 }))).details).toMatchObject({ field: 'job_max_spend_usd' });
  });

  it('names nested fields with their list index', () => {
    const bad = { ...task, task: { ...task.task, files: ['src/a.ts', 'src/bad\u0000name.ts'] } };
    expect(refusal(() => decodeMessage('pas.v1.task', JSON.stringify(bad))).details).toMatchObject({ field: 'task.files[1]' });
    const badCode = { ...result, outcome: { status: 'error', error: { code: 'PAS_ERR_NOPE', retryable: false, message: 'x' } } };
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify(badCode))).details).toMatchObject({ field: 'outcome.error.code' });
    const zeroTokens = { ...result, receipt: { ...result.receipt, tokens: { input: -1, output: 2 } } };
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify(zeroTokens))).details).toMatchObject({ field: 'receipt.tokens.input' });
  });

  it('refuses another kind, another version, bad JSON and bad UTF-8 as bad messages', () => {
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify(task))).details).toMatchObject({ field: 'kind', received: 'pas.v1.task' });
    expect(refusal(() => decodeMessage('pas.v1.task', JSON.stringify({ ...task, kind: 'pas.v2.task' }))).message).toContain('expected "pas.v1.task", got "pas.v2.task"');
    expect(refusal(() => decodeMessage('pas.v1.task', '{"kind":')).details).toMatchObject({ field: '(root)' });
    expect(refusal(() => decodeMessage('pas.v1.task', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))).details).toMatchObject({ field: '(root)' });
    expect(refusal(() => decodeMessage('pas.v1.task', 'null')).details).toMatchObject({ field: 'kind' });
  });

  it('refuses an ok result without its commit and an error result without a coded error', () => {
    const { commit: _, ...okWithout } = result.outcome as Extract<ResultMessage['outcome'], { status: 'ok' }>;
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify({ ...result, outcome: okWithout }))).details).toMatchObject({ field: 'outcome.commit' });
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify({ ...result, outcome: { status: 'error' } }))).details).toMatchObject({ field: 'outcome.error' });
  });

  it('takes a result bundle either inline (base64) or named in the object store, never both, and refuses a new commit with neither', () => {
    const ok = result.outcome as Extract<ResultMessage['outcome'], { status: 'ok' }>;
    const { bundle_object: _, ...bare } = ok;
    const inline = { ...bare, bundle: Buffer.from('a bundle').toString('base64') };
    expect(decodeMessage('pas.v1.result', encodeMessage('pas.v1.result', { ...result, outcome: inline })).outcome).toEqual(inline);
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify({ ...result, outcome: { ...ok, bundle: inline.bundle } }))).details).toMatchObject({ field: 'outcome.bundle' });
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify({ ...result, outcome: bare }))).details).toMatchObject({ field: 'outcome.bundle_object' });
    expect(refusal(() => decodeMessage('pas.v1.result', JSON.stringify({ ...result, outcome: { ...bare, bundle: 'not base64!' } }))).details).toMatchObject({ field: 'outcome.bundle' });
    // A task that changed nothing (its commit is its base) sends no bundle at all.
    expect(decodeMessage('pas.v1.result', JSON.stringify({ ...result, outcome: { ...bare, commit: ok.base_commit } })).outcome).toMatchObject({ commit: ok.base_commit });
  });

  it('sends a result bundle inline only while it is small and the whole message fits the broker\'s max payload', () => {
    const ok = { ...result, outcome: { status: 'ok' as const, base_commit: 'a'.repeat(40), commit: 'b'.repeat(40) } };
    const inline = (bytes: number, maxPayload?: number) => encodeWithInlineBundle(ok, Buffer.alloc(bytes, 7), maxPayload);
    expect(inline(1_000)).toBeDefined();
    expect(inline(INLINE_BUNDLE_MAX_BYTES)).toBeDefined();
    expect(inline(INLINE_BUNDLE_MAX_BYTES + 1)).toBeUndefined();
    // A broker configured with a small max_payload gets bundles through the object store sooner.
    expect(inline(100_000, 128 * 1024)).toBeUndefined();
    expect(inline(10_000, 128 * 1024)).toBeDefined();
    // What travels is the bundle itself, and the message decodes as it is sent.
    const sent = decodeMessage('pas.v1.result', inline(1_000)!).outcome;
    expect(sent.status === 'ok' && Buffer.from(sent.bundle!, 'base64').equals(Buffer.alloc(1_000, 7))).toBe(true);
    // The largest inline bundle, as a message, is under MAX_MESSAGE_BYTES.
    expect(encodeWithInlineBundle({ ...ok, outcome: { ...ok.outcome, summary: 's'.repeat(20_000) } }, Buffer.alloc(INLINE_BUNDLE_MAX_BYTES))).toBeDefined();
  });

  it('keeps a result bundle out of its message when the encoded message, with a summary that grows when escaped, would exceed the broker\'s max payload', () => {
    // 20,000 control characters: each is six bytes once JSON-escaped (120 KB, more than a guessed 64 KB of room).
    const ok = { ...result, outcome: { status: 'ok' as const, base_commit: 'a'.repeat(40), commit: 'b'.repeat(40), summary: '\u0001'.repeat(20_000) } };
    const bundle = Buffer.alloc(INLINE_BUNDLE_MAX_BYTES, 7);
    const maxPayload = 450_000;
    expect(Math.ceil(bundle.byteLength / 3) * 4 + 64 * 1024).toBeLessThanOrEqual(maxPayload);
    expect(encodeWithInlineBundle(ok, bundle, maxPayload)).toBeUndefined();
    const fits = encodeWithInlineBundle(ok, bundle, 480_000);
    expect(fits!.byteLength).toBeLessThanOrEqual(480_000);
  });

  it('sends a worker\'s result as it is (the central process judges it: its refusal names the field) and never past the size limit', () => {
    expect(decodeMessage('pas.v1.result', encodeResultMessage(result))).toEqual(result);
    const bad = encodeResultMessage({ ...result, receipt: { ...result.receipt, duration_ms: -1 } });
    expect(refusal(() => decodeMessage('pas.v1.result', bad)).details).toMatchObject({ field: 'receipt.duration_ms' });
    const huge = { ...result, outcome: { status: 'error' as const, error: { code: 'PAS_ERR_INTERNAL' as const, retryable: false, message: 'x', details: { blob: 'y'.repeat(1_100_000) } } } };
    expect(refusal(() => encodeResultMessage(huge)).message).toMatch(/more than 1048576/);
  });

  it('refuses to encode a value its schema rejects, and a message over the size limit', () => {
    expect(() => encodeMessage('pas.v1.heartbeat', { ...EXAMPLES['pas.v1.heartbeat'], seq: -1 })).toThrow(/seq/);
    const huge = { ...task, task: { ...task.task, instruction: 'x'.repeat(200_000), context: Array.from({ length: 500 }, (_, i) => `${'d'.repeat(3000)}/${i}`) } };
    expect(refusal(() => decodeMessage('pas.v1.task', JSON.stringify(huge))).message).toMatch(/more than 1048576/);
  });
});

describe('any bytes at all', () => {
  it('decode to a valid message or are refused with PAS_ERR_DIST_BAD_MESSAGE, never another failure', () => {
    const kinds = Object.keys(MESSAGE_SCHEMAS) as MessageKind[];
    const check = (kind: MessageKind, bytes: Uint8Array | string) => {
      try {
        decodeMessage(kind, bytes);
      } catch (err) {
        expect(isPasError(err, 'PAS_ERR_DIST_BAD_MESSAGE'), String(err)).toBe(true);
        expect((err as PasError).details.field).toEqual(expect.any(String));
      }
    };
    fc.assert(fc.property(fc.constantFrom(...kinds), fc.uint8Array({ maxLength: 300 }), (kind, bytes) => check(kind, bytes)));
    // Valid examples with one field replaced by anything: the schema answers, nothing else throws.
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.jsonValue(), fc.nat(), (kind, value, pick) => {
        const example = EXAMPLES[kind] as Record<string, unknown>;
        const keys = Object.keys(example);
        check(kind, JSON.stringify({ ...example, [keys[pick % keys.length]!]: value }));
      }),
    );
  });
});

describe('NATS names', () => {
  it('puts every subject under pas.v1.<prefix> and derives stream and bucket names from the prefix', () => {
    const n = distributionNames('site-a');
    expect(n.subjects.task('Prog-011')).toBe('pas.v1.site-a.task.Prog-011');
    expect(n.subjects.result('Prog-011')).toBe('pas.v1.site-a.result.Prog-011');
    expect(n.subjects.register).toBe('pas.v1.site-a.register');
    expect(n.streamSubjects.task).toEqual(['pas.v1.site-a.task.*']);
    expect([n.taskStream, n.resultStream, n.ownerBucket, n.bundleBucket]).toEqual(['PAS_site-a_TASKS', 'PAS_site-a_RESULTS', 'PAS_site-a_OWNERS', 'PAS_site-a_BUNDLES']);
    expect(() => distributionNames('a.b')).toThrow(/prefix/);
    expect(() => n.subjects.task('Prog.1')).toThrow(/subject token/);
    expect(() => n.subjects.heartbeat('*')).toThrow(/subject token/);
  });
});
