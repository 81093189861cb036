/**
 * The paths without those under another listed one: a file that became a folder (or the reverse)
 * is listed with its old and new entries, and its own path as a pathspec covers both sides.
 */
export function outermost(paths: readonly string[]): string[] {
  const listed = new Set(paths);
  return paths.filter((p) => {
    for (let slash = p.indexOf('/'); slash >= 0; slash = p.indexOf('/', slash + 1)) if (listed.has(p.slice(0, slash))) return false;
    return true;
  });
}
