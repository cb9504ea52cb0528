/**
 * Turning raw records into medians, ratios and target checks, and printing them (pure).
 * Quartiles are the project's one percentile definition (nearest rank, services/common/stats.ts).
 */
import { type Spread, spread } from '../../../services/common/stats.ts';

/** One adjacent pair: a single stream in-process and served, one right after the other. */
export interface SinglePair {
  inProcessPrefillTokensPerSecond: number;
  inProcessDecodeTokensPerSecond: number;
  servedTtftMs: number;
  servedDecodeTokensPerSecond: number;
}

/** One adjacent pair: the same streams at once and one after another (plus an in-process batch). */
export interface BatchPair {
  inProcessBatchDecodeTokensPerSecond: number;
  servedConcurrentTokensPerSecond: number;
  servedSequentialTokensPerSecond: number;
}

export interface Summary {
  inProcessPrefillTokensPerSecond: Spread;
  inProcessDecodeTokensPerSecond: Spread;
  inProcessBatchDecodeTokensPerSecond: Spread;
  servedTtftMs: Spread;
  servedDecodeTokensPerSecond: Spread;
  servedConcurrentTokensPerSecond: Spread;
  servedSequentialTokensPerSecond: Spread;
  /** Served over in-process decode tokens/s, one stream, per pair. */
  servedOverInProcess: Spread;
  /** Served minus in-process time per decoded token, one stream, per pair, in ms. */
  overheadPerTokenMs: Spread;
  /** Concurrent over sequential served tokens/s, per pair. */
  concurrentOverSequential: Spread;
  /** Concurrent served tokens/s over the in-process batch's decode tokens/s, per pair. */
  concurrentOverInProcessBatch: Spread;
  targets: { name: string; value: number; target: number; met: boolean }[];
}

/**
 * Targets: served decode >= 0.9x in-process (main thread) for one stream; batched
 * streams >= 2x the same streams one after another, and >= 0.8x an in-process batch.
 */
export const TARGETS = {
  servedOverInProcess: 0.9,
  concurrentOverSequential: 2,
  concurrentOverInProcessBatch: 0.8,
} as const;

export function summarise(singles: readonly SinglePair[], batches: readonly BatchPair[]): Summary {
  const of = <T>(rows: readonly T[], f: (r: T) => number) => spread(rows.map(f));
  const servedOverInProcess = of(
    singles,
    (r) => r.servedDecodeTokensPerSecond / r.inProcessDecodeTokensPerSecond,
  );
  const concurrentOverSequential = of(
    batches,
    (r) => r.servedConcurrentTokensPerSecond / r.servedSequentialTokensPerSecond,
  );
  const concurrentOverInProcessBatch = of(
    batches,
    (r) => r.servedConcurrentTokensPerSecond / r.inProcessBatchDecodeTokensPerSecond,
  );
  return {
    inProcessPrefillTokensPerSecond: of(singles, (r) => r.inProcessPrefillTokensPerSecond),
    inProcessDecodeTokensPerSecond: of(singles, (r) => r.inProcessDecodeTokensPerSecond),
    inProcessBatchDecodeTokensPerSecond: of(batches, (r) => r.inProcessBatchDecodeTokensPerSecond),
    servedTtftMs: of(singles, (r) => r.servedTtftMs),
    servedDecodeTokensPerSecond: of(singles, (r) => r.servedDecodeTokensPerSecond),
    servedConcurrentTokensPerSecond: of(batches, (r) => r.servedConcurrentTokensPerSecond),
    servedSequentialTokensPerSecond: of(batches, (r) => r.servedSequentialTokensPerSecond),
    servedOverInProcess,
    overheadPerTokenMs: of(
      singles,
      (r) => 1000 / r.servedDecodeTokensPerSecond - 1000 / r.inProcessDecodeTokensPerSecond,
    ),
    concurrentOverSequential,
    concurrentOverInProcessBatch,
    targets: [
      {
        name: 'served / in-process decode, 1 stream',
        value: servedOverInProcess.median,
        target: TARGETS.servedOverInProcess,
        met: servedOverInProcess.median >= TARGETS.servedOverInProcess,
      },
      {
        name: 'batched / sequential streams',
        value: concurrentOverSequential.median,
        target: TARGETS.concurrentOverSequential,
        met: concurrentOverSequential.median >= TARGETS.concurrentOverSequential,
      },
      {
        name: 'batched / in-process batch',
        value: concurrentOverInProcessBatch.median,
        target: TARGETS.concurrentOverInProcessBatch,
        met: concurrentOverInProcessBatch.median >= TARGETS.concurrentOverInProcessBatch,
      },
    ],
  };
}

export function formatSummary(summary: Summary, streams: number): string {
  const row = (label: string, s: Spread, digits = 0) =>
    `  ${label.padEnd(46)} ${s.median.toFixed(digits).padStart(9)}   [${s.p25.toFixed(digits)} .. ${s.p75.toFixed(digits)}]`;
  return [
    `  ${''.padEnd(46)} ${'median'.padStart(9)}   [p25 .. p75]`,
    row('in-process prefill (tokens/s)', summary.inProcessPrefillTokensPerSecond),
    row('in-process decode, 1 stream (tokens/s)', summary.inProcessDecodeTokensPerSecond),
    row(
      `in-process decode, batch of ${streams} (tokens/s)`,
      summary.inProcessBatchDecodeTokensPerSecond,
    ),
    row('served time to first token, 1 stream (ms)', summary.servedTtftMs, 2),
    row('served decode, 1 stream (tokens/s)', summary.servedDecodeTokensPerSecond),
    row(
      `served, ${streams} concurrent streams (tokens/s)`,
      summary.servedConcurrentTokensPerSecond,
    ),
    row(
      `served, ${streams} sequential streams (tokens/s)`,
      summary.servedSequentialTokensPerSecond,
    ),
    row('node overhead per decoded token (ms)', summary.overheadPerTokenMs, 3),
    row('served / in-process decode, 1 stream (x)', summary.servedOverInProcess, 2),
    row(`${streams} concurrent / ${streams} sequential (x)`, summary.concurrentOverSequential, 2),
    row(
      `${streams} concurrent / in-process batch of ${streams} (x)`,
      summary.concurrentOverInProcessBatch,
      2,
    ),
    '',
    ...summary.targets.map(
      (t) =>
        `  ${t.name.padEnd(40)} ${t.value.toFixed(2).padStart(6)}x  (target >= ${t.target}x: ${t.met ? 'met' : 'NOT met'})`,
    ),
  ].join('\n');
}
