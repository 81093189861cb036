import { describe, expect, it } from 'vitest';
import { applyEditBlocks, parseEditBlocks } from '../../../src/executors/search-replace.ts';
import { buildEditPrompt } from '../../../src/executors/native-executor.ts';
import { createScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import { editPromptFiles, OfflineAdapter, offlineNoteFor, OFFLINE_NOTE_PREFIX } from '../../../src/llm/providers/offline-adapter.ts';
import { parsePlan, planPrompt } from '../../../src/runtime/planner.ts';

const job = { id: 'J1', task: 'Add input validation', files: ['src/a.ts', 'tools/run.py', 'data/c.json'] };

describe('the offline model', () => {
  it('plans any job as one subtask per named file, a plan the Manager accepts', async () => {
    const adapter = new OfflineAdapter(undefined);
    const reply = await adapter.chat('scripted', { messages: planPrompt(job as never, 10), meta: { purpose: 'plan' } });
    const plan = parsePlan(job as never, reply.text);
    expect('subtasks' in plan && plan.subtasks.map((s) => s.files)).toEqual([['src/a.ts'], ['tools/run.py'], ['data/c.json']]);
    expect(reply.usage).toEqual({ input: 0, output: 0 });
  });

  it('plans a job that names no files as one subtask on PAS_OFFLINE.md', async () => {
    const reply = await new OfflineAdapter(undefined).chat('scripted', { messages: planPrompt({ id: 'J2', task: 'Do it' } as never, 10), meta: { purpose: 'plan' } });
    expect(JSON.parse(reply.text)).toEqual({ subtasks: [{ instruction: 'Do it', files: ['PAS_OFFLINE.md'], creates: ['PAS_OFFLINE.md'] }] });
  });

  it('edits by appending one visible note per file in its own comment syntax, as SEARCH/REPLACE blocks that apply', async () => {
    const files = new Map<string, string | null>([
      ['src/a.ts', 'export const a = 1;\n'],
      ['tools/run.py', "print('```')\n"],
      ['data/c.json', '{"x": 1}\n'],
      ['docs/new.md', null],
    ]);
    const prompt = buildEditPrompt('Add input validation', files, new Map([['src/b.ts', 'export const b = 2;\n']]));
    expect(prompt).toContain('Read-only context');
    // The read-only neighbour is not edited.
    expect(editPromptFiles(prompt)).toEqual(['src/a.ts', 'tools/run.py', 'data/c.json', 'docs/new.md']);
    const reply = await new OfflineAdapter(undefined).chat('scripted', { messages: [{ role: 'user', content: prompt }], meta: { purpose: 'edit' } });
    const blocks = parseEditBlocks(reply.text);
    const applied = applyEditBlocks(new Map([...files, ['data/PAS_OFFLINE.md', null]]), blocks);
    expect(applied.files.get('src/a.ts')).toBe(`export const a = 1;\n// ${OFFLINE_NOTE_PREFIX} Add input validation\n`);
    expect(applied.files.get('tools/run.py')).toBe(`print('\`\`\`')\n# ${OFFLINE_NOTE_PREFIX} Add input validation\n`);
    // JSON has no comments: the note goes beside it, the file stays valid.
    expect(applied.files.has('data/c.json')).toBe(false);
    expect(applied.files.get('data/PAS_OFFLINE.md')).toContain(`${OFFLINE_NOTE_PREFIX} Add input validation (for data/c.json)`);
    expect(applied.files.get('docs/new.md')).toContain(`> ${OFFLINE_NOTE_PREFIX} Add input validation`);
  });

  it('lets the cassette answer what it knows and synthesizes only the rest', async () => {
    const cassette = createScriptedAdapter([{ match: { purpose: 'route' }, reply: 'Docs' }]);
    const adapter = new OfflineAdapter(cassette);
    expect((await adapter.chat('scripted', { messages: [{ role: 'user', content: 'ROUTE JOB x' }], meta: { purpose: 'route' } })).text).toBe('Docs');
    expect((await new OfflineAdapter(undefined).chat('scripted', { messages: [{ role: 'user', content: 'ROUTE JOB x' }], meta: { purpose: 'route' } })).text).toBe('Code');
    await expect(adapter.chat('scripted', { messages: [{ role: 'user', content: 'chat' }], meta: { purpose: 'chat' } })).rejects.toMatchObject({ code: 'PAS_ERR_LLM_CASSETTE' });
    // A correction after a cassette edit that did not apply stays the cassette's failure.
    await expect(adapter.chat('scripted', { messages: [{ role: 'user', content: 'Task: x\n\na.js\n```\nx\n```' }], meta: { purpose: 'edit.retry' } })).rejects.toMatchObject({ code: 'PAS_ERR_LLM_CASSETTE' });
  });

  it('writes notes in the comment syntax of common languages, and none for formats without comments', () => {
    expect(offlineNoteFor('a.css', 't')).toBe(`/* ${OFFLINE_NOTE_PREFIX} t */`);
    expect(offlineNoteFor('index.html', 't')).toBe(`<!-- ${OFFLINE_NOTE_PREFIX} t -->`);
    expect(offlineNoteFor('Makefile', 't')).toBe(`# ${OFFLINE_NOTE_PREFIX} t`);
    expect(offlineNoteFor('q.sql', 't')).toBe(`-- ${OFFLINE_NOTE_PREFIX} t`);
    expect(offlineNoteFor('package.json', 't')).toBeNull();
    expect(offlineNoteFor('image.png', 't')).toBeNull();
  });
});
