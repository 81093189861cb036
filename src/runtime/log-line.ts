/**
 * How a log entry reads on a terminal: one short line, `time LEVEL who what details`, instead of
 * pino's 300–600-character JSON. The log file keeps the full NDJSON. Uses pino-pretty as a
 * synchronous stream with our own message format, so the fields people act on (agent, worker and
 * programmers, job, task, state change, error code and message) stay and the rest is left to the file.
 */
import pretty from 'pino-pretty';

type Entry = Record<string, unknown>;

const short = (id: unknown) => (typeof id === 'string' && id.length > 14 ? `${id.slice(0, 12)}…` : String(id));

function errorOf(entry: Entry): string | null {
  const e = (entry.error ?? entry.err) as { code?: string; message?: string } | undefined;
  if (e && typeof e === 'object' && (e.code || e.message)) return `${e.code ?? ''}${e.code && e.message ? ': ' : ''}${e.message ?? ''}`;
  if (typeof entry.code === 'string') return entry.code;
  return null;
}

/** The part after the level: `Prog-003 IDLE → EXECUTING (task.assigned) job=… task=…`. */
export function logMessage(entry: Entry): string {
  const who = entry.agentId ?? entry.ref ?? (entry.req ? 'http' : undefined);
  const parts: string[] = [];
  if (who !== undefined) parts.push(String(who).padEnd(14));
  if (entry.msg === 'transition') {
    parts.push(`${String(entry.from ?? '')} → ${String(entry.to ?? '')}`);
    if (entry.event) parts.push(`(${String(entry.event)})`);
  } else {
    parts.push(String(entry.msg ?? ''));
  }
  // Which worker and programmers a distribution line is about (a worker's own lines name it in their bound `worker`: not repeated).
  if (typeof entry.worker === 'string' && entry.component !== 'worker') parts.push(`worker=${entry.worker}`);
  for (const key of ['programmers', 'unreachable'] as const) {
    const ids = entry[key];
    if (Array.isArray(ids) && ids.length > 0) parts.push(`${key}=${ids.map(String).join(',')}`);
  }
  if (typeof entry.url === 'string') parts.push(`url=${entry.url}`);
  if (entry.jobId) parts.push(`job=${short(entry.jobId)}`);
  if (entry.taskId) parts.push(`task=${short(entry.taskId)}`);
  if (entry.from && entry.to && entry.msg !== 'transition') parts.push(`${String(entry.from)} → ${String(entry.to)}`);
  const error = errorOf(entry);
  if (error) parts.push(`— ${error}`);
  const text = parts.join(' ');
  return text.length > 220 ? `${text.slice(0, 219)}…` : text;
}

/** A stream that turns NDJSON log lines into one readable (optionally coloured) line each. */
export function terminalLogStream(options: { colour: boolean; destination?: NodeJS.WritableStream }) {
  return pretty({
    colorize: options.colour,
    hideObject: true,
    translateTime: 'HH:MM:ss',
    ignore: 'pid,hostname',
    sync: true,
    messageFormat: (log) => logMessage(log as Entry),
    ...(options.destination ? { destination: options.destination } : {}),
  });
}
