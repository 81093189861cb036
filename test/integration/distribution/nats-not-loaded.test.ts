/**
 * One machine stays simple: without `distribution` in config, `pas up` never loads the NATS
 * client. The process runs with a recorder of every module it resolves; a control run that does
 * load the client shows the recorder sees it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortOffset } from '../../support/ports.ts';
import { startPasUp, type PasProcess } from '../../support/pas-process.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RECORDER = fileURLToPath(new URL('../../support/module-recorder/register.mjs', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-modules-'));
let pas: PasProcess | undefined;

afterAll(() => {
  pas?.child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

function natsModules(log: string): string[] {
  return readFileSync(log, 'utf8').split('\n').filter((line) => line.includes('@nats-io'));
}

describe('a run without distribution', () => {
  it('boots the whole tree with pas up and never loads a NATS module', async () => {
    const log = path.join(scratch, 'up.log');
    const portOffset = await freePortOffset([6101, ...Array.from({ length: 13 }, (_, i) => 6110 + i), ...Array.from({ length: 20 }, (_, i) => 6141 + i)]);
    pas = await startPasUp({ configDir: SHIPPED_CONFIGS, dataDir: path.join(scratch, 'data'), portOffset, env: { NODE_OPTIONS: `--import=${RECORDER}`, PAS_MODULE_LOG: log } });
    const health = await fetch(`${pas.url}/api/agents`);
    expect(health.status).toBe(200);
    const exited = new Promise((resolve) => pas!.child.once('exit', resolve));
    pas.child.kill('SIGTERM');
    await exited;
    const lines = readFileSync(log, 'utf8').split('\n');
    expect(lines.some((l) => l.includes('src/runtime/create-runtime.ts')), 'the recorder saw the runtime load').toBe(true);
    expect(lines.some((l) => l.includes('node_modules/fastify/')), 'the recorder saw packages load').toBe(true);
    expect(natsModules(log)).toEqual([]);
  }, 60_000);

  it('(control) records the NATS client when the distribution code loads it', async () => {
    const log = path.join(scratch, 'control.log');
    const script = "const m = await import('./src/distribution/nats-connection.ts'); await m.loadNatsModules();";
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: `--import=${RECORDER}`, PAS_MODULE_LOG: log },
      timeout: 30_000,
    });
    expect(natsModules(log).some((l) => l.includes('@nats-io/transport-node'))).toBe(true);
    expect(natsModules(log).some((l) => l.includes('@nats-io/obj'))).toBe(true);
  }, 60_000);
});
