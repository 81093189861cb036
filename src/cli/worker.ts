/** `pas worker`: run programmers on this host for a central `pas up` (CONTRACT §10, §11). */
import path from 'node:path';
import { defaultConfigDir, loadConfig } from '../config/load-config.ts';
import { distributionSchema } from '../config/schemas.ts';
import { PasError } from '../errors.ts';
import { registerSecretEnvNames } from '../redaction.ts';
import { createLogger } from '../runtime/logger.ts';
import { untilSignal } from './boot.ts';
import type { Command } from './commands.ts';
import { intOption } from './int-option.ts';
import { prepareDataDir } from './startup-checks.ts';

export const workerCommand: Command = {
  summary: 'run the programmers whose host is this worker, for a central pas up over NATS JetStream',
  usage: '--id NAME [options]',
  options: {
    id: { type: 'string', arg: 'NAME', help: 'this worker\'s name: programmers with host: NAME in programmer_pool.yaml run here' },
    nats: { type: 'string', arg: 'URL', help: 'the NATS server (default distribution.nats_url in pas.yaml)' },
    programmers: { type: 'string', arg: 'A,B', help: 'host only these of the programmers whose host is --id (default: all of them)' },
    'data-dir': { type: 'string', arg: 'DIR', help: 'this worker\'s repository cache, checkouts and logs (default runtime.data_dir/worker-NAME)' },
    offline: { type: 'boolean', help: 'no LLM: every model is the offline scripted model (synthetic edits, see README "Offline")' },
    'edit-delay-ms': { type: 'string', arg: 'MS', help: 'with --offline, how long each scripted edit takes (default 0)' },
    quiet: { type: 'boolean', short: 'q', help: 'no log lines on the terminal (they still go to the log file)' },
    json: { type: 'boolean', help: 'log lines on the terminal as NDJSON' },
  },
  examples: ['pas worker --id gpu-1', 'pas worker --id gpu-1 --nats nats://10.0.0.5:4222 --programmers Prog-011,Prog-012 --data-dir /var/lib/pas'],
  notes: [
    'The worker never needs the user\'s repository: it gets each base as a git bundle and sends its commit back as one. Its models and API keys are its own.',
    'Run the same PAS build as the central pas up: a worker whose pas.v1 protocol revision differs is refused at registration (or, if the central is restarted with another build while the worker runs, at its next heartbeat) and exits 1 with PAS_ERR_DIST_VERSION_MISMATCH, naming both builds.',
    'Agent CLIs and aider on the worker reach their models through its own LLM gateway on a free 127.0.0.1 port, with a per-task credential: the keys stay in the worker process.',
  ],
  async run(values) {
    const id = values.id;
    if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(id)) throw new PasError('PAS_ERR_BAD_REQUEST', '--id NAME is required: letters, digits, - and _ (the host named by programmers[].host)');
    const config = loadConfig(defaultConfigDir());
    let natsUrl: string | undefined;
    if (typeof values.nats === 'string') {
      const checked = distributionSchema.safeParse({ nats_url: values.nats });
      if (!checked.success) throw new PasError('PAS_ERR_BAD_REQUEST', `--nats: ${checked.error.issues[0]?.message ?? 'not a NATS URL'}`);
      natsUrl = values.nats;
    }
    const distributed = config.pas.distribution ?? (natsUrl ? distributionSchema.parse({ nats_url: natsUrl }) : undefined);
    if (!distributed) throw new PasError('PAS_ERR_CONFIG_INVALID', `${path.join(config.dir, 'pas.yaml')}: distribution: missing; a worker needs distribution.nats_url (or --nats URL)`);
    const dataDir = prepareDataDir(config, typeof values['data-dir'] === 'string' ? values['data-dir'] : path.join(config.pas.runtime.data_dir, `worker-${id}`));
    registerSecretEnvNames(config.models);
    const logger = createLogger({ file: path.join(dataDir, 'logs', `worker-${id}-${process.pid}.ndjson`), stdout: values.quiet !== true, stdoutFormat: values.json === true ? 'json' : 'pretty' });
    const { startWorker } = await import('../distribution/worker.ts');
    const worker = await startWorker({
      config: config.pas.distribution ? config : { ...config, pas: { ...config.pas, distribution: distributed } },
      workerId: id,
      ...(typeof values.programmers === 'string' ? { programmerIds: values.programmers.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      dataDir,
      logger,
      ...(natsUrl ? { natsUrl } : {}),
      offline: values.offline === true,
      editDelayMs: intOption(values, 'edit-delay-ms', 0),
    });
    process.stdout.write(`pas worker ${id} is up: programmers ${worker.programmers.join(', ')} (data ${dataDir})\nCtrl-C to stop.\n`);
    const end = await Promise.race([untilSignal().then((signal) => ({ signal })), worker.ended.then((error) => ({ error }))]);
    if ('error' in end) {
      // The central process now runs another build, or another process of this id took over: stopped, and exit 1 with why.
      await worker.stop();
      throw end.error;
    }
    process.stdout.write(`\n${end.signal}: stopping; running tasks go back to the queue\n`);
    await worker.stop();
    return 0;
  },
};
