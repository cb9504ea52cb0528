/**
 * The hop benchmark's results, their summaries (medians over rounds, the hop's added
 * latency round by round, the router against nginx and the node proxy, throughput
 * ratios) and the tables printed from them. Pure functions of the raw results, so the
 * tests drive them with made-up figures.
 */
import { median } from '../../../services/common/stats.ts';
import type { MachineInfo } from '../serving/machine.ts';
import { NODE_PROXY, type TargetKind } from './hop-servers.ts';

/** The issue's targets for the router's hop at moderate load. */
export const TARGETS = {
  addedP50Ms: 0.15,
  addedP99Ms: 0.5,
  /** Router's added latency over nginx's, at most. */
  overNginx: 2,
} as const;

export const SEQUENTIAL = 'sequential';

/** "sequential" or "500/s" (an open-loop rate). */
export function loadLabel(rate: number | null): string {
  return rate === null ? SEQUENTIAL : `${rate}/s`;
}

export interface LatencyRun {
  round: number;
  /** loadLabel(): sequential, or an open-loop rate. */
  load: string;
  target: string;
  kind: TargetKind;
  policy?: string;
  /** Answers that were 200 with the direct node's bytes; the latencies are theirs. */
  requests: number;
  /** Requests without such an answer: another status, other bytes, a failed connection, none. */
  wrong: number;
  firstProblem: string | null;
  /** Open loop: requests that waited in the client for a free connection. */
  queued: number;
  seconds: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
  /** Median of the router's own Server-Timing `router` (null for other targets). */
  routerSelfP50Ms: number | null;
  /** Open loop: from when requests were due to when the client wrote them (its own lag); null sequentially. */
  sendLagP50Ms: number | null;
  sendLagP99Ms: number | null;
  /** CPU of the proxy process (router, node proxy or nginx) per request, µs; null for direct or without /proc. */
  proxyCpuUsPerRequest: number | null;
  nodeCpuUsPerRequest: number | null;
  /** Cores other processes used meanwhile (machine.ts otherCores). */
  otherCores: number | null;
  /** Measurements taken, this one the last (--wait-idle repeats a disturbed one). */
  tries: number;
}

export interface ThroughputRun {
  round: number;
  concurrency: number;
  target: string;
  kind: TargetKind;
  requestsPerSecond: number;
  /** Non-2xx answers and socket errors (wrk's count). */
  errors: number;
  /** Requests of the checked sample after the run that were not the expected answer. */
  wrongInCheck: number;
  proxyCpuUsPerRequest: number | null;
  otherCores: number | null;
  tries: number;
}

export interface HopSettings {
  model: string;
  seconds: number;
  rounds: number;
  rates: number[];
  concurrency: number[];
  policies: string[];
  warmupSeconds: number;
  connections: number;
  budgetMs: number;
  requestBytes: number;
  answerBytes: number;
  /** Node options as the node reports them (its effective config). */
  nodeConfig: Record<string, unknown>;
  routerConfig: Record<string, unknown>;
  /** What --router-options set (empty: the benchmark's own settings only). */
  routerOptions?: Record<string, unknown>;
  /** The node proxy's settings as it reports them; null when left out (absent before it existed). */
  nodeProxyConfig?: Record<string, unknown> | null;
  /** The nginx configuration used, verbatim (its paths are a temp folder). */
  nginxConfig: string | null;
  throughputClient: string | null;
}

export interface HopResult {
  startedAt: string;
  machine: MachineInfo;
  settings: HopSettings;
  versions: { nginx: string | null; wrk: string | null };
  /** Latency targets in the order measured in every round. */
  targets: string[];
  latency: LatencyRun[];
  /** Throughput targets in the order measured. */
  throughputTargets: string[];
  throughput: ThroughputRun[];
  /** What was left out, and why (no nginx, no node proxy, no wrk). */
  skipped: string[];
  /** Anything that makes the run INVALID. */
  problems: string[];
  elapsedSeconds: number;
}

export interface TargetLatency {
  load: string;
  target: string;
  kind: TargetKind;
  rounds: number;
  p50Ms: number;
  p99Ms: number;
  /** Median over rounds of (this target - direct) in the same round; null for direct. */
  addedP50Ms: number | null;
  addedP99Ms: number | null;
  routerSelfP50Ms: number | null;
  /** The client's own lag (open loop), p99, median over rounds. */
  sendLagP99Ms: number | null;
  proxyCpuUsPerRequest: number | null;
  nodeCpuUsPerRequest: number | null;
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return known.length === 0 ? null : median(known);
}

interface RoundRun {
  round: number;
  target: string;
  kind: TargetKind;
}

interface TargetRuns<R, L> {
  level: L;
  target: string;
  kind: TargetKind;
  own: R[];
  /** Direct's run of each round at the same level, by round. */
  direct: Map<number, R>;
}

/** The runs at each level (a load, a connection count), target by target in `targets` order. */
function byLevelAndTarget<R extends RoundRun, L>(
  runs: readonly R[],
  levels: readonly L[],
  levelOf: (run: R) => L,
  targets: readonly string[],
): TargetRuns<R, L>[] {
  const out: TargetRuns<R, L>[] = [];
  for (const level of levels) {
    const atLevel = runs.filter((r) => levelOf(r) === level);
    const direct = new Map(atLevel.filter((r) => r.kind === 'direct').map((r) => [r.round, r]));
    for (const target of targets) {
      const own = atLevel.filter((r) => r.target === target);
      if (own.length > 0) out.push({ level, target, kind: own[0]!.kind, own, direct });
    }
  }
  return out;
}

/** `pair(run, direct's run of the same round)` for every round direct was measured in. */
function pairedByRound<R extends RoundRun>(
  group: TargetRuns<R, unknown>,
  pair: (run: R, direct: R) => number | null,
): (number | null)[] {
  return group.own.map((r) => {
    const d = group.direct.get(r.round);
    return d === undefined ? null : pair(r, d);
  });
}

/** One row per load and target: medians over rounds, and the added latency paired round by round. */
export function latencySummary(result: Pick<HopResult, 'latency' | 'targets'>): TargetLatency[] {
  const loads = [...new Set(result.latency.map((r) => r.load))];
  return byLevelAndTarget(result.latency, loads, (r) => r.load, result.targets).map((group) => {
    const { level: load, target, kind, own } = group;
    const added = (pick: (r: LatencyRun) => number) =>
      kind === 'direct' ? null : medianOrNull(pairedByRound(group, (r, d) => pick(r) - pick(d)));
    return {
      load,
      target,
      kind,
      rounds: own.length,
      p50Ms: median(own.map((r) => r.p50Ms)),
      p99Ms: median(own.map((r) => r.p99Ms)),
      addedP50Ms: added((r) => r.p50Ms),
      addedP99Ms: added((r) => r.p99Ms),
      routerSelfP50Ms: medianOrNull(own.map((r) => r.routerSelfP50Ms)),
      sendLagP99Ms: medianOrNull(own.map((r) => r.sendLagP99Ms)),
      proxyCpuUsPerRequest: medianOrNull(own.map((r) => r.proxyCpuUsPerRequest)),
      nodeCpuUsPerRequest: medianOrNull(own.map((r) => r.nodeCpuUsPerRequest)),
    };
  });
}

export interface Check {
  /** What is compared, e.g. "added p50". */
  what: string;
  value: number | null;
  limit: number | null;
  met: boolean | null;
  /** "0.123 ms <= 0.15: met" */
  text: string;
}

export interface RouterVerdict {
  load: string;
  target: string;
  addedP50: Check;
  addedP99: Check;
  /** Router's added p50 / nginx's (null without nginx). */
  overNginxP50: Check | null;
  overNginxP99: Check | null;
  /** Router's added latency / the node proxy's: no target, the share beyond Node's own hop (null without it). */
  overNodeProxyP50: Ratio | null;
  overNodeProxyP99: Ratio | null;
}

export interface Ratio {
  /** Null where it is not measured or the base adds nothing measurable (<= 0). */
  value: number | null;
  /** "2.10x", or why there is no ratio. */
  text: string;
}

function limitCheck(what: string, value: number | null, limit: number, unit: string): Check {
  if (value === null) return { what, value, limit, met: null, text: 'not measured' };
  const met = value <= limit;
  const shown = `${value.toFixed(3)} ${unit}`;
  return {
    what,
    value,
    limit,
    met,
    text: met ? `${shown}: met` : `${shown}: missed by ${(value - limit).toFixed(3)}`,
  };
}

/**
 * Router's added latency against nginx's: met when router <= 2 x nginx (read off the
 * medians). The ratio is shown only where nginx adds something; where it adds nothing
 * measurable (<= 0) no positive router figure can meet it.
 */
function nginxCheck(what: string, router: number | null, nginx: number | null): Check | null {
  if (nginx === null) return null;
  if (router === null)
    return { what, value: null, limit: TARGETS.overNginx, met: null, text: 'not measured' };
  const met = router <= TARGETS.overNginx * nginx;
  if (nginx <= 0) {
    return {
      what,
      value: null,
      limit: TARGETS.overNginx,
      met,
      text: `nginx adds ${nginx.toFixed(3)} ms: ${met ? 'met' : 'missed'}`,
    };
  }
  const ratio = router / nginx;
  return {
    what,
    value: ratio,
    limit: TARGETS.overNginx,
    met,
    text: `${ratio.toFixed(2)}x: ${met ? 'met' : `missed by ${(ratio - TARGETS.overNginx).toFixed(2)}x`}`,
  };
}

/** `router / base` (added latencies, ms); null without a base. */
function ratioTo(baseName: string, router: number | null, base: number | null): Ratio | null {
  if (base === null) return null;
  if (router === null) return { value: null, text: 'not measured' };
  if (base <= 0) return { value: null, text: `${baseName} adds ${base.toFixed(3)} ms` };
  const value = router / base;
  return { value, text: `${value.toFixed(2)}x` };
}

/** The issue's targets, for every router at every load, and the ratio to the node proxy. */
export function routerVerdicts(rows: readonly TargetLatency[]): RouterVerdict[] {
  const out: RouterVerdict[] = [];
  for (const row of rows) {
    if (row.kind !== 'router') continue;
    const nginx = rows.find((r) => r.load === row.load && r.kind === 'nginx');
    const nodeProxy = rows.find((r) => r.load === row.load && r.kind === 'node-proxy');
    out.push({
      load: row.load,
      target: row.target,
      addedP50: limitCheck('added p50', row.addedP50Ms, TARGETS.addedP50Ms, 'ms'),
      addedP99: limitCheck('added p99', row.addedP99Ms, TARGETS.addedP99Ms, 'ms'),
      overNginxP50: nginxCheck('p50 over nginx', row.addedP50Ms, nginx?.addedP50Ms ?? null),
      overNginxP99: nginxCheck('p99 over nginx', row.addedP99Ms, nginx?.addedP99Ms ?? null),
      overNodeProxyP50: ratioTo(NODE_PROXY, row.addedP50Ms, nodeProxy?.addedP50Ms ?? null),
      overNodeProxyP99: ratioTo(NODE_PROXY, row.addedP99Ms, nodeProxy?.addedP99Ms ?? null),
    });
  }
  return out;
}

export interface ThroughputRow {
  concurrency: number;
  target: string;
  kind: TargetKind;
  requestsPerSecond: number;
  /** Over direct in the same round: min / median / max; null for direct. */
  ratio: { min: number; median: number; max: number } | null;
  proxyCpuUsPerRequest: number | null;
}

export function throughputSummary(
  result: Pick<HopResult, 'throughput' | 'throughputTargets'>,
): ThroughputRow[] {
  const levels = [...new Set(result.throughput.map((r) => r.concurrency))].sort((a, b) => a - b);
  const groups = byLevelAndTarget(
    result.throughput,
    levels,
    (r) => r.concurrency,
    result.throughputTargets,
  );
  return groups.map((group) => {
    const { level: concurrency, target, kind, own } = group;
    const ratios = pairedByRound(group, (r, d) =>
      d.requestsPerSecond <= 0 ? null : r.requestsPerSecond / d.requestsPerSecond,
    )
      .filter((v): v is number => v !== null)
      .sort((a, b) => a - b);
    return {
      concurrency,
      target,
      kind,
      requestsPerSecond: median(own.map((r) => r.requestsPerSecond)),
      ratio:
        kind === 'direct' || ratios.length === 0
          ? null
          : { min: ratios[0]!, median: median(ratios), max: ratios[ratios.length - 1]! },
      proxyCpuUsPerRequest: medianOrNull(own.map((r) => r.proxyCpuUsPerRequest)),
    };
  });
}

/** Left-aligned first column, the rest right-aligned, two spaces between. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

const ms = (v: number | null): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(3));
const us = (v: number | null): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(0));
const signed = (v: number | null): string =>
  v === null || !Number.isFinite(v) ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;

function busyText(result: HopResult): string {
  const others = [...result.latency, ...result.throughput]
    .map((r) => r.otherCores)
    .filter((v): v is number => v !== null);
  const m = result.machine;
  const before = m.busyBeforeStart === null ? '?' : `${(m.busyBeforeStart * 100).toFixed(0)}%`;
  const during =
    others.length === 0
      ? 'not measured'
      : `median ${median(others).toFixed(2)}, max ${Math.max(...others).toFixed(2)} cores`;
  const runs = [...result.latency, ...result.throughput];
  const repeated = runs.filter((r) => r.tries > 1).length;
  const again =
    repeated === 0
      ? ''
      : `; ${repeated} of ${runs.length} measurements repeated after other work disturbed them`;
  return `machine busy before start ${before} (load average ${m.loadAverage1m.toFixed(2)}); other processes during measurements: ${during}${again}`;
}

function proxiesText(result: HopResult): string {
  const s = result.settings;
  const options =
    s.routerOptions === undefined || Object.keys(s.routerOptions).length === 0
      ? ''
      : `, options ${JSON.stringify(s.routerOptions)}`;
  const routers = `router policies ${s.policies.join(', ')} (one process each, topology: the node alone${options})`;
  const connections = s.nodeProxyConfig?.connections;
  const nodeProxy =
    s.nodeProxyConfig === undefined || s.nodeProxyConfig === null
      ? `no ${NODE_PROXY}`
      : `${NODE_PROXY} (node:http and one undici Pool${connections === undefined ? '' : ` of ${connections} connections`}, no decision)`;
  const nginx =
    result.versions.nginx === null
      ? 'no nginx'
      : `${result.versions.nginx} (one process, master_process off; upstream keepalive 32, HTTP/1.1)`;
  return `proxies: ${routers}; ${nodeProxy}; ${nginx}`;
}

/** Everything printed to stdout: settings, the latency table, the verdicts, the throughput table. */
export function formatReport(result: HopResult): string {
  const s = result.settings;
  const m = result.machine;
  const lines: string[] = [];
  const valid = result.problems.length === 0;
  if (!valid) lines.push(`INVALID: ${result.problems.join('; ')}`, '');
  lines.push(
    `router hop benchmark: ${s.model}, batch-1 binary requests (${s.requestBytes} B; answers ${s.answerBytes} B), x-latency-budget-ms ${s.budgetMs}`,
    `machine: ${m.cpuModel}, ${m.cores} cores, Node ${m.nodeVersion}, ${m.os}`,
    busyText(result),
    proxiesText(result),
    `rounds: ${s.rounds}, each: ${result.targets.join(', ')} in turn, ${s.seconds} s per target and load; medians over rounds`,
    `loads: sequential (1 connection, one request at a time), open loop at ${s.rates.map((r) => `${r}/s`).join(', ')} over ${s.connections} connections (latency from each request's scheduled time)`,
  );
  for (const skip of result.skipped) lines.push(`skipped: ${skip}`);

  const rows = latencySummary(result);
  lines.push(
    '',
    'Latency (ms, median over rounds; added = target - direct, paired by round, then the median)',
  );
  lines.push(
    ...table(
      [
        'load',
        'target',
        'p50',
        'p99',
        'added p50',
        'added p99',
        'router self p50',
        'client lag p99',
        'proxy CPU µs/req',
        'node CPU µs/req',
      ],
      rows.map((r) => [
        r.load,
        r.target,
        ms(r.p50Ms),
        ms(r.p99Ms),
        signed(r.addedP50Ms),
        signed(r.addedP99Ms),
        ms(r.routerSelfP50Ms),
        ms(r.sendLagP99Ms),
        us(r.proxyCpuUsPerRequest),
        us(r.nodeCpuUsPerRequest),
      ]),
    ),
  );

  const verdicts = routerVerdicts(rows);
  if (verdicts.length > 0) {
    lines.push(
      '',
      `Router's targets: added p50 <= ${TARGETS.addedP50Ms} ms, added p99 <= ${TARGETS.addedP99Ms} ms, added <= ${TARGETS.overNginx}x nginx's`,
    );
    lines.push(
      ...table(
        [
          'load',
          'target',
          'added p50',
          'added p99',
          'p50 / nginx',
          'p99 / nginx',
          'router added / node proxy added',
        ],
        verdicts.map((v) => [
          v.load,
          v.target,
          v.addedP50.text,
          v.addedP99.text,
          v.overNginxP50?.text ?? '-',
          v.overNginxP99?.text ?? '-',
          v.overNodeProxyP50 === null || v.overNodeProxyP99 === null
            ? '-'
            : `p50 ${v.overNodeProxyP50.text}, p99 ${v.overNodeProxyP99.text}`,
        ]),
      ),
    );
    const checks = verdicts.flatMap((v) =>
      [v.addedP50, v.addedP99, v.overNginxP50, v.overNginxP99]
        .filter((c): c is Check => c !== null && c.met !== null)
        .map((c) => ({ ...c, where: `${v.target} ${v.load} ${c.what}` })),
    );
    const met = checks.filter((c) => c.met === true).map((c) => c.where);
    const missed = checks.filter((c) => c.met === false).map((c) => c.where);
    // The shorter list is the one worth reading.
    const which =
      missed.length === 0
        ? ''
        : met.length < missed.length
          ? `; met: ${met.length === 0 ? 'none' : met.join(', ')}`
          : `; missed: ${missed.join(', ')}`;
    lines.push(`targets: ${met.length} of ${checks.length} met${which}`);
  }

  const throughput = throughputSummary(result);
  if (throughput.length > 0) {
    lines.push(
      '',
      `Throughput against the null node (closed loop, ${s.throughputClient ?? '?'}, ${s.seconds} s per run; requests/s median over rounds; ratio to direct per round, min / median / max)`,
    );
    lines.push(
      ...table(
        ['connections', 'target', 'requests/s', '/ direct', 'proxy CPU µs/req'],
        throughput.map((r) => [
          String(r.concurrency),
          r.target,
          Math.round(r.requestsPerSecond).toLocaleString('en-US'),
          r.ratio === null
            ? '-'
            : [r.ratio.min, r.ratio.median, r.ratio.max].map((v) => v.toFixed(2)).join(' / '),
          us(r.proxyCpuUsPerRequest),
        ]),
      ),
    );
  }
  lines.push(
    '',
    `elapsed ${Math.round(result.elapsedSeconds)} s`,
    valid ? 'VALID' : `INVALID: ${result.problems.join('; ')}`,
  );
  return `${lines.join('\n')}\n`;
}
