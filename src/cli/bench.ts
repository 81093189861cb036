/**
 * `pas bench [--quick] [--only parts] [--out DIR] [--readme]`: runs scripts/bench.ts (loaded only
 * when asked, so other commands do not pay for the benchmark code) and writes artifacts/bench/.
 */
import type { Command } from './commands.ts';

export const benchCommand: Command = {
  summary: 'run the benchmarks (parallel speedup, throughput, overhead, gateway, footprint, task suite, distribution); write artifacts/bench/*.json',
  usage: '[options]',
  options: {
    quick: { type: 'boolean', help: 'fewer sizes and repeats (about 4–5 minutes instead of 25–35)' },
    only: { type: 'string', arg: 'PARTS', help: 'comma-separated parts: parallel,throughput,overhead,gateway,llm-gateway,footprint,tasks,distribution' },
    out: { type: 'string', arg: 'DIR', help: 'where the JSON results go (default artifacts/bench)' },
    readme: { type: 'boolean', help: "replace the README's benchmark table with this run's" },
  },
  examples: ['pas bench --quick', 'pas bench --only parallel,gateway', 'pas bench --only tasks', 'pas bench --only distribution'],
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
