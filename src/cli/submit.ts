/**
 * `pas submit "<task>" [--lane Code] [--files a b …] [--repo PATH] [--verify CMD] [--executor NAME] [--wait]`: POSTs
 * a job to a running tree's gateway and prints its id; `--wait` follows it with a progress bar
 * until it ends and exits 0 only when it completed. `--files` takes every value up to the next
 * flag (or `--`), so the task goes first or after `--`.
 */
import path from 'node:path';
import { EXECUTOR_KINDS, LANES, type ExecutorKind, type Lane } from '../../machines/domain.ts';
import { PasError } from '../errors.ts';
import { apiClient, CLIENT_OPTIONS, gatewayUrl, reportApiError } from './api-client.ts';
import type { Command } from './commands.ts';
import { followJob } from './job-progress.ts';
import { describeJob } from './job-view.ts';
import { intOption } from './int-option.ts';

const bad = (message: string) => new PasError('PAS_ERR_BAD_REQUEST', message);

export interface JobBody {
  task: string;
  lane?: Lane;
  files?: string[];
  repo?: string;
  verify?: string[];
  executor?: ExecutorKind;
}

/** Builds the job body from parsed options, or throws a PAS_ERR_BAD_REQUEST naming the argument. */
/**
 * `--verify "npm test"` as argv: split on whitespace (no shell, no quoting), or a JSON array
 * (`--verify '["node","--test","a b.js"]'`) for arguments with spaces.
 */
export function verifyArgv(raw: string, label = '--verify'): string[] {
  const text = raw.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw bad(`${label}: "${raw}" starts with [ but is not a JSON array of strings`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === 'string' && a.length > 0)) {
      throw bad(`${label}: "${raw}" must be a non-empty JSON array of non-empty strings`);
    }
    return parsed as string[];
  }
  const argv = text.split(/\s+/).filter(Boolean);
  if (argv.length === 0) throw bad(`${label} got an empty command`);
  return argv;
}

export function jobBody(values: Record<string, unknown>, positionals: string[], cwd = process.cwd()): JobBody {
  if (positionals.length === 0) {
    const hint = values.files ? ' (--files takes every value up to the next flag: put the task before --files, or after --)' : '';
    throw bad(`the task is missing: pas submit "<task>" [--lane Code] [--files a b …] [--repo PATH] [--verify CMD] [--executor NAME] [--wait]${hint}`);
  }
  if (positionals.length > 1) {
    throw bad(`one task only, got ${positionals.length} arguments (${positionals.map((p) => JSON.stringify(p)).join(', ')}); quote the task, and put it before --files or after --`);
  }
  const task = positionals[0]!.trim();
  if (task.length === 0) throw bad('the task is empty');
  const body: JobBody = { task };
  if (values.lane !== undefined) {
    const lane = LANES.find((l) => l.toLowerCase() === String(values.lane).toLowerCase());
    if (!lane) throw bad(`--lane must be one of ${LANES.join(', ')}, got "${String(values.lane)}"`);
    body.lane = lane;
  }
  const files = (values.files as string[] | undefined) ?? [];
  if (files.some((f) => f.trim().length === 0)) throw bad('--files got an empty file name');
  if (files.length > 0) body.files = [...new Set(files)];
  if (typeof values.repo === 'string') {
    if (values.repo.trim().length === 0) throw bad('--repo got an empty path');
    // The tree runs elsewhere: send an absolute path.
    body.repo = path.resolve(cwd, values.repo);
  }
  if (typeof values.verify === 'string') body.verify = verifyArgv(values.verify);
  if (values.executor !== undefined) {
    const executor = EXECUTOR_KINDS.find((e) => e === String(values.executor).toLowerCase());
    if (!executor) throw bad(`--executor must be one of ${EXECUTOR_KINDS.join(', ')}, got "${String(values.executor)}"`);
    body.executor = executor;
  }
  return body;
}

export const submitCommand: Command = {
  summary: 'submit a job to a running tree and print its id (--wait follows it to the end)',
  usage: '"<task>" [options]',
  options: {
    lane: { type: 'string', short: 'l', arg: 'LANE', help: `the lane: ${LANES.join(', ')} (default: the Architect chooses)` },
    files: { type: 'string', multiple: true, short: 'f', arg: 'FILE', help: 'the files to work on, relative to the repo; takes every value up to the next flag' },
    repo: { type: 'string', short: 'r', arg: 'PATH', help: 'the git repository to work in (default: a scratch repo under artifacts/repos/)' },
    verify: { type: 'string', arg: 'CMD', help: 'run CMD in each subtask\'s worktree after the edit ("npm test"); it must match configs/cmd_allowlist.yaml' },
    executor: { type: 'string', short: 'e', arg: 'NAME', help: `run every subtask with this executor: ${EXECUTOR_KINDS.join(', ')} (default: each programmer's own, programmer_pool.yaml)` },
    wait: { type: 'boolean', short: 'w', help: 'follow the job to the end with a progress bar; exit 0 only when it completed' },
    'poll-ms': { type: 'string', arg: 'MS', help: 'with --wait, how often to ask (default 500)' },
    ...CLIENT_OPTIONS,
  },
  examples: [
    'pas submit "Add input validation" --files src/a.js src/b.js --repo . --wait',
    'pas submit --lane Docs --files README.md --verify "npm test" -- "Document the CLI"',
    'pas submit "Fix the flaky test" --executor claude-code --repo . --wait',
  ],
  notes: ['Without a model (pas up --offline) the job is done by the scripted model: see README, "Offline".'],
  greedy: ['files'],
  async run(values, positionals) {
    const body = jobBody(values, positionals);
    const pollMs = Math.max(50, intOption(values, 'poll-ms', 500));
    const client = apiClient(gatewayUrl(values));
    const out = process.stdout;
    try {
      const accepted = await client.post<{ job_id: string; status: string }>('/api/jobs', body);
      if (!values.wait) {
        out.write(values.json ? `${JSON.stringify(accepted)}\n` : `job ${accepted.job_id} ${accepted.status}\nfollow it: pas status ${accepted.job_id}\n`);
        return 0;
      }
      if (!values.json) out.write(`job ${accepted.job_id} ${accepted.status}\n`);
      const job = await followJob(client, accepted.job_id, { pollMs, quiet: values.json === true });
      out.write(values.json ? `${JSON.stringify(job)}\n` : `\n${describeJob(job)}`);
      return job.status === 'completed' ? 0 : 1;
    } catch (err) {
      return reportApiError('submit', err);
    }
  },
};
