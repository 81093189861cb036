import { defaultConfigDir, loadConfig } from '../config/load-config.ts';
import type { Command } from './commands.ts';

export const validateCommand: Command = {
  summary: 'load and check every config file; exit 0, or 2 naming file and key',
  usage: '[options]',
  options: { config: { type: 'string', short: 'c', arg: 'DIR', help: 'the configs folder (default PAS_CONFIG_DIR, else ./configs)' } },
  examples: ['pas validate', 'pas validate --config ./my-configs'],
  async run(values) {
    const dir = typeof values.config === 'string' ? values.config : defaultConfigDir();
    const config = loadConfig(dir);
    const models = Object.values(config.models.providers).reduce((n, p) => n + Object.keys(p.models).length, 0);
    process.stdout.write(
      `configs OK (${config.dir}): Architect, ${config.pas.directors.length} Directors, ${config.pas.managers.length} Managers, ` +
        `${config.programmers.length} Programmers, ${models} models, strategy ${config.pool.load_balancing.strategy}\n`,
    );
    return 0;
  },
};
