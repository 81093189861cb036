/**
 * `git diff --numstat` for one file, in-process: lines added and removed by a shortest edit
 * script (Myers' O(ND) distance over interned lines, each line with its own terminator, as
 * git's xdiff compares them), and binary when either side holds a NUL in its first 8000 bytes
 * (git's buffer_is_binary), which numstat shows as "-".
 */

export interface FileNumstat {
  added: number;
  removed: number;
  binary: boolean;
}

const FIRST_FEW_BYTES = 8000;

export function isBinary(data: Buffer): boolean {
  return data.subarray(0, FIRST_FEW_BYTES).includes(0);
}

/** Splits into lines, each keeping its "\n" (the last one may have none). */
function lines(data: Buffer, intern: Map<string, number>): number[] {
  const out: number[] = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    end = end < 0 ? data.length : end + 1;
    const key = data.toString('latin1', start, end);
    let id = intern.get(key);
    if (id === undefined) {
      id = intern.size;
      intern.set(key, id);
    }
    out.push(id);
    start = end;
  }
  return out;
}

/** The number of inserted plus deleted lines of a shortest edit script from a to b. */
export function editDistance(a: readonly number[], b: readonly number[]): number {
  let lo = 0;
  while (lo < a.length && lo < b.length && a[lo] === b[lo]) lo++;
  let endA = a.length;
  let endB = b.length;
  while (endA > lo && endB > lo && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - lo;
  const m = endB - lo;
  if (n === 0) return m;
  if (m === 0) return n;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  for (let d = 0; d <= max; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[lo + x] === b[lo + y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return d;
    }
  }
  return max;
}

/** numstat of one path: `before` null for a new file, `after` null for a deleted one. */
export function numstatOf(before: Buffer | null, after: Buffer | null): FileNumstat {
  if ((before && isBinary(before)) || (after && isBinary(after))) return { added: 0, removed: 0, binary: true };
  const intern = new Map<string, number>();
  const a = before ? lines(before, intern) : [];
  const b = after ? lines(after, intern) : [];
  const d = editDistance(a, b);
  return { added: (d + b.length - a.length) / 2, removed: (d - b.length + a.length) / 2, binary: false };
}
