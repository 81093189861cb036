/**
 * `pas bench [--quick] [--only parts] [--out DIR] [--readme]`: runs scripts/bench.ts (loaded only
 * when asked, so other commands do not pay for the benchmark code) and writes artifacts/bench/.
 */
import type { Command } from './commands.ts';

export const benchCommand: Command = {
  summary: 'run the benchmarks (parallel speedup, throughput, overhead, gateway, footprint); write artifacts/bench/*.json',
  options: {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    out: { type: 'string' },
    readme: { type: 'boolean' },
  },
  async run(values) {
    const argv: string[] = [];
    if (values.quick === true) argv.push('--quick');
    if (values.readme === true) argv.push('--readme');
    if (typeof values.only === 'string') argv.push('--only', values.only);
    if (typeof values.out === 'string') argv.push('--out', values.out);
    const { main } = await import('../../scripts/bench.ts');
    return main(argv);
  },
};
