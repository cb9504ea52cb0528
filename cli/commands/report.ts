import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { type ComparedRun, compareRuns } from '../../bench/compare/compare-runs.ts';
import { checkRepeat, formatRepeat, type RepeatRun } from '../../bench/compare/repeatability.ts';
import { reportRun } from '../../bench/harness/run.ts';
import { summarizeFolder } from '../../bench/harness/summarize-folder.ts';
import { renderTerminalTable } from '../../bench/report/index.ts';
import type { Manifest } from '../../bench/summary/types.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';

async function readManifest(dir: string): Promise<Manifest> {
  const file = join(dir, 'manifest.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Manifest;
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
    throw new EdgeshiftError(
      'ES_CONFIG',
      `${file}: cannot read it (${why}); give a run folder that edgeshift bench wrote (results/<run-id>)`,
      { cause },
    );
  }
}

export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description(
      "regenerate a run's summary.json, summary.csv, report.md and report.html from its records.jsonl",
    )
    .argument('<run>', 'the run folder (results/<run-id>)')
    .action(async (run: string) => {
      const dir = resolve(run);
      const manifest = await readManifest(dir);
      const { summary, files } = await reportRun(dir, manifest);
      const html = files.find((f) => f.endsWith('report.html')) ?? join(dir, 'report.html');
      for (const line of renderTerminalTable(summary, html)) console.log(line);
      console.error(
        `edgeshift report: wrote ${files.map((f) => basename(f)).join(', ')} in ${dir}`,
      );
    });

  program
    .command('compare')
    .description(
      'put runs side by side (two machines, two policies): every table row, with ratios to the first',
    )
    .argument('<runs...>', 'two or more run folders')
    .action(async (runs: string[]) => {
      if (runs.length < 2) {
        throw new EdgeshiftError('ES_CONFIG', 'give two or more run folders to compare');
      }
      const compared: ComparedRun[] = [];
      const repeats: RepeatRun[] = [];
      for (const run of runs) {
        const dir = resolve(run);
        const manifest = await readManifest(dir);
        // From the records, so runs written by an older report still compare alike; the
        // folder is left as it is.
        const summary = await summarizeFolder(dir, manifest);
        compared.push({
          name: basename(dir),
          summary,
          machine: `${manifest.machine.cpuModel}, ${manifest.machine.cpus} CPUs${manifest.machine.gpus.length > 0 ? `, ${manifest.machine.gpus.map((g) => g.name).join(', ')}` : ''}`,
        });
        repeats.push({ name: basename(dir), summary, manifest });
      }
      for (const line of compareRuns(compared)) console.log(line);
      // Runs of one scenario: does the later one repeat the first, and if not, why not.
      const [first, ...later] = repeats;
      for (const run of later) {
        if (run.summary.scenario !== first!.summary.scenario) continue;
        console.log('');
        for (const line of formatRepeat(checkRepeat(first!, run))) console.log(line);
      }
    });
}
