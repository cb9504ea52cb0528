/** Every subcommand of `edgeshift`, registered in the order `--help` lists them. */
import type { Command } from 'commander';
import { registerBenchCommand } from './bench.ts';
import { registerCheckCommand } from './check.ts';
import { registerEnergyCommand } from './energy.ts';
import { registerInferCommand } from './infer.ts';
import { registerModelsCommand } from './models.ts';
import { registerNodeCommand } from './node.ts';
import { registerReportCommands } from './report.ts';
import { registerRouterCommand } from './router.ts';
import { registerStartCommand } from './start.ts';
import { registerUpCommand } from './up.ts';

export function registerCommands(program: Command): void {
  registerStartCommand(program);
  registerBenchCommand(program);
  registerReportCommands(program);
  registerCheckCommand(program);
  registerNodeCommand(program);
  registerRouterCommand(program);
  registerUpCommand(program);
  registerModelsCommand(program);
  registerInferCommand(program);
  registerEnergyCommand(program);
}
