/**
 * Whether a checkout's git settings leave `git add` nothing to do but hash the files as they are
 * on disk: no end-of-line conversion (`core.autocrlf`, `core.eol`), file modes and symlinks taken
 * as they are (`core.filemode`, `core.symlinks`), case kept (`core.ignorecase`), the worktree the
 * folder itself (`core.worktree`), and no attributes file outside the tree (`$GIT_DIR/info/attributes`,
 * `core.attributesFile` or its default, the system one) that could add filters or conversions.
 *
 * The settings are read once (`git config --list --show-origin`) and kept while every file they
 * can come from keeps its identity: the checkout's `.git/config` (a task may rewrite it), the
 * global and system files and the attributes files (also while they are missing: one may appear).
 * A configuration that includes other files (`include.*`, `includeIf.*`) is read again every time
 * (an included file may change without any of these changing).
 */
import os from 'node:os';
import path from 'node:path';
import { fileIdentity } from './file-identity.ts';
import { git } from './git-command.ts';

interface Settings {
  /** The files whose identities the answer holds for, and those identities joined. */
  files: string[];
  identity: string;
  ok: boolean;
  cacheable: boolean;
}

const known = new Map<string, Settings>();

/** git's boolean spelling (`core.filemode` with no value is true); undefined when it is not one. */
function gitBool(value: string | null): boolean | undefined {
  if (value === null) return true;
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'on'].includes(v)) return true;
  if (['false', 'no', 'off', ''].includes(v)) return false;
  return /^-?\d+$/.test(v) ? Number(v) !== 0 : undefined;
}

function home(): string {
  return process.env.HOME || os.homedir();
}

function xdgConfig(): string {
  return process.env.XDG_CONFIG_HOME || path.join(home(), '.config');
}

/** `~/` at the start of a configured path is the home folder, as git reads it. */
function expandHome(file: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(home(), file.slice(1)) : file;
}

function identityOf(files: readonly string[]): string {
  return files.map(fileIdentity).join('|');
}

/** Reads the settings of the checkout in `dir` (one git process). */
async function readSettings(dir: string): Promise<Settings> {
  const configFiles = [path.join(dir, '.git', 'config'), path.join(home(), '.gitconfig'), path.join(xdgConfig(), 'git', 'config'), '/etc/gitconfig'];
  // Taken before the read: a file changed while git reads it makes the next call read again.
  const configIdentity = identityOf(configFiles);
  const out = (await git(dir, ['config', '--list', '--show-origin', '-z'])).stdout.split('\0');
  const values = new Map<string, string | null>();
  let cacheable = true;
  for (let i = 0; i + 1 < out.length; i += 2) {
    const origin = out[i]!;
    const item = out[i + 1]!;
    // Any other file is an included one (GIT_CONFIG* never reaches git: see gitEnv).
    if (origin.startsWith('file:') && !configFiles.includes(path.resolve(dir, origin.slice(5)))) cacheable = false;
    const nl = item.indexOf('\n');
    const key = (nl < 0 ? item : item.slice(0, nl)).toLowerCase();
    // The last value given wins, as git reads it.
    values.set(key, nl < 0 ? null : item.slice(nl + 1));
    if (key.startsWith('include.') || key.startsWith('includeif.')) cacheable = false;
  }
  const attributesFile = values.get('core.attributesfile');
  const attributeFiles = [
    path.join(dir, '.git', 'info', 'attributes'),
    attributesFile ? expandHome(attributesFile) : path.join(xdgConfig(), 'git', 'attributes'),
    '/etc/gitattributes',
  ];
  const attributesIdentity = identityOf(attributeFiles);
  const has = (key: string) => values.has(key);
  const bool = (key: string) => gitBool(values.get(key) ?? null);
  const eol = values.get('core.eol')?.trim().toLowerCase();
  const ok =
    (!has('core.autocrlf') || bool('core.autocrlf') === false) &&
    (eol === undefined || eol === 'lf' || eol === 'native') &&
    (!has('core.filemode') || bool('core.filemode') === true) &&
    (!has('core.symlinks') || bool('core.symlinks') === true) &&
    (!has('core.ignorecase') || bool('core.ignorecase') === false) &&
    !has('core.worktree') &&
    // An attributes file outside the tree, even an empty one: not worth reading it to be sure.
    attributesIdentity.split('|').every((id) => id === '');
  return { files: [...configFiles, ...attributeFiles], identity: `${configIdentity}|${attributesIdentity}`, ok, cacheable };
}

/**
 * True when `git add` would stage the files of the checkout in `dir` byte for byte with the mode
 * and type they have on disk (as far as its settings go: `.gitattributes` in the tree are the
 * caller's to look for). Read once per checkout while its configuration files stay as they were.
 */
export async function settingsAllowInProcessStaging(dir: string): Promise<boolean> {
  const cached = known.get(dir);
  if (cached?.cacheable && identityOf(cached.files) === cached.identity) return cached.ok;
  const settings = await readSettings(dir);
  known.set(dir, settings);
  return settings.ok;
}
