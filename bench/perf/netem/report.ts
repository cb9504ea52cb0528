/**
 * The netem benchmark's results, the summaries and verdicts drawn from them, and the
 * tables printed. Pure functions of the results, so the tests drive them with made-up
 * figures.
 */
import { median, summariseLatencies } from '../../../services/common/stats.ts';
import { type LatenessSummary, summariseLateness } from '../../../services/netem/lateness.ts';
import type { MachineInfo } from '../serving/machine.ts';

/** The issue's targets for the link. */
export const TARGETS = {
  /** |added round trip - configured| at p50, ms. */
  delayP50Ms: 0.2,
  /** The same at p99, ms. */
  delayP99Ms: 1,
  /** |goodput / configured bandwidth - 1|. */
  bandwidthShare: 0.05,
} as const;

/** When the machine counts as quiet enough for the figures to stand. */
export const QUIET = {
  /** Busy share of the whole machine in the second before the start. */
  busyBeforeStart: 0.15,
  /** A measurement is disturbed when other processes took more than this many cores... */
  disturbedCores: 0.15,
  /** ...and the run is INVALID when more than this share of its measurements were. */
  disturbedShare: 0.1,
} as const;

export const SEQUENTIAL = 'sequential';

export function loadLabel(rate: number | null, connections: number): string {
  return rate === null ? SEQUENTIAL : `${rate}/s over ${connections}`;
}

/** A measurement's machine figures. */
export interface Measured {
  round: number;
  /** CPU the link process used meanwhile, in cores (null: direct, or no /proc). */
  linkCores: number | null;
  /** Cores other processes used meanwhile (machine.ts otherCores; steal counts as busy). */
  otherCores: number | null;
  /**
   * Of those, the cores the hypervisor gave to other guests (steal in /proc/stat); null
   * where unreadable or in results written before it was recorded.
   */
  stealCores?: number | null;
  /** Measurements taken, this one the last (--wait-idle repeats a disturbed one). */
  tries: number;
}

export interface DelayRun extends Measured {
  load: string;
  /** One-way delay each way through the link; null: direct to the echo server. */
  delayMs: number | null;
  /**
   * Direct, sequential: the idle pause before each message (2 x a link's delay, so both
   * ends idle about as long as through that link); 0: back to back, and under load.
   */
  gapMs: number;
  count: number;
  p50Ms: number;
  p99Ms: number;
  /** Open loop: the generator's lag against its schedule (not in the round trips). */
  lagP99Ms: number | null;
  wrong: number;
  /**
   * Through a link: how late the link process ran its releases meanwhile, the counts of
   * its histogram (services/netem/lateness.ts); absent direct, and in results written
   * before it was recorded.
   */
  releaseLateCounts?: number[] | null;
}

/** Pooled over the rounds: one configured delay at one load against direct. */
export interface DelayRow {
  load: string;
  delayMs: number;
  configuredRttMs: number;
  /**
   * The baseline: direct, with the same idle time between messages as through the link
   * (sequential: a pause of the configured round trip before each; under load the open
   * loop's schedule is the same for both).
   */
  direct: { count: number; p50Ms: number; p99Ms: number; gapMs: number };
  link: { count: number; p50Ms: number; p99Ms: number };
  /** Link percentile - direct percentile. */
  addedP50Ms: number;
  addedP99Ms: number;
  /** Added - configured round trip. */
  errorP50Ms: number;
  errorP99Ms: number;
  metP50: boolean;
  metP99: boolean;
  /**
   * The same error against direct back to back (no pause), where the baseline above is
   * paced; null where they are the same baseline.
   */
  backToBackErrorP50Ms: number | null;
  backToBackErrorP99Ms: number | null;
  /** Median over rounds of the link's CPU, cores. */
  linkCores: number | null;
  /** How late the link ran its releases, pooled over the rounds; null where not recorded. */
  releaseLate: LatenessSummary | null;
}

export interface BandwidthRun extends Measured {
  direction: 'up' | 'down';
  mbps: number;
  bytes: number;
  ms: number;
  goodputMbps: number;
  wrong: number;
}

export interface BandwidthRow {
  direction: 'up' | 'down';
  mbps: number;
  bytes: number;
  goodputMbps: { min: number; median: number; max: number };
  /** median / configured - 1. */
  error: number;
  /** The round furthest from the limit: its goodput / configured - 1. */
  worstError: number;
  met: boolean;
  linkCores: number | null;
}

export type CeilingKind = 'round trips' | 'bulk up' | 'bulk down';

export interface CeilingRun extends Measured {
  kind: CeilingKind;
  /** Closed-loop connections (1 for bulk). */
  connections: number;
  target: 'direct' | 'link';
  /** Round trips a second, or MB/s (10^6 bytes). */
  value: number;
  /** Link CPU per round trip or per MB, µs; null for direct. */
  linkCpuUsPerUnit: number | null;
  wrong: number;
}

export interface CeilingRow {
  kind: CeilingKind;
  connections: number;
  unit: string;
  direct: number;
  link: number;
  /** link / direct, per round. */
  ratio: { min: number; median: number; max: number };
  linkCpuUsPerUnit: number | null;
}

/** The link's own byte counts against what the generator wrote and read through it. */
export interface ByteCheck {
  link: string;
  connections: { generator: number; link: number };
  up: { generator: number; link: number };
  down: { generator: number; link: number };
}

export interface NetemSettings {
  delays: number[];
  pings: number;
  rate: number;
  connections: number;
  seconds: number;
  messageBytes: number;
  bandwidths: number[];
  bulkBytes: Record<string, number>;
  ceilingConnections: number[];
  ceilingBytes: number;
  rounds: number;
  waitIdle: number;
  seed: number;
  /** How long the link's release queue spins before a release, ms... */
  spinMs: number;
  /** ...after what woke it (services/netem/wakers.ts); absent in results written before. */
  waker?: 'thread' | 'timer' | null;
  burstBytes: number;
}

export interface NetemResult {
  startedAt: string;
  machine: MachineInfo;
  settings: NetemSettings;
  delayRuns: DelayRun[];
  delay: DelayRow[];
  bandwidthRuns: BandwidthRun[];
  ceilingRuns: CeilingRun[];
  byteChecks: ByteCheck[];
  /** Wrong bytes, missing answers, counts that disagree: the run is INVALID, exit code 1. */
  problems: string[];
  elapsedSeconds: number;
}

function spanOf(values: readonly number[]): { min: number; median: number; max: number } {
  return {
    min: values.length === 0 ? Number.NaN : Math.min(...values),
    median: median(values),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
  };
}

function medianOrNull(values: ReadonlyArray<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
}

/**
 * The delay rows from the pooled round trips: `samples(load, null, gapMs)` gives every
 * direct round trip of that load and pause over all rounds, `samples(load, delayMs, 0)`
 * every one through that link.
 */
export function delayRows(
  loads: readonly string[],
  delays: readonly number[],
  samples: (load: string, delayMs: number | null, gapMs: number) => readonly number[],
  runs: readonly DelayRun[],
): DelayRow[] {
  const rows: DelayRow[] = [];
  for (const load of loads) {
    const backToBack = summariseLatencies(samples(load, null, 0));
    for (const delayMs of delays) {
      const configuredRttMs = 2 * delayMs;
      const gapMs = load === SEQUENTIAL ? configuredRttMs : 0;
      const direct = gapMs === 0 ? backToBack : summariseLatencies(samples(load, null, gapMs));
      const link = summariseLatencies(samples(load, delayMs, 0));
      const addedP50Ms = link.p50Ms - direct.p50Ms;
      const addedP99Ms = link.p99Ms - direct.p99Ms;
      const errorP50Ms = addedP50Ms - configuredRttMs;
      const errorP99Ms = addedP99Ms - configuredRttMs;
      rows.push({
        load,
        delayMs,
        configuredRttMs,
        direct: { count: direct.count, p50Ms: direct.p50Ms, p99Ms: direct.p99Ms, gapMs },
        link: { count: link.count, p50Ms: link.p50Ms, p99Ms: link.p99Ms },
        addedP50Ms,
        addedP99Ms,
        errorP50Ms,
        errorP99Ms,
        metP50: Math.abs(errorP50Ms) <= TARGETS.delayP50Ms,
        metP99: Math.abs(errorP99Ms) <= TARGETS.delayP99Ms,
        backToBackErrorP50Ms: gapMs === 0 ? null : link.p50Ms - backToBack.p50Ms - configuredRttMs,
        backToBackErrorP99Ms: gapMs === 0 ? null : link.p99Ms - backToBack.p99Ms - configuredRttMs,
        linkCores: medianOrNull(
          runs.filter((r) => r.load === load && r.delayMs === delayMs).map((r) => r.linkCores),
        ),
        releaseLate: pooledLateness(runs.filter((r) => r.load === load && r.delayMs === delayMs)),
      });
    }
  }
  return rows;
}

function pooledLateness(runs: readonly DelayRun[]): LatenessSummary | null {
  const counts = runs.map((r) => r.releaseLateCounts).filter((c) => c != null);
  if (counts.length === 0) return null;
  const sum = counts[0]!.map((_, i) => counts.reduce((total, c) => total + (c[i] ?? 0), 0));
  return summariseLateness(sum);
}

export function bandwidthRows(runs: readonly BandwidthRun[]): BandwidthRow[] {
  const rows: BandwidthRow[] = [];
  const keys = [...new Set(runs.map((r) => `${r.mbps}|${r.direction}`))];
  for (const key of keys) {
    const group = runs.filter((r) => `${r.mbps}|${r.direction}` === key);
    const first = group[0]!;
    const goodput = spanOf(group.map((r) => r.goodputMbps));
    const error = goodput.median / first.mbps - 1;
    const errors = group.map((r) => r.goodputMbps / first.mbps - 1);
    const worstError = errors.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
    rows.push({
      direction: first.direction,
      mbps: first.mbps,
      bytes: first.bytes,
      goodputMbps: goodput,
      error,
      worstError,
      met: Math.abs(error) <= TARGETS.bandwidthShare,
      linkCores: medianOrNull(group.map((r) => r.linkCores)),
    });
  }
  return rows.sort((a, b) => a.mbps - b.mbps || a.direction.localeCompare(b.direction) * -1);
}

export function ceilingRows(runs: readonly CeilingRun[]): CeilingRow[] {
  const rows: CeilingRow[] = [];
  const keys = [...new Set(runs.map((r) => `${r.kind}|${r.connections}`))];
  for (const key of keys) {
    const group = runs.filter((r) => `${r.kind}|${r.connections}` === key);
    const direct = group.filter((r) => r.target === 'direct');
    const link = group.filter((r) => r.target === 'link');
    const ratios: number[] = [];
    for (const l of link) {
      const d = direct.find((r) => r.round === l.round);
      if (d !== undefined && d.value > 0) ratios.push(l.value / d.value);
    }
    const kind = group[0]!.kind;
    rows.push({
      kind,
      connections: group[0]!.connections,
      unit: kind === 'round trips' ? 'round trips/s' : 'MB/s',
      direct: median(direct.map((r) => r.value)),
      link: median(link.map((r) => r.value)),
      ratio: spanOf(ratios),
      linkCpuUsPerUnit: medianOrNull(link.map((r) => r.linkCpuUsPerUnit)),
    });
  }
  return rows;
}

/** Disagreements between the link's counts and the generator's. */
export function byteProblems(checks: readonly ByteCheck[]): string[] {
  const problems: string[] = [];
  for (const c of checks) {
    for (const [what, pair] of Object.entries({
      connections: c.connections,
      'bytes up': c.up,
      'bytes down': c.down,
    })) {
      if (pair.generator !== pair.link) {
        problems.push(
          `link ${c.link}: counted ${pair.link} ${what}, the generator ${pair.generator}`,
        );
      }
    }
  }
  return problems;
}

/** Whether the machine was quiet enough; the reasons if not. */
export function quietVerdict(result: Pick<NetemResult, 'machine'> & { measured: Measured[] }): {
  valid: boolean;
  reasons: string[];
  disturbed: number;
  total: number;
  medianOtherCores: number | null;
  medianStealCores: number | null;
  maxStealCores: number | null;
} {
  const reasons: string[] = [];
  const busy = result.machine.busyBeforeStart;
  if (busy !== null && busy > QUIET.busyBeforeStart) {
    reasons.push(
      `the machine was ${(busy * 100).toFixed(0)}% busy before the start (over ${QUIET.busyBeforeStart * 100}%)`,
    );
  }
  const known = result.measured.filter((m) => m.otherCores !== null);
  const disturbed = known.filter((m) => m.otherCores! > QUIET.disturbedCores).length;
  if (known.length > 0 && disturbed / known.length > QUIET.disturbedShare) {
    reasons.push(
      `other work took over ${QUIET.disturbedCores} cores in ${disturbed} of ${known.length} measurements (over ${QUIET.disturbedShare * 100}%)`,
    );
  }
  return {
    valid: reasons.length === 0,
    reasons,
    disturbed,
    total: known.length,
    medianOtherCores: medianOrNull(known.map((m) => m.otherCores)),
    ...stealOf(result.measured),
  };
}

function stealOf(measured: readonly Measured[]) {
  const steal = measured
    .map((m) => m.stealCores)
    .filter((v): v is number => v !== undefined && v !== null);
  return {
    medianStealCores: medianOrNull(steal),
    maxStealCores: steal.length === 0 ? null : Math.max(...steal),
  };
}

// Printing.

function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`,
    ...rows.map(line),
  ].join('\n');
}

const fixed = (x: number | null, digits = 3) =>
  x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits);
const signed = (x: number, digits = 3) =>
  !Number.isFinite(x) ? '-' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
const grouped = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const pct = (x: number) =>
  Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%` : '-';
const mib = (bytes: number) => `${Number((bytes / 2 ** 20).toFixed(2))} MiB`;

function delayVerdict(met: boolean, error: number, tolerance: number): string {
  return met ? 'met' : `MISSED by ${(Math.abs(error) - tolerance).toFixed(3)}`;
}

export function formatReport(result: NetemResult): string {
  const m = result.machine;
  const s = result.settings;
  const quiet = quietVerdict({
    machine: m,
    measured: [...result.delayRuns, ...result.bandwidthRuns, ...result.ceilingRuns],
  });
  const valid = quiet.valid && result.problems.length === 0;
  const lines: string[] = [];
  lines.push(
    'netem benchmark: the userspace link (services/netem) against the same traffic direct',
    `${m.cpuModel}, ${m.cores} cores, Node ${m.nodeVersion}, ${m.os}; load average ${m.loadAverage1m.toFixed(2)}, busy before start ${m.busyBeforeStart === null ? '?' : `${(m.busyBeforeStart * 100).toFixed(0)}%`}`,
    `${s.rounds} rounds; ${s.messageBytes}-byte messages: ${s.pings} sequential round trips per target and round, open loop ${s.rate}/s over ${s.connections} connections for ${s.seconds} s; release queue ${s.waker == null ? '' : `woken by a ${s.waker}, `}spins the last ${s.spinMs} ms, token bucket ${s.burstBytes} bytes`,
    '',
  );
  if (result.problems.length > 0) lines.push(`INVALID: ${result.problems.join('; ')}`, '');

  lines.push(
    `Added delay: the round trip through the link less the same traffic direct, less the configured round trip (2 x the one-way delay), ms; percentiles pooled over the rounds. Direct is paced like the link: sequentially, a pause of the configured round trip before each message, so both ends sit idle as long as through the link (under load the open loop's schedule is the same for both). "vs back to back" gives the error against direct back to back instead; "release late" how long after its time the link process ran each release meanwhile (its own timing, which a round trip meets twice). Target: within ${TARGETS.delayP50Ms} ms at p50 and ${TARGETS.delayP99Ms} ms at p99.`,
    '',
    table(
      [
        'load',
        'one-way delay',
        'round trips',
        'direct p50',
        'direct p99',
        'link p50',
        'link p99',
        `error p50 (<= ${TARGETS.delayP50Ms})`,
        `error p99 (<= ${TARGETS.delayP99Ms})`,
        'vs back to back p50 / p99',
        'release late p50 / p99',
        'link cores',
      ],
      result.delay.map((r) => [
        r.load,
        `${r.delayMs} ms`,
        String(r.link.count),
        fixed(r.direct.p50Ms),
        fixed(r.direct.p99Ms),
        fixed(r.link.p50Ms),
        fixed(r.link.p99Ms),
        `${signed(r.errorP50Ms)} ${delayVerdict(r.metP50, r.errorP50Ms, TARGETS.delayP50Ms)}`,
        `${signed(r.errorP99Ms)} ${delayVerdict(r.metP99, r.errorP99Ms, TARGETS.delayP99Ms)}`,
        r.backToBackErrorP50Ms === null || r.backToBackErrorP99Ms === null
          ? '-'
          : `${signed(r.backToBackErrorP50Ms)} / ${signed(r.backToBackErrorP99Ms)}`,
        r.releaseLate?.p50Ms == null || r.releaseLate.p99Ms === null
          ? '-'
          : `${fixed(r.releaseLate.p50Ms)} / ${fixed(r.releaseLate.p99Ms)}`,
        fixed(r.linkCores, 2),
      ]),
      [false, true, true, true, true, true, true, true, true, true, true, true],
    ),
    '',
  );
  const lag = result.delayRuns
    .filter((r) => r.lagP99Ms !== null)
    .map((r) => r.lagP99Ms!)
    .sort((a, b) => a - b);
  if (lag.length > 0) {
    lines.push(
      `Open-loop generator lag p99 (not in the round trips): median ${fixed(median(lag))} ms, worst ${fixed(lag[lag.length - 1]!)} ms.`,
      '',
    );
  }

  const bw = bandwidthRows(result.bandwidthRuns);
  if (bw.length > 0) {
    lines.push(
      `Bandwidth: goodput of one bulk transfer through a link limited to the rate each way (delay 0), from the first byte written to the last one received or acknowledged; min / median / max over the rounds. Target: within ${TARGETS.bandwidthShare * 100}%.`,
      '',
      table(
        [
          'limit Mbit/s',
          'direction',
          'bytes',
          'goodput Mbit/s',
          'median vs limit',
          'worst round',
          'verdict',
          'link cores',
        ],
        bw.map((r) => [
          String(r.mbps),
          r.direction,
          mib(r.bytes),
          `${fixed(r.goodputMbps.min, 2)} / ${fixed(r.goodputMbps.median, 2)} / ${fixed(r.goodputMbps.max, 2)}`,
          pct(r.error),
          pct(r.worstError),
          r.met
            ? 'met'
            : `MISSED by ${((Math.abs(r.error) - TARGETS.bandwidthShare) * 100).toFixed(1)} points`,
          fixed(r.linkCores, 2),
        ]),
        [true, false, true, true, true, true, false, true],
      ),
      '',
    );
  }

  const ceiling = ceilingRows(result.ceilingRuns);
  if (ceiling.length > 0) {
    lines.push(
      'Throughput ceiling: an unlimited link (delay 0, no bandwidth limit) against direct; closed-loop round trips, and one bulk transfer each way; medians over the rounds, the ratio per round (min / median / max).',
      '',
      table(
        [
          'traffic',
          'connections',
          'unit',
          'direct',
          'through the link',
          'link / direct',
          'link CPU µs per unit',
        ],
        ceiling.map((r) => [
          r.kind,
          String(r.connections),
          r.unit,
          grouped(r.direct),
          grouped(r.link),
          `${fixed(r.ratio.min, 2)} / ${fixed(r.ratio.median, 2)} / ${fixed(r.ratio.max, 2)}`,
          fixed(r.linkCpuUsPerUnit, 1),
        ]),
        [false, true, false, true, true, true, true],
      ),
      '',
    );
  }

  if (result.byteChecks.length > 0) {
    const up = result.byteChecks.reduce((a, c) => a + c.up.link, 0);
    const down = result.byteChecks.reduce((a, c) => a + c.down.link, 0);
    const agree = byteProblems(result.byteChecks).length === 0;
    lines.push(
      `Byte counts: the links counted ${grouped(up)} bytes up and ${grouped(down)} down over ${result.byteChecks.reduce((a, c) => a + c.connections.link, 0)} connections; ${agree ? 'every count equals what the generator wrote and read through it' : 'SOME DISAGREE (see INVALID)'}; every byte echoed, uploaded or downloaded was checked against what was sent.`,
      '',
    );
  }

  const delayMet = result.delay.filter((r) => r.metP50 && r.metP99).length;
  const bwMet = bw.filter((r) => r.met).length;
  lines.push(
    `Targets: added delay within tolerance (p50 and p99) in ${delayMet} of ${result.delay.length} rows; bandwidth within ${TARGETS.bandwidthShare * 100}% in ${bwMet} of ${bw.length}.`,
    `Machine: other processes during measurements took a median ${fixed(quiet.medianOtherCores, 2)} cores; ${quiet.disturbed} of ${quiet.total} measurements above ${QUIET.disturbedCores} cores${result.delayRuns.some((r) => r.tries > 1) ? ' (after repeats)' : ''}${quiet.medianStealCores === null ? '' : `; of it, steal by the hypervisor a median ${fixed(quiet.medianStealCores, 3)} cores, at most ${fixed(quiet.maxStealCores, 3)}`}. Elapsed ${result.elapsedSeconds.toFixed(0)} s.`,
    '',
  );
  const reasons = [...result.problems, ...quiet.reasons];
  lines.push(valid ? 'VALID' : `INVALID: ${reasons.join('; ')}`);
  return `${lines.join('\n')}\n`;
}
