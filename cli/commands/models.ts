import type { Command } from 'commander';
import { buildZoo, describeModel, listModels, resolveModel } from '../../models/registry.ts';
import { formatCount, formatSpecs } from '../format.ts';

export function registerModelsCommand(program: Command): void {
  const models = program
    .command('models')
    .description('the model zoo: list, describe and build models');

  models
    .command('list')
    .description('list zoo and pretrained models with inputs, outputs, parameters and FLOPs')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }) => {
      const infos = await listModels();
      if (options.json) {
        console.log(JSON.stringify(infos, null, 2));
        return;
      }
      for (const info of infos) {
        console.log(`${info.name}  (${info.kind})  ${info.description}`);
        console.log(`  file        ${info.file}`);
        console.log(`  parameters  ${formatCount(info.parameters)}`);
        console.log(
          `  FLOPs       ${info.flops === null ? `unknown (${info.flopsNote})` : `${formatCount(info.flops)} per inference${info.flopsNote ? ` (${info.flopsNote})` : ''}`}`,
        );
        console.log(`  inputs      ${formatSpecs(info.inputs)}`);
        console.log(`  outputs     ${formatSpecs(info.outputs)}`);
        console.log(`  licence     ${info.licence}`);
        console.log(`  source      ${info.source}`);
        console.log('');
      }
    });

  models
    .command('describe')
    .argument('<model>', 'zoo or pretrained name, or a path to an .onnx file')
    .description('describe one model (any .onnx file works)')
    .action(async (name: string) => {
      const info = await describeModel(await resolveModel(name));
      console.log(JSON.stringify(info, null, 2));
    });

  models
    .command('build')
    .description('write the zoo models into models/built (deterministic: same seed, same bytes)')
    .option('--seed <n>', 'PRNG seed', (v) => Number.parseInt(v, 10))
    .option('--out <dir>', 'output folder')
    .action(async (options: { seed?: number; out?: string }) => {
      const files = await buildZoo(options.out, options.seed);
      for (const file of files) console.log(file);
    });
}
