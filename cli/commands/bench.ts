import { type Command, Option } from 'commander';
import { createProgress } from '../../bench/harness/progress.ts';
import { runBench } from '../../bench/harness/run.ts';
import { renderTerminalTable } from '../../bench/report/index.ts';
import { DEFAULT_SCENARIO_PATH, loadScenario } from '../../bench/scenario/load.ts';

export interface BenchFlags {
  results: string;
  runId?: string;
  /** `browser`: the device page in headless Chromium joins the run (docs/device.md). */
  device?: 'node' | 'browser' | 'phone';
  /** A URL answering the browser device's watts or joules (a USB meter's bridge). */
  deviceMeterUrl?: string;
}

/** Runs a scenario, printing progress and the table at the end; Ctrl-C keeps what was measured. */
export async function benchAction(
  scenarioArg: string,
  flags: BenchFlags,
  command: string[],
): Promise<void> {
  const loaded = await loadScenario(scenarioArg);
  for (const warning of loaded.warnings) console.error(`edgeshift bench: note: ${warning}`);
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) return;
    console.error(
      '\nedgeshift bench: stopping: the phase in progress ends now, what was measured is kept',
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runBench({
      loaded,
      resultsDir: flags.results,
      ...(flags.runId === undefined ? {} : { runId: flags.runId }),
      ...(flags.device === undefined ? {} : { device: flags.device }),
      ...(flags.deviceMeterUrl === undefined ? {} : { deviceMeter: { url: flags.deviceMeterUrl } }),
      command,
      signal: controller.signal,
      log: (line) => console.error(`edgeshift bench: ${line}`),
      progress: createProgress(),
    });
    const report =
      result.files.find((f) => f.endsWith('report.html')) ?? `${result.dir}/report.html`;
    console.log('');
    for (const line of renderTerminalTable(result.summary, report)) console.log(line);
    if (controller.signal.aborted) {
      console.error(
        'edgeshift bench: interrupted: the report covers the phases measured before Ctrl-C',
      );
      process.exitCode = 130;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description(
      'run a benchmark scenario: each tier alone, then the mixed workload through the router per policy; records, summary and reports in results/<run-id>/',
    )
    .argument(
      '[scenario]',
      'a preset of bench/scenarios/ (default, cloud-vs-edge, generate) or a scenario file (docs/harness.md)',
      DEFAULT_SCENARIO_PATH,
    )
    .option('-o, --results <dir>', 'where run folders go', 'results')
    .option('--run-id <id>', 'the run folder name (default: <UTC time>-<scenario name>)')
    .addOption(
      new Option(
        '--device <kind>',
        "browser: the device page in headless Chromium joins the run as a tier, placing each request itself; phone: the run prints the page's URL and waits for a phone on the same network to open it (docs/device.md)",
      ).choices(['node', 'browser', 'phone']),
    )
    .option(
      '--device-meter-url <url>',
      "an instrument measuring the browser device (a USB meter's bridge) answering JSON watts or joules, read as the external meter: its joules replace the power model's (docs/device.md)",
    )
    .addHelpText(
      'after',
      `
Examples:
  $ edgeshift bench                         the default scenario (what npm start runs)
  $ edgeshift bench cloud-vs-edge           the cloud-versus-edge footprint table
  $ edgeshift bench generate                gpt per tier: time to first token, per output token, joules per token
  $ edgeshift bench ./my-scenario.yaml -o /data/runs
  $ edgeshift bench --device browser        a device tier in headless Chromium, too
`,
    )
    .action(async (scenario: string, flags: BenchFlags) => {
      await benchAction(scenario, flags, process.argv.slice(1));
    });
}
