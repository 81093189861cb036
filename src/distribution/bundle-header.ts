/**
 * The header of a git bundle (`# v2 git bundle` / `# v3 git bundle`): the commits it needs the
 * receiver to have (prerequisites) and the refs it carries. Read from the bytes, before git runs.
 */
import { PasError } from '../errors.ts';
import { isFullObjectId } from '../executors/object-id.ts';

export interface BundleHeader {
  version: 2 | 3;
  /** The repository's hash (`@object-format=` of a v3 bundle; v2 bundles are sha1). */
  objectFormat: 'sha1' | 'sha256';
  prerequisites: string[];
  heads: Array<{ commit: string; ref: string }>;
  /** Where the pack starts (the byte after the header's blank line). */
  packOffset: number;
}

const MAX_HEADER_BYTES = 64 * 1024;

/** A bundle PAS refuses (PAS_ERR_DIST_BUNDLE_INVALID). */
export function bundleInvalid(message: string, details: Record<string, unknown>, cause?: unknown): PasError {
  return new PasError('PAS_ERR_DIST_BUNDLE_INVALID', message, { details, cause });
}

/**
 * The header of a bundle git reads as `git bundle create` writes it: v2 for a sha1 repository, v3
 * with `@object-format=sha256` for a sha256 one; `-<oid>` per prerequisite, `<oid> <ref>` per head.
 */
export function formatBundleHeader(objectFormat: 'sha1' | 'sha256', prerequisites: readonly string[], heads: ReadonlyArray<{ commit: string; ref: string }>): Buffer {
  const lines = objectFormat === 'sha1' ? ['# v2 git bundle'] : ['# v3 git bundle', `@object-format=${objectFormat}`];
  for (const p of prerequisites) lines.push(`-${p}`);
  for (const h of heads) lines.push(`${h.commit} ${h.ref}`);
  return Buffer.from(`${lines.join('\n')}\n\n`, 'utf8');
}

export function readBundleHeader(bytes: Uint8Array): BundleHeader {
  const bad = (why: string) => bundleInvalid(`not a git bundle: ${why}`, { problem: why });
  const window = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, MAX_HEADER_BYTES));
  const end = window.indexOf('\n\n');
  if (end < 0) throw bad('no end of header');
  const lines = window.subarray(0, end).toString('utf8').split('\n');
  const signature = lines.shift();
  const version = signature === '# v2 git bundle' ? 2 : signature === '# v3 git bundle' ? 3 : undefined;
  if (!version) throw bad(`signature ${JSON.stringify(signature?.slice(0, 40))}`);
  const header: BundleHeader = { version, objectFormat: 'sha1', prerequisites: [], heads: [], packOffset: end + 2 };
  for (const line of lines) {
    if (version === 3 && line.startsWith('@')) {
      const format = /^@object-format=(\S+)$/.exec(line)?.[1];
      if (format === 'sha1' || format === 'sha256') header.objectFormat = format;
      else if (format !== undefined) throw bad(`object format ${JSON.stringify(format.slice(0, 20))}`);
      else if (line.startsWith('@filter')) throw bad('a partial (filtered) bundle');
      continue;
    }
    if (line.startsWith('-')) {
      const oid = line.slice(1).split(' ')[0]!;
      if (!isFullObjectId(oid)) throw bad(`prerequisite ${JSON.stringify(oid.slice(0, 70))}`);
      header.prerequisites.push(oid);
      continue;
    }
    const space = line.indexOf(' ');
    const commit = line.slice(0, space);
    const ref = line.slice(space + 1);
    if (space < 0 || !isFullObjectId(commit) || !ref.startsWith('refs/')) throw bad(`ref line ${JSON.stringify(line.slice(0, 80))}`);
    header.heads.push({ commit, ref });
  }
  return header;
}
