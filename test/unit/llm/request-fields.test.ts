import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readModelField, withModel } from '../../../src/llm/gateway/request-fields.ts';

const b = (text: string) => Buffer.from(text, 'utf8');

/** A request body: some keys, `model` among them (or not), in any order, any spacing. */
const bodyArb = fc
  .record({
    model: fc.option(fc.oneof(fc.string(), fc.constantFrom('claude-sonnet-4', 'gpt-4.1', 'qwen2.5-coder:7b', 'm\u00e9t\u00e9o "quoted" \\ back\\slash')), { nil: undefined }),
    others: fc.dictionary(
      fc.string({ maxLength: 8 }).filter((k) => k !== 'model' && k !== '__proto__'),
      fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.jsonValue({ maxDepth: 3 })),
      { maxKeys: 6 },
    ),
    at: fc.nat(),
    space: fc.constantFrom(undefined, 1, 2, '\t'),
  })
  .map(({ model, others, at, space }) => {
    const entries = Object.entries(others);
    if (model !== undefined) entries.splice(at % (entries.length + 1), 0, ['model', model]);
    return { text: JSON.stringify(Object.fromEntries(entries), null, space), model };
  });

describe('readModelField', () => {
  it('finds the same top-level model as JSON.parse wherever the key sits and whatever surrounds it', () => {
    fc.assert(
      fc.property(bodyArb, ({ text, model }) => {
        const field = readModelField(b(text));
        if (model === undefined) expect(field).toEqual({ ok: false, reason: 'no_model' });
        else expect(field).toMatchObject({ ok: true, model });
      }),
      { numRuns: 500 },
    );
  });

  it('renames the model and keeps every other byte of the body', () => {
    fc.assert(
      fc.property(bodyArb, fc.string(), ({ text, model }, renamed) => {
        fc.pre(model !== undefined);
        const body = b(text);
        const field = readModelField(body);
        if (!field.ok) throw new Error('model not found');
        const out = withModel(body, field, renamed);
        expect(JSON.parse(out.toString('utf8'))).toEqual({ ...JSON.parse(text), model: renamed });
        if (field.start >= 0) {
          expect(out.subarray(0, field.start).equals(body.subarray(0, field.start))).toBe(true);
          expect(out.subarray(out.length - (body.length - field.end)).equals(body.subarray(field.end))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads the model of an agent-sized body without parsing it when model comes first', () => {
    const history = Array.from({ length: 200 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}: the file says "x" \\ ok` }));
    const body = b(JSON.stringify({ model: 'claude-sonnet-4', max_tokens: 1024, stream: true, messages: history }));
    const field = readModelField(body);
    expect(field).toEqual({ ok: true, model: 'claude-sonnet-4', start: 9, end: 26 });
  });

  it('obeys the last of two top-level model keys, as the provider would', () => {
    expect(readModelField(b('{"model":"cheap","messages":[],"model":"expensive"}'))).toMatchObject({ ok: true, model: 'expensive' });
    // A nested key named model (a tool's schema) does not change the top-level one.
    expect(readModelField(b('{"model":"cheap","tools":[{"input_schema":{"properties":{"model":{"type":"string"}}}}]}'))).toMatchObject({ ok: true, model: 'cheap' });
    // Only as a value ("role": "model") it is no key at all: no parse needed.
    expect(readModelField(b('{"model":"m","contents":[{"role":"model"}]}'))).toEqual({ ok: true, model: 'm', start: 9, end: 12 });
  });

  it('tells a body that is no JSON object from one without a model', () => {
    for (const text of ['', '   ', '[]', '"model"', 'null', '{"model":', '{"model":"unterminated', 'not json', '{"a":1,"model"']) {
      expect(readModelField(b(text)), text).toEqual({ ok: false, reason: 'not_object' });
    }
    for (const text of ['{}', '{"a":1}', '{"model":42}', '{"model":null}', '{"model":{"name":"x"}}', '{"models":"x"}']) {
      expect(readModelField(b(text)), text).toEqual({ ok: false, reason: 'no_model' });
    }
  });
});
