/**
 * A run of generative phases alone, end to end: the zoo's gpt on two tiers started in
 * this process, each request one generate_stream. The records carry each request's
 * tokens, time to first token and time per output token; the summary's generation
 * figures come out as recomputed here from the records (tokens, TTFT and TPOT
 * percentiles, joules per token from the phase-end energy window); report.md, the CSV
 * and the terminal table show the generation table with those numbers; and the summary
 * regenerated from the records is the same. The joules come from the estimate meter on
 * machines without RAPL: the test checks their arithmetic and provenance, not their size.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { readRecords } from '../../bench/harness/read-records.ts';
import type {
  NodeWindow,
  PhaseEndLine,
  PhaseStartLine,
  RecordLine,
  RequestLine,
} from '../../bench/harness/records.ts';
import { type BenchResult, reportRun, runBench } from '../../bench/harness/run.ts';
import { formatCount, formatJoules, formatMs, formatNumber } from '../../bench/report/format.ts';
import { renderTerminalTable } from '../../bench/report/index.ts';
import { parseScenario } from '../../bench/scenario/load.ts';
import type { PhaseSummary } from '../../bench/summary/types.ts';
import { DEFAULT_TOPOLOGY_PATH } from '../../services/router/topology/index.ts';

const NODES = ['edge', 'device'];
const MAX_TOKENS = 8;

let dir = '';
let result: BenchResult;
let lines: RecordLine[] = [];

/** The default topology, gpt alone on each node (its series files found from here). */
async function gptTopology(): Promise<string> {
  const t = parse(readFileSync(DEFAULT_TOPOLOGY_PATH, 'utf8'));
  for (const site of Object.values(t.sites) as Array<{ carbonIntensity: { series?: string } }>) {
    if (site.carbonIntensity.series !== undefined) {
      site.carbonIntensity.series = join(DEFAULT_TOPOLOGY_PATH, '..', site.carbonIntensity.series);
    }
  }
  for (const node of t.nodes) node.models = ['gpt'];
  const file = join(dir, 'topology.yaml');
  await writeFile(file, stringify(t));
  return file;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeshift-generate-'));
  const file = join(dir, 'generate.yaml');
  const text = stringify({
    name: 'generate',
    topology: { file: await gptTopology(), mode: 'in-process' },
    idleS: 1,
    warmupS: 0.3,
    durationS: 1,
    minQueries: 5,
    maxDurationS: 30,
    stability: { windowS: 0.25, lastN: 3, tolerance: 0.5 },
    tiers: null,
    routed: null,
    generate: { model: 'gpt', only: NODES, maxTokens: MAX_TOKENS },
  });
  result = await runBench({
    loaded: parseScenario(text, file),
    resultsDir: dir,
    runId: 'generate',
    command: ['test'],
    signal: new AbortController().signal,
    log: () => {},
  });
  const read = await readRecords(join(result.dir, 'records.jsonl'));
  assert.deepEqual(read.warnings, []);
  lines = read.lines;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const phaseNames = NODES.map((node) => `generate:${node}`);

function measuredOk(phase: string): RequestLine[] {
  return lines.filter(
    (l): l is RequestLine => l.type === 'request' && l.phase === phase && l.measured && l.ok,
  );
}

function phaseEnd(phase: string): PhaseEndLine {
  const end = lines.find((l): l is PhaseEndLine => l.type === 'phase-end' && l.phase === phase);
  assert.ok(end, `${phase} has a phase-end line`);
  return end;
}

function summaryOf(phase: string): PhaseSummary & { generate: object } {
  const p = result.summary.phases.find((x) => x.phase === phase);
  assert.ok(p?.generate, `${phase} has generation figures`);
  return p as PhaseSummary & { generate: object };
}

/** Nearest rank, as an HDR histogram reports it to 3 significant digits (and 1 µs). */
function assertPercentile(hdr: number | null, values: readonly number[], p: number, what: string) {
  const sorted = [...values].sort((a, b) => a - b);
  const exact = sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
  assert.ok(hdr !== null, `${what}: a p${p}`);
  assert.ok(Math.abs(hdr - exact) <= exact * 1e-3 + 1e-3, `${what}: p${p} ${hdr} vs ${exact}`);
}

/** The node's joules over the window on one basis, summed over its working meters. */
function windowJoules(w: NodeWindow, basis: 'attributed' | 'active' | 'gross'): number {
  const working = (w.window?.meters ?? []).filter(
    (m) => m.state === 'working' && m.grossJoules !== null,
  );
  assert.ok(working.length > 0, `${w.node}: a working meter`);
  let total = 0;
  for (const m of working) {
    if (basis === 'gross') total += m.grossJoules!;
    else if (basis === 'active') total += m.activeJoules!;
    else {
      const domains = m.domains.filter((d) => m.totalDomains.includes(d.domain));
      const attributed = domains.map((d) => d.attributedJoules);
      total += attributed.every((j) => j !== null)
        ? attributed.reduce((a, j) => a + j!, 0)
        : m.activeJoules!;
    }
  }
  return total;
}

describe('a run of generative phases alone', () => {
  it('runs one generate_stream phase per node asked for, and nothing else', () => {
    const starts = lines.filter((l): l is PhaseStartLine => l.type === 'phase-start');
    assert.deepEqual(
      starts.map((s) => [s.phase, s.kind, s.target, s.model]),
      NODES.map((node) => [`generate:${node}`, 'generate', node, 'gpt']),
    );
    assert.equal(lines.at(-1)?.type, 'run-end');
    assert.equal(result.summary.outcome, 'completed');
    assert.deepEqual(result.summary.tiers, []);
    assert.deepEqual(result.summary.policies, []);
  });

  it('records tokens, TTFT and TPOT for every measured request', () => {
    for (const phase of phaseNames) {
      const measured = lines.filter(
        (l): l is RequestLine => l.type === 'request' && l.phase === phase && l.measured,
      );
      assert.ok(measured.length >= 5, `${phase}: ${measured.length} measured`);
      for (const r of measured) {
        const at = `${phase} #${r.seq}`;
        assert.ok(r.ok, `${at}: ${r.status} ${r.errorCode}`);
        assert.equal(r.node, phase.slice('generate:'.length), at);
        assert.ok(Number.isInteger(r.tokens) && r.tokens! >= 1 && r.tokens! <= MAX_TOKENS, at);
        assert.ok(r.ttftMs !== undefined && r.ttftMs > 0, at);
        // The last token's event came before the stream ended.
        const lastTokenMs = r.ttftMs + (r.tokens! > 1 ? r.tpotMs! * (r.tokens! - 1) : 0);
        assert.ok(r.sentMs + lastTokenMs <= r.doneMs + 1e-6, at);
        if (r.tokens! > 1) assert.ok(r.tpotMs !== undefined && r.tpotMs >= 0, at);
        else assert.equal(r.tpotMs, undefined, at);
      }
    }
  });

  it('summarises tokens, TTFT and TPOT as recomputed from the records', () => {
    for (const phase of phaseNames) {
      const ok = measuredOk(phase);
      const g = summaryOf(phase).generate!;
      assert.equal(
        g.tokens,
        ok.reduce((a, r) => a + r.tokens!, 0),
        phase,
      );
      const ttft = ok.map((r) => r.ttftMs!);
      const tpot = ok.flatMap((r) => (r.tpotMs === undefined ? [] : [r.tpotMs]));
      assert.equal(g.ttftMs.count, ttft.length);
      assert.equal(g.tpotMs.count, tpot.length);
      assert.ok(tpot.length > 0, `${phase}: requests of two tokens or more`);
      for (const p of [50, 99] as const) {
        assertPercentile(g.ttftMs[`p${p}`], ttft, p, `${phase} TTFT`);
        assertPercentile(g.tpotMs[`p${p}`], tpot, p, `${phase} TPOT`);
      }
    }
  });

  it("gives joules per token as the node's window joules over its tokens", () => {
    for (const phase of phaseNames) {
      const summary = summaryOf(phase);
      const g = summary.generate!;
      const window = phaseEnd(phase).energy.find((e) => e.node === summary.target)!;
      // The energy was divided over the requests the node served: every successful one.
      assert.equal(window.inferences, measuredOk(phase).length, phase);
      const basis = /the node's (attributed|active|gross) joules/.exec(
        g.joulesPerToken.source,
      )?.[1] as 'attributed' | 'active' | 'gross' | undefined;
      assert.ok(basis, g.joulesPerToken.source);
      const expected = windowJoules(window, basis) / g.tokens;
      assert.ok(g.joulesPerToken.value !== null && g.joulesPerToken.value > 0, phase);
      assert.ok(Math.abs(g.joulesPerToken.value - expected) <= expected * 1e-9, phase);
      assert.equal(g.joulesPerToken.unit, 'J/token');
      const energy = summary.energy.find((e) => e.node === summary.target)!;
      assert.equal(g.joulesPerToken.basis, energy.provenance[0]);

      // The footprint per 1,000 tokens: the tier's per 1,000 inferences x requests / tokens.
      const fp = summary.footprint[summary.tier!]!;
      const spread = summary.ok / g.tokens;
      for (const [figure, perThousand] of [
        [g.per1000Tokens.carbonG, fp.per1000.carbonG],
        [g.per1000Tokens.waterL, fp.per1000.waterL],
      ] as const) {
        assert.equal(figure.basis, 'derived');
        assert.ok(perThousand !== null && figure.value !== null, figure.source);
        assert.ok(Math.abs(figure.value - perThousand * spread) <= figure.value * 1e-9);
      }
    }
  });

  it('shows the generation table in report.md, the CSV and the terminal', async () => {
    const md = await readFile(join(result.dir, 'report.md'), 'utf8');
    assert.match(md, /## Generation per tier\n/);
    assert.ok(md.includes('n/a (no tier phases in this run)'));
    const csv = (await readFile(join(result.dir, 'summary.csv'), 'utf8')).split('\r\n');
    const header = csvFields(csv[0]!);
    const terminal = renderTerminalTable(result.summary, 'report.html');
    assert.ok(!terminal.some((l) => l.includes('no tier phases')), terminal.join('\n'));
    assert.match(terminal[0]!, /^generate\s+tokens\s+TTFT p50/);
    for (const phase of phaseNames) {
      const p = summaryOf(phase);
      const g = p.generate!;
      const { carbonG, waterL } = g.per1000Tokens;
      const row = [
        p.tier,
        p.target,
        formatCount(p.ok),
        formatCount(g.tokens),
        formatMs(g.ttftMs.p50),
        formatMs(g.ttftMs.p99),
        formatMs(g.tpotMs.p50),
        formatMs(g.tpotMs.p99),
      ].join(' | ');
      const energy = [
        formatJoules(g.joulesPerToken.value),
        g.joulesPerToken.basis,
        formatNumber(carbonG.value),
        formatNumber(waterL.value),
      ].join(' | ');
      assert.match(
        md,
        new RegExp(`\\| ${escapeRegExp(row)} \\| [^|]+ \\| ${escapeRegExp(energy)} \\|`),
      );
      assert.ok(md.includes(`${p.target} (phase ${phase}): J/token`), phase);
      assert.ok(md.includes(g.joulesPerToken.source), phase);

      const line = csvFields(csv.find((l) => l.includes(`,${phase},generate,`))!);
      assert.equal(Number(line[header.indexOf('gen_tokens')]), g.tokens);
      assert.equal(Number(line[header.indexOf('gen_j_per_token')]), g.joulesPerToken.value);

      const printed = terminal.find((l) => l.startsWith(`${p.target} `));
      assert.ok(printed?.includes(formatMs(g.ttftMs.p50)), printed);
    }
  });

  it('regenerates the same summary from the records', async () => {
    const written = JSON.parse(await readFile(join(result.dir, 'summary.json'), 'utf8'));
    const { summary } = await reportRun(result.dir, result.manifest);
    assert.deepEqual(JSON.parse(JSON.stringify(summary)), written);
  });
});

/** The fields of one CSV line (RFC 4180 quoting; no line breaks inside fields here). */
function csvFields(line: string): string[] {
  return [...line.matchAll(/(?:^|,)(?:"((?:[^"]|"")*)"|([^,]*))/g)].map((m) =>
    m[1] === undefined ? m[2]! : m[1].replace(/""/g, '"'),
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
