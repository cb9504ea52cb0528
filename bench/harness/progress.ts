/**
 * Progress of a run on stderr: a bar with the phase and an ETA (cli-progress) on a
 * terminal, one line per phase otherwise (CI logs, a pipe). The ETA is from each phase's
 * expected length (warm-up + minimum duration); a phase that runs longer pushes it.
 */
import cliProgress from 'cli-progress';
import type { BenchProgress } from './run.ts';

export function createProgress(stream: NodeJS.WriteStream = process.stderr): BenchProgress {
  let phases: Array<{ name: string; seconds: number }> = [];
  let index = -1;
  let phaseStarted = 0;
  let timer: NodeJS.Timeout | undefined;
  const bar = stream.isTTY
    ? new cliProgress.SingleBar(
        {
          stream,
          format: '  {bar} {percentage}% | ETA {eta_formatted} | {phase}',
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const doneBefore = (i: number) => phases.slice(0, i).reduce((a, p) => a + p.seconds, 0);
  const total = () => phases.reduce((a, p) => a + p.seconds, 0);
  return {
    plan(list) {
      phases = list;
      if (bar !== null) bar.start(Math.max(1, Math.round(total())), 0, { phase: 'idle baseline' });
      else stream.write(`  ${list.length} phases, about ${Math.round(total())} s\n`);
    },
    phase(name) {
      index = phases.findIndex((p) => p.name === name);
      phaseStarted = performance.now();
      const expected = phases[index]?.seconds ?? 0;
      if (bar === null) {
        stream.write(
          `  [${index + 1}/${phases.length}] ${name} (about ${Math.round(expected)} s)\n`,
        );
        return;
      }
      clearInterval(timer);
      const update = () => {
        const inPhase = Math.min(expected, (performance.now() - phaseStarted) / 1000);
        bar.update(Math.round(doneBefore(index) + inPhase), { phase: name });
      };
      update();
      timer = setInterval(update, 250);
      timer.unref();
    },
    done() {
      clearInterval(timer);
      if (bar !== null) {
        bar.update(Math.round(total()));
        bar.stop();
      }
    },
  };
}
