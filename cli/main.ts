import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.ts';
import { describeError } from './errors.ts';
import { packageVersion } from './version.ts';

const program = new Command();
program
  .name('edgeshift')
  .description(
    'Measure whether an inference should run in a hyperscale data center, at the edge, or on the device.',
  )
  .version(packageVersion(), '-V, --version')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  $ edgeshift start                              the cloud-versus-edge study on this machine (npm start)
  $ edgeshift bench cloud-vs-edge                run a scenario: bench/scenarios/*.yaml or a file
  $ edgeshift report results/<run>               every report of a run again, from its records
  $ edgeshift compare results/<a> results/<b>    runs side by side, with ratios
  $ edgeshift check                              serve the zoo on :8001, self-check, keep serving
  $ edgeshift node --tier edge --model cnn       serve one model on 127.0.0.1:8001
  $ edgeshift node --model ./my-model.onnx --runtime onnxruntime-web --port 8003
  $ edgeshift router --policy energy             place requests on the nodes of the default topology, :8000
  $ edgeshift models list                        the model zoo with params and FLOPs
  $ edgeshift infer cnn --url http://127.0.0.1:8001   send one sample request
  $ edgeshift energy probe                       what each energy meter can measure here
  $ edgeshift energy agent                       one set of energy meters for every node here
`,
  );

registerCommands(program);

program.exitOverride();

// A reader that stops early (`edgeshift --help | head`) closes the pipe: stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else {
    for (const line of describeError(error, Boolean(process.env.EDGESHIFT_DEBUG))) {
      console.error(line);
    }
    process.exitCode = 1;
  }
}
