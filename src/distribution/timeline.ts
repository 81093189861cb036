/**
 * A probe of where a distributed task's time goes (off unless PAS_DIST_TIMELINE names a
 * directory): each process keeps `event attempt-id epoch-ms` lines in memory and writes them to
 * its own file in that directory every second and at exit. scripts/dist-timeline.ts joins the
 * files of a run into per-task segments. Off, `mark` is one comparison.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const dir = process.env.PAS_DIST_TIMELINE;
let lines: string[] = [];
let file: string | undefined;

function flush(): void {
  if (!file || lines.length === 0) return;
  const out = lines.join('');
  lines = [];
  try {
    appendFileSync(file, out);
  } catch {
    // a probe: its loss is no failure
  }
}

if (dir) {
  try {
    mkdirSync(dir, { recursive: true });
    file = path.join(dir, `${process.pid}.tl`);
    setInterval(flush, 1_000).unref();
    process.on('exit', flush);
  } catch (err) {
    // A probe: a folder it cannot make turns it off, never the process.
    process.emitWarning(`PAS_DIST_TIMELINE=${dir} is not a folder the timeline can write to (${(err as Error).message}): no timeline`);
  }
}

/** Notes that `event` happened now for attempt `id` (a no-op unless PAS_DIST_TIMELINE is set). */
export function mark(event: string, id: string, extra = ''): void {
  if (file === undefined) return;
  lines.push(`${event} ${id} ${(performance.timeOrigin + performance.now()).toFixed(2)} ${extra}\n`);
}

export const timelineOn = file !== undefined;
