/**
 * Start-up checks of what the command line and pas.yaml ask for, before anything is opened: every
 * port stays ≤ 65535 after `--port-offset`, and the data dir is a folder PAS can create and write.
 * A failure is a coded error naming the option or the file and key (the CLI exits 2), never a
 * raw RangeError or ENOTDIR stack — and never a hang: Node's recursive mkdir spins for ever
 * under /proc, so the missing folders are made one at a time.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveDataDir, type PasConfig } from '../config/load-config.ts';
import { CONFIG_FILES } from '../config/schemas.ts';
import { PasError } from '../errors.ts';

const MAX_PORT = 65_535;

/** Where a setting came from, as the error names it: `--data-dir` or `<dir>/pas.yaml: runtime.data_dir`. */
export interface SettingSource {
  option?: string;
  file?: string;
  key?: string;
}

function where(source: SettingSource): string {
  return source.option ?? `${source.file}: ${source.key}`;
}

function startupError(source: SettingSource, message: string, details: Record<string, unknown> = {}): PasError {
  const text = `${where(source)}: ${message}`;
  // A command-line option is bad input (400); a config value is a config error. Both exit 2.
  return source.option
    ? new PasError('PAS_ERR_BAD_REQUEST', text, { details: { option: source.option, ...details } })
    : new PasError('PAS_ERR_CONFIG_INVALID', text, { details: { issues: [{ file: source.file, path: source.key, message }], ...details } });
}

/** Every port of the tree (gateway and agents) with its owner, before the offset. */
export function configuredPorts(config: PasConfig): Array<{ owner: string; port: number }> {
  return [
    { owner: 'the gateway', port: config.pas.gateway.port },
    { owner: config.pas.architect.agent_id, port: config.pas.architect.port },
    ...config.pas.directors.map((d) => ({ owner: d.agent_id, port: d.port })),
    ...config.pas.managers.map((m) => ({ owner: m.agent_id, port: m.port })),
    ...config.programmers.map((p) => ({ owner: p.id, port: p.port })),
  ];
}

export function checkPortOffset(config: PasConfig, offset: number): void {
  const highest = configuredPorts(config).reduce((a, b) => (b.port > a.port ? b : a));
  if (highest.port + offset <= MAX_PORT) return;
  throw startupError({ option: '--port-offset' }, `${offset} puts ${highest.owner} on port ${highest.port + offset}, above ${MAX_PORT}; with these configs the offset can be at most ${MAX_PORT - highest.port}`, {
    offset,
    max_offset: MAX_PORT - highest.port,
  });
}

/** The data dir from `--data-dir` or pas.yaml, as an absolute folder that exists and takes files. */
export function prepareDataDir(config: PasConfig, fromOption?: string): string {
  const source: SettingSource = fromOption !== undefined ? { option: '--data-dir' } : { file: path.join(config.dir, CONFIG_FILES.pas.file), key: 'runtime.data_dir' };
  const dir = fromOption !== undefined ? path.resolve(fromOption) : resolveDataDir(config);
  const missing: string[] = [];
  let existing = dir;
  for (;;) {
    try {
      const info = statSync(existing);
      if (!info.isDirectory()) throw startupError(source, `${existing} is a file, not a folder (data dir ${dir})`, { data_dir: dir });
      break;
    } catch (err) {
      if (err instanceof PasError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw startupError(source, `cannot use ${dir} as the data dir (${code}: ${(err as Error).message})`, { data_dir: dir });
      missing.unshift(existing);
      const parent = path.dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw startupError(source, `cannot create the data dir ${dir}: ${folder} (${code})`, { data_dir: dir });
    }
  }
  const probe = path.join(dir, `.pas-write-check-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (err) {
    throw startupError(source, `cannot write in the data dir ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { data_dir: dir });
  }
  return dir;
}
