/**
 * `pas doctor` (CONTRACT §10): configs, git, executor binaries and every configured model's key
 * and reachability as a table with one fix per problem; exit 0 when everything the configs use is
 * usable, else 1 (2 for a config that does not load). `pas up` runs the same checks.
 */
import { defaultConfigDir, loadConfig } from '../config/load-config.ts';
import { isPasError } from '../errors.ts';
import { agentsWithoutModel, runDoctor, type DoctorRow } from '../doctor/doctor-checks.ts';
import { table } from './api-client.ts';
import type { Command } from './commands.ts';
import { colourEnabled, paint } from './terminal.ts';
import { intOption } from './int-option.ts';

const MARK: Record<DoctorRow['status'], string> = { ok: 'ok', warn: 'warn', fail: 'FAIL' };

export function doctorTable(rows: readonly DoctorRow[], color = false): string {
  const text = table(
    ['CHECK', 'STATUS', 'DETAIL', 'FIX'],
    rows.map((r) => [r.check, MARK[r.status], r.detail, r.fix]),
    90,
  );
  if (!color) return text;
  return text.replace(/ {2}(ok|warn|FAIL)(\s)/g, (_m, s: string, sp: string) => `  ${paint(s === 'ok' ? 'green' : s === 'warn' ? 'yellow' : 'red', s)}${sp}`);
}

/** The lines `pas up` prints: only the problems, and what they mean for the tree. */
export function doctorProblems(rows: readonly DoctorRow[], lacking: readonly string[]): string {
  const bad = rows.filter((r) => r.status !== 'ok');
  if (bad.length === 0) return '';
  const lines = bad.map((r) => `  ${r.check}: ${r.detail}\n      fix: ${r.fix}${r.usedBy ? `\n      used by: ${r.usedBy.join(' ')}` : ''}`);
  const tail = lacking.length > 0
    ? `  ${lacking.length} agent(s) have no usable model and will fail their work: ${lacking.join(' ')}\n  (pas doctor for the full table; pas up --offline runs without any model)\n`
    : '  every agent still has a usable primary or backup model\n';
  return `doctor: ${bad.length} problem(s)\n${lines.join('\n')}\n${tail}`;
}

export const doctorCommand: Command = {
  summary: 'check configs, git, executor binaries and every configured model (key, reachability); exit 0 when all usable, else 1',
  usage: '[options]',
  options: {
    config: { type: 'string', short: 'c', arg: 'DIR', help: 'the configs folder (default PAS_CONFIG_DIR, else ./configs)' },
    offline: { type: 'boolean', help: 'check for `pas up --offline` (no model needs a key or a server)' },
    'timeout-ms': { type: 'string', arg: 'MS', help: 'how long each reachability check waits (default 3000)' },
    json: { type: 'boolean', help: 'print the rows as JSON' },
  },
  examples: ['pas doctor', 'pas doctor --offline', 'pas doctor --json | jq ".[] | select(.status != \\"ok\\")"'],
  async run(values) {
    let config;
    try {
      config = loadConfig(typeof values.config === 'string' ? values.config : defaultConfigDir());
    } catch (err) {
      if (!isPasError(err) || !err.code.startsWith('PAS_ERR_CONFIG')) throw err;
      const row: DoctorRow = { check: 'configs', status: 'fail', detail: err.message, fix: 'correct the file and key named above (pas validate shows them again)' };
      process.stdout.write(values.json ? `${JSON.stringify([row])}\n` : `${doctorTable([row])}\n1 problem: the configs do not load, so nothing else was checked\n`);
      return 1;
    }
    const rows: DoctorRow[] = [{ check: 'configs', status: 'ok', detail: config.dir, fix: '' }, ...(await runDoctor(config, { offline: values.offline === true, timeoutMs: intOption(values, 'timeout-ms', 3000) }))];
    const failed = rows.filter((r) => r.status === 'fail');
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows)}\n`);
    } else {
      process.stdout.write(doctorTable(rows, colourEnabled()));
      const lacking = agentsWithoutModel(config, rows);
      process.stdout.write(
        failed.length === 0
          ? `\nall ${rows.length} checks passed\n`
          : `\n${failed.length} problem(s).${lacking.length > 0 ? ` Agents with no usable model: ${lacking.join(' ')}.` : ''} Without any model: pas up --offline\n`,
      );
    }
    return failed.length === 0 ? 0 : 1;
  },
};
