import path from 'node:path';
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { expandGreedyOptions } from '../../../src/cli/greedy-args.ts';
import { jobBody, submitCommand } from '../../../src/cli/submit.ts';

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args: expandGreedyOptions(args, submitCommand.options, submitCommand.greedy ?? []),
    options: submitCommand.options,
    allowPositionals: true,
    strict: true,
  });
  return { values: values as Record<string, unknown>, positionals };
}

describe('pas submit arguments', () => {
  it('takes every value after --files up to the next flag', () => {
    const { values, positionals } = parse(['Document it', '--files', 'a.js', 'b.js', 'c d.js', '--lane', 'Docs', '--wait']);
    expect(positionals).toEqual(['Document it']);
    expect(values.files).toEqual(['a.js', 'b.js', 'c d.js']);
    expect(values.lane).toBe('Docs');
    expect(values.wait).toBe(true);
  });

  it('ends the file list at -- so the task may come last, and accepts -f, --files=x and repeats', () => {
    expect(parse(['--files', 'a.js', 'b.js', '--', 'the task']).positionals).toEqual(['the task']);
    expect(parse(['--files', 'a.js', 'b.js', '--', 'the task']).values.files).toEqual(['a.js', 'b.js']);
    const mixed = parse(['t', '-f', 'a.js', 'b.js', '--files=c.js', '--files', 'd.js']);
    expect(mixed.values.files).toEqual(['a.js', 'b.js', 'c.js', 'd.js']);
  });

  it('leaves an empty --files for parseArgs to refuse', () => {
    expect(expandGreedyOptions(['t', '--files', '--wait'], submitCommand.options, ['files'])).toEqual(['t', '--files', '--wait']);
    expect(() => parse(['t', '--files', '--wait'])).toThrow(/--files/);
    expect(() => parse(['t', '--files'])).toThrow(/--files/);
  });

  it('builds the job body with an absolute repo, a known lane and unique files', () => {
    const { values, positionals } = parse(['  Fix it  ', '--lane', 'code', '--files', 'a.js', 'a.js', 'b.js', '--repo', 'sub/repo']);
    expect(jobBody(values, positionals, '/home/me')).toEqual({ task: 'Fix it', lane: 'Code', files: ['a.js', 'b.js'], repo: path.resolve('/home/me', 'sub/repo') });
    expect(jobBody({}, ['only the task'])).toEqual({ task: 'only the task' });
  });

  it('refuses a missing, empty or split task and an unknown lane, naming the argument', () => {
    expect(() => jobBody({}, [])).toThrow(/task is missing/);
    expect(() => jobBody({}, ['   '])).toThrow(/task is empty/);
    const split = parse(['Fix', 'it', '--files', 'a.js']);
    expect(() => jobBody(split.values, split.positionals)).toThrow(/one task only.*"Fix", "it"/);
    const swallowed = parse(['--files', 'a.js', 'Fix it']);
    expect(swallowed.values.files).toEqual(['a.js', 'Fix it']);
    expect(() => jobBody(swallowed.values, swallowed.positionals)).toThrow(/task is missing.*before --files, or after --/);
    expect(() => jobBody({ lane: 'Marketing' }, ['t'])).toThrow(/--lane must be one of Code, Models, Data, DevSecOps, Docs/);
    expect(() => jobBody({ repo: '' }, ['t'])).toThrow(/--repo/);
  });
});
