/**
 * A checkout's tree staged in-process from the list of paths that changed (stageChanges) is the
 * tree `git add --all && git write-tree` gives for the same checkout, over every kind of change a
 * task makes: edits, new files in old and new folders, deletions, modes, symlinks, type changes,
 * ignored files by every rule git has, empty folders, names with spaces and accents. Whatever
 * could make git stage something else (attributes, end-of-line or mode settings, an index that is
 * not the base, a nested repository, a name git refuses) answers null, and checkoutTree then asks
 * git. When only tracked files changed no git process starts at all.
 */
import { chmod, lstat, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { changedPaths } from '../../../src/executors/checkout-changes.ts';
import { checkoutFor, checkoutTree, type CheckoutLease } from '../../../src/executors/checkouts.ts';
import { fileIdentity } from '../../../src/executors/file-identity.ts';
import { git, gitProcessCount } from '../../../src/executors/git-command.ts';
import { diffTrees, kpiOf } from '../../../src/executors/object-commit.ts';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { stageChanges } from '../../../src/executors/stage-changes.ts';
import { seededRng } from '../../support/seeded-rng.ts';
import { createTempRepo, filesIn, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const BASE_FILES: Record<string, string> = {
  '.gitignore': '*.log\nbuild/\n!keep.log\nnode_modules/\n',
  'README.md': '# r\n',
  'a.txt': 'a\n',
  'run.sh': '#!/bin/sh\necho run\n',
  'with space.txt': 'spaced\n',
  'src/main.ts': 'main\n',
  'src/util/x.ts': 'x\n',
  'src/util/y.ts': 'y\n',
  'lonely/only.txt': 'only\n',
  'pkg/.gitignore': 'secret*\n',
  'pkg/index.ts': 'index\n',
};

/** The fixture repository, with an executable and a symlink committed too; base = that commit. */
async function baseRepo(): Promise<TempRepo> {
  const f = await createTempRepo(BASE_FILES);
  await chmod(path.join(f.repo, 'run.sh'), 0o755);
  await symlink('README.md', path.join(f.repo, 'link'));
  await writeFiles(f.repo, { 'tracked.log': 'tracked though ignored\n' });
  await gitOut(f.repo, 'add', '--all');
  await gitOut(f.repo, 'add', '--force', 'tracked.log');
  await gitOut(f.repo, 'commit', '--quiet', '-m', 'modes and a symlink');
  f.base = await gitOut(f.repo, 'rev-parse', 'HEAD');
  return f;
}

interface Scenario {
  name: string;
  /** What the task does in its checkout. */
  act: (dir: string) => Promise<void>;
  /** The outermost changed paths, as a tracker reports them. */
  changed: string[];
}

const SCENARIOS: Scenario[] = [
  { name: 'a tracked file modified', changed: ['README.md'], act: (d) => writeFile(path.join(d, 'README.md'), '# changed\n') },
  { name: 'a tracked file rewritten with the same bytes', changed: ['a.txt'], act: (d) => writeFile(path.join(d, 'a.txt'), 'a\n') },
  { name: 'a file created in an existing folder', changed: ['src/new.ts'], act: (d) => writeFiles(d, { 'src/new.ts': 'new\n' }) },
  { name: 'files created in new nested folders', changed: ['fresh'], act: (d) => writeFiles(d, { 'fresh/a/b.ts': 'b\n', 'fresh/c.ts': 'c\n' }) },
  { name: 'a tracked file deleted', changed: ['src/util/x.ts'], act: (d) => rm(path.join(d, 'src/util/x.ts')) },
  { name: 'the last file of a folder deleted (the folder goes)', changed: ['lonely/only.txt'], act: (d) => rm(path.join(d, 'lonely/only.txt')) },
  { name: 'a tracked folder deleted whole', changed: ['src/util'], act: (d) => rm(path.join(d, 'src/util'), { recursive: true }) },
  { name: 'an executable bit set', changed: ['a.txt'], act: (d) => chmod(path.join(d, 'a.txt'), 0o755) },
  { name: 'an executable bit removed', changed: ['run.sh'], act: (d) => chmod(path.join(d, 'run.sh'), 0o644) },
  { name: 'a symlink created', changed: ['newlink'], act: (d) => symlink('a.txt', path.join(d, 'newlink')) },
  {
    name: 'a symlink retargeted',
    changed: ['link'],
    act: async (d) => {
      await rm(path.join(d, 'link'));
      await symlink('src/main.ts', path.join(d, 'link'));
    },
  },
  {
    name: 'a symlink replaced by a file',
    changed: ['link'],
    act: async (d) => {
      await rm(path.join(d, 'link'));
      await writeFile(path.join(d, 'link'), 'now a file\n');
    },
  },
  {
    name: 'a file replaced by a symlink',
    changed: ['a.txt'],
    act: async (d) => {
      await rm(path.join(d, 'a.txt'));
      await symlink('/etc/hostname', path.join(d, 'a.txt'));
    },
  },
  {
    name: 'a file replaced by a folder',
    changed: ['a.txt'],
    act: async (d) => {
      await rm(path.join(d, 'a.txt'));
      await writeFiles(d, { 'a.txt/inner.txt': 'inner\n', 'a.txt/skip.log': 'ignored\n' });
    },
  },
  {
    name: 'a folder replaced by a file',
    changed: ['src/util'],
    act: async (d) => {
      await rm(path.join(d, 'src/util'), { recursive: true });
      await writeFile(path.join(d, 'src/util'), 'a file where a folder was\n');
    },
  },
  {
    name: 'a folder renamed',
    changed: ['src/util', 'src/tools'],
    act: (d) => rename(path.join(d, 'src/util'), path.join(d, 'src/tools')),
  },
  { name: 'a tracked file that the ignore rules match, modified', changed: ['tracked.log'], act: (d) => writeFile(path.join(d, 'tracked.log'), 'changed\n') },
  { name: 'an ignored file at the root', changed: ['debug.log'], act: (d) => writeFiles(d, { 'debug.log': 'ignored\n' }) },
  { name: 'a file kept by a negation', changed: ['keep.log', 'other.log'], act: (d) => writeFiles(d, { 'keep.log': 'kept\n', 'other.log': 'ignored\n' }) },
  { name: 'an ignored folder', changed: ['build'], act: (d) => writeFiles(d, { 'build/out.js': 'out\n' }) },
  {
    name: 'a nested .gitignore ignoring one file and not another',
    changed: ['pkg/secret.txt', 'pkg/ok.txt', 'pkg/deep'],
    act: (d) => writeFiles(d, { 'pkg/secret.txt': 's\n', 'pkg/ok.txt': 'ok\n', 'pkg/deep/secret2': 's\n', 'pkg/deep/fine.ts': 'f\n' }),
  },
  {
    name: 'a file excluded by info/exclude',
    changed: ['excluded.txt', 'included.txt'],
    act: async (d) => {
      await writeFile(path.join(d, '.git', 'info', 'exclude'), 'excluded.txt\n');
      await writeFiles(d, { 'excluded.txt': 'e\n', 'included.txt': 'i\n' });
    },
  },
  { name: 'a new folder holding only ignored files', changed: ['logs'], act: (d) => writeFiles(d, { 'logs/a.log': 'a\n', 'logs/deeper/b.log': 'b\n' }) },
  {
    name: 'empty folders, new and in a tracked folder',
    changed: ['empty', 'src/empty'],
    act: async (d) => {
      await mkdir(path.join(d, 'empty/inner'), { recursive: true });
      await mkdir(path.join(d, 'src/empty'));
    },
  },
  {
    name: 'names with spaces and accents',
    changed: ['with space.txt', 'dossier é', 'naïve file.md'],
    act: (d) => writeFiles(d, { 'with space.txt': 'changed\n', 'dossier é/fichier ü.txt': 'ü\n', 'naïve file.md': 'n\n' }),
  },
  {
    name: 'the .gitignore itself changed, un-ignoring a file',
    changed: ['.gitignore', 'debug.log'],
    act: (d) => writeFiles(d, { '.gitignore': 'build/\n', 'debug.log': 'now staged\n' }),
  },
  {
    name: 'a tracked folder listed whole after several changes inside',
    changed: ['src'],
    act: async (d) => {
      await writeFiles(d, { 'src/main.ts': 'main 2\n', 'src/util/z.ts': 'z\n', 'src/trace.log': 'ignored\n', 'src/newdir/n.ts': 'n\n' });
      await rm(path.join(d, 'src/util/y.ts'));
      await chmod(path.join(d, 'src/util/x.ts'), 0o755);
      await mkdir(path.join(d, 'src/void'));
    },
  },
  {
    name: 'a huge ignored folder',
    changed: ['node_modules'],
    act: async (d) => {
      for (let i = 0; i < 40; i++) await writeFiles(d, Object.fromEntries(Array.from({ length: 50 }, (_, j) => [`node_modules/p${i}/f${j}.js`, `${i} ${j}\n`])));
    },
  },
  { name: 'nothing at all', changed: [], act: async () => undefined },
];

/** git's tree for the checkout as it is: `git add --all && git write-tree` (the checkout is reset by the next lease). */
async function gitsTree(dir: string): Promise<string> {
  await git(dir, ['add', '--all']);
  return (await git(dir, ['write-tree'])).stdout.trim();
}

/** git's numstat between two trees, as a Kpi. */
async function gitNumstat(repo: string, a: string, b: string) {
  const lines = (await gitOut(repo, 'diff', '--numstat', '--no-renames', a, b)).split('\n').filter(Boolean);
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    const [x, y] = line.split('\t');
    added += x === '-' ? 0 : Number(x);
    removed += y === '-' ? 0 : Number(y);
  }
  return { files_changed: lines.length, lines_added: added, lines_removed: removed };
}

async function lease(f: TempRepo, programmerId = 'Prog-001'): Promise<CheckoutLease> {
  return checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId, baseCommit: f.base });
}

describe('staging a checkout from its changed paths', () => {
  it('writes the tree git add --all && git write-tree writes, with git’s numstat, for every kind of change a task makes', async () => {
    const f = (fixture = await baseRepo());
    const store = await objectStoreFor(f.repo);
    const baseTree = await store.commitTree(f.base);
    for (const scenario of SCENARIOS) {
      const held = await lease(f);
      try {
        await scenario.act(held.path);
        const index = await fileIdentity(path.join(held.path, '.git', 'index'));
        const mine = await stageChanges(held.path, store, baseTree, scenario.changed);
        // The index is left as it was (the base's).
        expect(await fileIdentity(path.join(held.path, '.git', 'index')), scenario.name).toBe(index);
        const theirs = await gitsTree(held.path);
        expect(mine, scenario.name).toBe(theirs);
        // Every object it names is in the repository, and the KPIs are git's.
        await git(f.repo, ['ls-tree', '-r', '-t', mine!]);
        expect(kpiOf(await diffTrees(store, baseTree, mine)), scenario.name).toEqual(await gitNumstat(f.repo, baseTree, mine!));
      } finally {
        await git(held.path, ['reset', '--quiet']);
        held.release();
      }
    }
    await git(f.repo, ['fsck', '--no-dangling', '--strict']);
  });

  it('writes git’s tree over random changes, the list being the outermost paths each change touched', async () => {
    const f = (fixture = await baseRepo());
    const store = await objectStoreFor(f.repo);
    const baseTree = await store.commitTree(f.base);
    const names = ['a.txt', 'README.md', 'src/main.ts', 'src/util/x.ts', 'src/util', 'src/new.ts', 'n/e/w.ts', 'debug.log', 'build/o.js', 'pkg/secret.txt', 'pkg/ok.ts', 'link', 'tracked.log', 'keep.log', 'lonely/only.txt', 'lonely', 'src', 'a.txt/in.ts', 'run.sh'];
    const exists = (p: string) => lstat(p).then(() => true, () => false);
    for (let seed = 1; seed <= 40; seed++) {
      const pick = seededRng(seed).int;
      const held = await lease(f);
      try {
        const dir = held.path;
        const touched: string[] = [];
        for (let i = 0; i < 1 + pick(5); i++) {
          const rel = names[pick(names.length)]!;
          const full = path.join(dir, rel);
          // The topmost folder this change makes (a tracker hears that one), else the path itself.
          const segments = rel.split('/');
          let heard = rel;
          for (let k = 1; k < segments.length; k++) {
            if (!(await exists(path.join(dir, ...segments.slice(0, k))))) {
              heard = segments.slice(0, k).join('/');
              break;
            }
          }
          const kind = pick(4);
          try {
            if (kind === 0) await rm(full, { recursive: true, force: true });
            else if (kind === 1) {
              await mkdir(path.dirname(full), { recursive: true });
              await rm(full, { recursive: true, force: true });
              await writeFile(full, `seed ${seed} ${i}\n`);
            } else if (kind === 2) await chmod(full, pick(2) ? 0o755 : 0o644);
            else {
              await mkdir(path.dirname(full), { recursive: true });
              await rm(full, { recursive: true, force: true });
              await symlink(pick(2) ? 'README.md' : 'src', full);
            }
          } catch {
            // A change that could not be made (a file where a folder was asked for) touched nothing.
            continue;
          }
          touched.push(heard);
        }
        const mine = await stageChanges(dir, store, baseTree, touched);
        expect(mine, `seed ${seed}: ${touched.join(', ')}`).toBe(await gitsTree(dir));
      } finally {
        await git(held.path, ['reset', '--quiet']);
        held.release();
      }
    }
  });

  it('starts no git process when only tracked files changed, and one when new paths appeared', async () => {
    const f = (fixture = await baseRepo());
    const store = await objectStoreFor(f.repo);
    const baseTree = await store.commitTree(f.base);
    // The first staging in a checkout reads its settings once.
    let held = await lease(f);
    expect(await stageChanges(held.path, store, baseTree, [])).toBe(baseTree);
    held.release();
    for (const scenario of SCENARIOS.filter((s) => ['a tracked file modified', 'a tracked file deleted', 'an executable bit set', 'a symlink retargeted', 'a tracked folder deleted whole'].includes(s.name))) {
      held = await lease(f);
      await scenario.act(held.path);
      const before = gitProcessCount();
      const tree = await stageChanges(held.path, store, baseTree, scenario.changed);
      expect(gitProcessCount() - before, scenario.name).toBe(0);
      expect(tree, scenario.name).toBe(await gitsTree(held.path));
      await git(held.path, ['reset', '--quiet']);
      held.release();
    }
    // A task's own `git status` rewrites the index (refreshed, same entries): read again in-process, still no git process.
    held = await lease(f);
    await writeFile(path.join(held.path, 'README.md'), 'after a status\n');
    await git(held.path, ['status', '--porcelain']);
    let before = gitProcessCount();
    const afterStatus = await stageChanges(held.path, store, baseTree, ['README.md']);
    expect(gitProcessCount() - before).toBe(0);
    expect(afterStatus).toBe(await gitsTree(held.path));
    await git(held.path, ['reset', '--quiet']);
    held.release();
    held = await lease(f);
    await writeFiles(held.path, { 'src/new.ts': 'new\n', 'README.md': 'changed\n' });
    before = gitProcessCount();
    expect(await stageChanges(held.path, store, baseTree, ['src/new.ts', 'README.md'])).not.toBeNull();
    expect(gitProcessCount() - before).toBe(1);
    held.release();
  });

  it('answers null, and checkoutTree stages with git, when attributes or settings could change what git stages', async () => {
    const f = (fixture = await baseRepo());
    const store = await objectStoreFor(f.repo);
    const baseTree = await store.commitTree(f.base);
    const cases: Array<{ name: string; act: (dir: string) => Promise<void>; changed: string[]; undo?: (dir: string) => Promise<void> }> = [
      { name: 'a .gitattributes written by the task', changed: ['.gitattributes', 'a.txt'], act: (d) => writeFiles(d, { '.gitattributes': '*.txt text eol=crlf\n', 'a.txt': 'x\r\n' }) },
      { name: 'a .gitattributes in a new folder', changed: ['fresh'], act: (d) => writeFiles(d, { 'fresh/.gitattributes': '* -text\n', 'fresh/f.txt': 'f\n' }) },
      { name: 'core.autocrlf=true', changed: ['a.txt'], act: async (d) => { await git(d, ['config', 'core.autocrlf', 'true']); await writeFile(path.join(d, 'a.txt'), 'crlf\r\n'); }, undo: (d) => git(d, ['config', '--unset', 'core.autocrlf'], { okCodes: [5] }).then(() => undefined) },
      { name: 'core.eol=crlf', changed: ['a.txt'], act: async (d) => { await git(d, ['config', 'core.eol', 'crlf']); await writeFile(path.join(d, 'a.txt'), 'eol\n'); }, undo: (d) => git(d, ['config', '--unset', 'core.eol'], { okCodes: [5] }).then(() => undefined) },
      { name: 'core.filemode=false', changed: ['run.sh'], act: async (d) => { await git(d, ['config', 'core.filemode', 'false']); await chmod(path.join(d, 'run.sh'), 0o644); }, undo: (d) => git(d, ['config', 'core.filemode', 'true']).then(() => undefined) },
      { name: 'core.symlinks=false', changed: ['link'], act: async (d) => { await git(d, ['config', 'core.symlinks', 'false']); }, undo: (d) => git(d, ['config', '--unset', 'core.symlinks'], { okCodes: [5] }).then(() => undefined) },
      { name: '$GIT_DIR/info/attributes', changed: ['a.txt'], act: async (d) => { await writeFile(path.join(d, '.git', 'info', 'attributes'), '*.txt text\n'); await writeFile(path.join(d, 'a.txt'), 'x\r\n'); }, undo: (d) => rm(path.join(d, '.git', 'info', 'attributes'), { force: true }) },
      { name: 'an index the task changed (git add -f of an ignored file)', changed: ['forced.log'], act: async (d) => { await writeFiles(d, { 'forced.log': 'forced\n' }); await git(d, ['add', '-f', 'forced.log']); } },
      { name: 'an entry marked assume-unchanged, then edited', changed: ['a.txt'], act: async (d) => { await git(d, ['update-index', '--assume-unchanged', 'a.txt']); await writeFile(path.join(d, 'a.txt'), 'hidden from git\n'); }, undo: (d) => git(d, ['update-index', '--no-assume-unchanged', 'a.txt']).then(() => undefined) },
      { name: 'an entry marked skip-worktree, then edited', changed: ['a.txt'], act: async (d) => { await git(d, ['update-index', '--skip-worktree', 'a.txt']); await writeFile(path.join(d, 'a.txt'), 'hidden from git\n'); }, undo: (d) => git(d, ['update-index', '--no-skip-worktree', 'a.txt']).then(() => undefined) },
      { name: 'a nested repository', changed: ['nested'], act: async (d) => { await writeFiles(d, { 'nested/n.txt': 'n\n' }); await gitOut(path.join(d, 'nested'), 'init', '--quiet'); await gitOut(path.join(d, 'nested'), 'add', '--all'); await gitOut(path.join(d, 'nested'), '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'n'); } },
      { name: 'a .git inside a listed path', changed: ['sub/.git'], act: (d) => writeFiles(d, { 'sub/.git': 'gitdir: /nowhere\n' }) },
    ];
    for (const c of cases) {
      const held = await lease(f);
      try {
        await c.act(held.path);
        expect(await stageChanges(held.path, store, baseTree, c.changed), c.name).toBeNull();
        // The whole path gives git's answer under the checkout's git files as PAS made them
        // (checkoutTree writes them back first: a setting or info/attributes of the task's does not apply).
        const tree = await checkoutTree(held.path, store, baseTree, c.changed);
        await git(held.path, ['add', '--all']);
        expect(tree, c.name).toBe((await git(held.path, ['write-tree'])).stdout.trim());
        // Put back (the settings are read again once their file changed): staging works again.
        if (c.undo) {
          await c.undo(held.path);
          await git(held.path, ['reset', '--quiet']);
          expect(await stageChanges(held.path, store, baseTree, c.changed), `${c.name}, undone`).toBe(await gitsTree(held.path));
        }
      } finally {
        held.release();
      }
    }
    // A .gitattributes in the base on a changed path's folders: null for that folder, not for another.
    await writeFiles(f.repo, { 'attr/.gitattributes': '*.txt text eol=crlf\n', 'attr/t.txt': 't\n' });
    await gitOut(f.repo, 'add', '--all');
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'attributes in a folder');
    const withAttributes = { ...f, base: await gitOut(f.repo, 'rev-parse', 'HEAD') };
    const attrTree = await store.commitTree(withAttributes.base);
    const held = await lease(withAttributes);
    await writeFiles(held.path, { 'attr/t.txt': 'changed\r\n', 'README.md': 'changed\n' });
    expect(await stageChanges(held.path, store, attrTree, ['attr/t.txt'])).toBeNull();
    expect(await stageChanges(held.path, store, attrTree, ['README.md'])).not.toBeNull();
    held.release();
  });

  it('answers null for a listed path under a submodule of the base, and for a list that cannot be the outermost changes', async () => {
    const f = (fixture = await baseRepo());
    const commit = f.base;
    await gitOut(f.repo, 'update-index', '--add', '--cacheinfo', `160000,${commit},mod`);
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'a submodule');
    const withModule = { ...f, base: await gitOut(f.repo, 'rev-parse', 'HEAD') };
    const store = await objectStoreFor(f.repo);
    const baseTree = await store.commitTree(withModule.base);
    const held = await lease(withModule);
    try {
      await mkdir(path.join(held.path, 'mod'), { recursive: true });
      await writeFiles(held.path, { 'mod/x.txt': 'x\n' });
      expect(await stageChanges(held.path, store, baseTree, ['mod'])).toBeNull();
      expect(await stageChanges(held.path, store, baseTree, ['mod/x.txt'])).toBeNull();
      // A path under a folder that is a file on disk, or under a path the base does not have.
      expect(await stageChanges(held.path, store, baseTree, ['a.txt/x'])).toBeNull();
      expect(await stageChanges(held.path, store, baseTree, ['nowhere/x'])).toBeNull();
      // A listed path below a folder of the base that is now a symlink to a folder.
      await rename(path.join(held.path, 'src'), path.join(held.path, 'elsewhere'));
      await symlink('elsewhere', path.join(held.path, 'src'));
      expect(await stageChanges(held.path, store, baseTree, ['src/util/x.ts'])).toBeNull();
      expect(await stageChanges(held.path, store, baseTree, ['../escape'])).toBeNull();
    } finally {
      held.release();
    }
  });

  it('restores a checkout staged in-process by its changed paths at the next task (no full reset, no git process), with nothing of the task left', async () => {
    const f = (fixture = await baseRepo());
    const store = await objectStoreFor(f.repo);
    const baseTree = await store.commitTree(f.base);
    const held = await lease(f);
    await writeFiles(held.path, { 'README.md': 'changed\n', 'src/new.ts': 'new\n', 'fresh/deep/f.ts': 'f\n', 'debug.log': 'ignored\n' });
    await rm(path.join(held.path, 'src/util'), { recursive: true });
    await writeFile(path.join(held.path, 'src/util'), 'a file where a folder was\n');
    await rm(path.join(held.path, 'a.txt'));
    await writeFiles(held.path, { 'a.txt/inner.txt': 'a folder where a file was\n' });
    await chmod(path.join(held.path, 'run.sh'), 0o644);
    const changed = ['README.md', 'src/new.ts', 'fresh', 'debug.log', 'src/util', 'a.txt', 'run.sh'];
    // What the checkout's watches heard is that list.
    expect((await changedPaths(held.path))?.sort()).toEqual([...changed].sort());
    const before = gitProcessCount();
    const tree = await checkoutTree(held.path, store, baseTree, changed);
    // Staged in-process: one ls-files for the new paths, no git add (the checkout's settings were read when it was reset).
    expect(gitProcessCount() - before).toBe(1);
    expect(tree).not.toBe(baseTree);
    held.release();
    const reflog = path.join(held.path, '.git', 'logs', 'HEAD');
    const resets = (await readFile(reflog, 'utf8')).split('\n').filter(Boolean).length;
    const restoreFrom = gitProcessCount();
    const next = await lease(f);
    // Restored by paths in-process (the index stayed the base's): no git process, no reset --hard.
    expect(gitProcessCount() - restoreFrom).toBe(0);
    expect((await readFile(reflog, 'utf8')).split('\n').filter(Boolean).length).toBe(resets);
    expect(await gitOut(next.path, 'status', '--porcelain', '--ignored', '--untracked-files=all')).toBe('');
    expect(await filesIn(next.path)).toEqual([...Object.keys(BASE_FILES), 'link', 'tracked.log'].sort());
    expect(await gitOut(next.path, 'write-tree')).toBe(baseTree);
    next.release();
  });
});


