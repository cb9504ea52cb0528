/**
 * The decision benchmark's files (`--out <dir>`): results.json (everything but the
 * per-request data), report.txt, the workloads and every run's per-request outcomes as
 * CSV.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DecisionResults } from './decision-benchmark.ts';
import type { JudgedRun } from './decision-judge.ts';
import type { RunRecord } from './decision-run.ts';
import { SIM_TIERS, simLatency } from './sim-tiers.ts';
import type { WorkRequest } from './workload.ts';

function outcomesCsv(record: RunRecord): string {
  const lines = [
    'id,status,latency_ms,lag_ms,tier,decision,attempts,est_latency_ms,latency_basis,est_joules,joules_basis,error',
  ];
  for (const o of record.outcomes) {
    lines.push(
      [
        o.id,
        o.status ?? '',
        o.latencyMs.toFixed(3),
        o.lagMs.toFixed(2),
        o.tier ?? '',
        o.decision ?? '',
        o.attempts,
        o.estLatencyMs ?? '',
        o.latencyBasis ?? '',
        o.estJoules ?? '',
        o.joulesBasis ?? '',
        o.errorCode ?? '',
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Every request: class, budget, schedule, (hour) and its simulated latency at each tier. */
function workloadCsv(requests: readonly WorkRequest[], hours: readonly number[] | null): string {
  const names = SIM_TIERS.map((t) => t.name);
  const lines = [
    [
      'id',
      'class',
      'budget_ms',
      'at_ms',
      ...(hours === null ? [] : ['hour']),
      ...names.map((n) => `${n}_sim_ms`),
    ].join(','),
  ];
  for (const [i, r] of requests.entries()) {
    lines.push(
      [
        r.id,
        r.budgetClass,
        r.budgetMs,
        r.atMs.toFixed(2),
        ...(hours === null ? [] : [hours[i]]),
        ...SIM_TIERS.map((t) => simLatency(t, r.id).totalMs.toFixed(3)),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

const fileName = (run: string) => run.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/-+$/, '');
const outcomesFile = (record: RunRecord) => `outcomes-${fileName(record.run)}.csv`;

/** A record as results.json keeps it: its outcomes in their CSV file instead. */
function stripped(record: RunRecord) {
  const { outcomes: _o, ...rest } = record;
  return { ...rest, outcomesFile: outcomesFile(record) };
}

const strippedRuns = (runs: readonly JudgedRun[]) =>
  runs.map((x) => ({ summary: x.summary, verdict: x.verdict, record: stripped(x.record) }));

/** Writes results.json (no per-request data), report.txt, workload and outcome CSVs. */
export async function saveResults(dir: string, r: DecisionResults, report: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const records = [
    ...r.main.runs.map((x) => x.record),
    ...(r.replayRecord === null ? [] : [r.replayRecord]),
    ...(r.carbon?.runs.map((x) => x.record) ?? []),
    ...(r.spike === null ? [] : [r.spike.record]),
  ];
  const json = {
    ...r,
    workload: undefined,
    workloadFile: 'workload.csv',
    main: { ...r.main, runs: strippedRuns(r.main.runs) },
    replayRecord: r.replayRecord === null ? null : stripped(r.replayRecord),
    spike: r.spike === null ? null : { ...r.spike, record: stripped(r.spike.record) },
    carbon:
      r.carbon === null
        ? null
        : {
            ...r.carbon,
            requests: undefined,
            hours: undefined,
            workloadFile: 'workload-carbon.csv',
            runs: strippedRuns(r.carbon.runs),
          },
  };
  await writeFile(join(dir, 'results.json'), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(join(dir, 'report.txt'), `${report}\n`);
  await writeFile(join(dir, 'workload.csv'), workloadCsv(r.workload, null));
  if (r.carbon !== null) {
    await writeFile(
      join(dir, 'workload-carbon.csv'),
      workloadCsv(r.carbon.requests, r.carbon.hours),
    );
  }
  for (const record of records) {
    await writeFile(join(dir, outcomesFile(record)), outcomesCsv(record));
  }
}
