import type { Command } from 'commander';
import { DEFAULT_SCENARIO_PATH } from '../../bench/scenario/load.ts';
import { benchAction } from './bench.ts';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description(
      'the main job on this machine: start the three tiers and the router, run the default scenario (about a minute on 2 cores) and print the per-tier footprint table',
    )
    .option('-o, --results <dir>', 'where the run folder goes', 'results')
    .action(async (flags: { results: string }) => {
      console.error(
        'edgeshift: the cloud-versus-edge study on this machine: hyperscale, edge and device nodes with emulated links, the router, and the default scenario (bench/scenarios/default.yaml)',
      );
      await benchAction(DEFAULT_SCENARIO_PATH, flags, process.argv.slice(1));
    });
}
