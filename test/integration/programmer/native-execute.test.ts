/**
 * The native executor through `POST /execute` with the offline scripted model: the intended
 * change is committed on the task branch, and every way out of the worktree (a `..` path, an
 * absolute path, a symlink, look-alike unicode, a reply that names such a path, a denied file)
 * is refused with its coded error in `GET /status` while the file outside stays untouched.
 */
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createScriptedAdapter, type ScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { agentUrl, EDIT_REPLY, GREET, GREET_EDITED, http, programmerConfig, receiptOf, runTask } from './programmer-harness.ts';

const OUTSIDE = 'do not touch\n';

const block = (file: string, search: string, replace: string) => [file, '<<<<<<< SEARCH', ...(search ? [search] : []), '=======', replace, '>>>>>>> REPLACE'].join('\n');

describe('POST /execute through the native executor', () => {
  let tree: TestTree | undefined;
  let cfg: TempConfig | undefined;
  let fixture: TempRepo;
  let outside: string;
  let scripted: ScriptedAdapter;
  let prog: string;

  beforeEach(async () => {
    fixture = await createTempRepo({ 'src/greet.ts': GREET, 'README.md': '# demo\n' });
    outside = path.join(fixture.root, 'outside.txt');
    await writeFiles(fixture.root, { 'outside.txt': OUTSIDE });
    // A symlink committed inside the repository that leads to the file outside it.
    symlinkSync(outside, path.join(fixture.repo, 'src', 'link.txt'));
    await gitOut(fixture.repo, 'add', 'src/link.txt');
    await gitOut(fixture.repo, 'commit', '--quiet', '-m', 'a symlink out');
    scripted = createScriptedAdapter([
      { match: { contains: '[reply names ../outside.txt]' }, reply: block('../outside.txt', '', 'pwned') },
      { match: { contains: '[reply names the symlink]' }, reply: block('src/link.txt', 'do not touch', 'pwned') },
      { match: { contains: '[reply names an absolute path]' }, reply: block(outside, '', 'pwned') },
      { match: { contains: '[reply names .env]' }, reply: block('.env', '', 'SECRET=1') },
      { match: {}, reply: EDIT_REPLY, usage: { input: 120, output: 30 } },
    ]);
    cfg = programmerConfig({ programmers: [{ id: 'Prog-001', primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'ollama/qwen2.5-coder:14b-instruct' }] });
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices({ offline: true, scripted }) });
    prog = agentUrl(tree, 'Prog-001');
  });

  afterEach(async () => {
    await tree?.close();
    await fixture.cleanup();
    cfg?.cleanup();
    tree = cfg = undefined;
  });

  const head = () => gitOut(fixture.repo, 'rev-parse', 'HEAD');

  it('commits exactly the intended change on the task branch with a receipt of the scripted usage', async () => {
    const base = await head();
    const { task } = await runTask(prog, { task_id: 'n-1', instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: fixture.repo });
    expect(task.status).toBe('completed');
    const branch = 'pas/direct-Prog-001/n-1';
    expect(task.result).toMatchObject({ branch, usedBackup: false });
    expect(await gitOut(fixture.repo, 'rev-parse', `${branch}~1`)).toBe(base);
    expect(await gitOut(fixture.repo, 'diff', '--name-only', base, branch)).toBe('src/greet.ts');
    expect(await gitOut(fixture.repo, 'show', `${branch}:src/greet.ts`)).toBe(GREET_EDITED.trimEnd());
    expect(await gitOut(fixture.repo, 'diff', '--numstat', base, branch)).toBe('2\t1\tsrc/greet.ts');
    expect(receiptOf(tree!, 'n-1')).toMatchObject({
      provider: 'scripted',
      model: 'qwen2.5-coder:7b-instruct',
      used_backup: false,
      status: 'completed',
      tokens: { input: 120, output: 30 },
      cost_usd: 0,
      kpi: { files_changed: 1, lines_added: 2, lines_removed: 1 },
    });
    expect(readFileSync(outside, 'utf8')).toBe(OUTSIDE);
  });

  const ESCAPES: Array<{ name: string; files: string[]; instruction?: string; code: string; modelCalled: boolean }> = [
    { name: 'a ".." path in files', files: ['../outside.txt'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'a deeper ".." path in files', files: ['src/../../outside.txt'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'an absolute path in files', files: ['<outside>'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'a symlink in the repository that leads outside', files: ['src/link.txt'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'fullwidth look-alike dots', files: ['\uFF0E\uFF0E/outside.txt'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'a two-dot leader', files: ['\u2025/outside.txt'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'a right-to-left override', files: ['src/\u202Etxt.greet'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'a decomposed (non-NFC) name', files: ['src/cafe\u0301.ts'], code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: false },
    { name: 'a file the allowlist denies', files: ['.env'], code: 'PAS_ERR_FS_NOT_ALLOWED', modelCalled: false },
    { name: 'a reply that names ../outside.txt', files: ['src/greet.ts'], instruction: '[reply names ../outside.txt]', code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: true },
    { name: 'a reply that edits through the symlink', files: ['src/greet.ts'], instruction: '[reply names the symlink]', code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: true },
    { name: 'a reply that names an absolute path', files: ['src/greet.ts'], instruction: '[reply names an absolute path]', code: 'PAS_ERR_FS_PATH_ESCAPE', modelCalled: true },
    { name: 'a reply that writes .env', files: ['src/greet.ts'], instruction: '[reply names .env]', code: 'PAS_ERR_FS_NOT_ALLOWED', modelCalled: true },
  ];

  it.each(ESCAPES)('refuses $name with $code and leaves the outside file untouched', async (c) => {
    const files = c.files.map((f) => (f === '<outside>' ? outside : f));
    const taskId = 'esc-1';
    const { task } = await runTask(prog, { task_id: taskId, instruction: c.instruction ?? 'Edit the file.', files, repo: fixture.repo });
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe(c.code);
    expect(task.result.error.code).toBe(c.code);
    expect(task.result.branch).toBeUndefined();
    expect(scripted.calls.length).toBe(c.modelCalled ? 1 : 0);

    expect(readFileSync(outside, 'utf8')).toBe(OUTSIDE);
    expect(readdirSync(fixture.root).sort()).toEqual(['outside.txt', 'repo']);
    expect(await gitOut(fixture.repo, 'branch', '--list', `pas/direct-Prog-001/${taskId}`)).toBe('');
    expect(await gitOut(fixture.repo, 'status', '--porcelain')).toBe('');
    // Nothing landed beside the task's worktree either.
    const jobDir = path.join(tree!.dataDir, 'workspaces', 'direct-Prog-001');
    expect(existsSync(path.join(jobDir, 'outside.txt'))).toBe(false);
    expect(existsSync(path.join(tree!.dataDir, 'workspaces', 'outside.txt'))).toBe(false);

    const receipt = receiptOf(tree!, taskId);
    expect(receipt).toMatchObject({ status: 'failed', error: { code: c.code }, kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 } });
  });

  it('answers GET /status of an unknown task with 404 in the error shape', async () => {
    const answer = await http(`${prog}/status/no-such-task`);
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({ error: { code: 'PAS_ERR_TASK_NOT_FOUND', message: expect.stringContaining('no-such-task'), details: { field: 'task_id' } } });
    const viaGateway = await http(`${tree!.url}/agents/Prog-001/status/no-such-task`);
    expect(viaGateway.status).toBe(404);
    expect(viaGateway.body.error.code).toBe('PAS_ERR_TASK_NOT_FOUND');
  });
});
