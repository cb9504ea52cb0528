import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatJoules, formatMs, formatNumber, sig3 } from '../../bench/report/format.ts';
import { inlineJson, inlineScript, loadChartJs } from '../../bench/report/html.ts';
import {
  renderCsv,
  renderHtml,
  renderMarkdown,
  renderTerminalTable,
  writeReports,
} from '../../bench/report/index.ts';
import { paretoFront } from '../../bench/report/pareto.ts';
import type { Summary } from '../../bench/summary/types.ts';
import {
  buildGenerationSummary,
  buildManifest,
  buildSparseManifest,
  buildSparseSummary,
  buildSummary,
  GENERATE_DEVICE,
} from './fixtures/summary.ts';

/** A strict RFC 4180 parser: CRLF records, quoted fields, `""` inside quotes. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r') {
        if (text[i] === '"' || text[i] === '\n')
          throw new Error(`bare ${JSON.stringify(text[i])} at ${i}`);
        field += text[i++];
      }
    }
    record.push(field);
    if (text[i] === ',') {
      i++;
    } else if (text.startsWith('\r\n', i)) {
      records.push(record);
      record = [];
      i += 2;
    } else {
      throw new Error(`expected , or CRLF at ${i}`);
    }
  }
  if (record.length > 0) throw new Error('the last record has no CRLF');
  return records;
}

const fixture = () => ({ summary: buildSummary(), manifest: buildManifest() });

describe('report.md', () => {
  const { summary, manifest } = fixture();
  const md = renderMarkdown(summary, manifest);

  it('has the run, the machine and the notes', () => {
    for (const text of [
      manifest.machine.cpuModel,
      `**cores:** ${manifest.machine.cpus}`,
      manifest.machine.os,
      manifest.software.node,
      `**onnxruntime-node:** ${manifest.software.onnxruntimeNode}`,
      `**onnxruntime-web:** ${manifest.software.onnxruntimeWeb}`,
      manifest.git.commit!,
      ...summary.notes,
    ]) {
      assert.ok(md.includes(text), text);
    }
  });

  it('has the per-tier and per-policy tables, one line per row', () => {
    assert.match(
      md,
      /\| Tier \| Phase \| p50 ms \| p99 ms \| Throughput \/s \| J\/inference \| J basis \|/,
    );
    assert.match(md, /\| Policy \| Phase \|/);
    assert.match(
      md,
      /\| hyperscale \| tier-hyperscale \| 41\.80 \| 52\.30 \| 49\.9 \| 48\.3 mJ \| counter \|/,
    );
    assert.match(
      md,
      /\| device \| tier-device \| 8\.620 \| 31\.40 \| 49\.9 \| 18\.8 mJ \| estimated \|/,
    );
    assert.match(
      md,
      /\| latency \| routed-latency \| 16\.90 \| 48\.80 \|.*\| derived \|.*\| no \|/,
    );
  });

  it('gives the basis and source of every joules figure', () => {
    for (const row of [...summary.tiers, ...summary.policies]) {
      const { basis, source } = row.joulesPerInference;
      assert.ok(md.includes(`${row.label}: J/inference (${basis}): ${source}`), row.label);
    }
    for (const phase of summary.phases) {
      for (const e of phase.energy) {
        const provenance = e.provenance.length > 0 ? e.provenance.join(', ') : 'n/a';
        assert.ok(
          md.includes(`| ${e.node} | ${e.tier} | ${e.meter ?? 'n/a (no meter)'} | ${provenance} |`),
        );
      }
      for (const fp of Object.values(phase.footprint)) {
        for (const f of [
          fp.itJoules,
          fp.facilityJoules,
          fp.networkJoules,
          fp.totalJoules,
          fp.carbonG,
          fp.waterL,
        ]) {
          assert.ok(md.includes(`| ${f.unit} | ${f.basis} |`), f.source);
          assert.ok(md.includes(f.source), f.source);
        }
        for (const c of fp.constants) assert.ok(md.includes(c.source), c.key);
      }
    }
  });

  it('shows gross, active and attributed joules side by side', () => {
    assert.match(
      md,
      /\| hyperscale \| hyperscale \| rapl \| counter \| 142 mJ \| 61\.0 mJ \| 48\.3 mJ \| 1,500 \|/,
    );
    assert.match(
      md,
      /\| edge \| edge \| n\/a \(no meter\) \| n\/a \| n\/a \| n\/a \| n\/a \| 40 \|/,
    );
    assert.ok(md.includes('rapl: unreadable'), 'the null window says why');
  });

  it('has the per-phase details: percentiles, errors, placements, stability', () => {
    assert.match(md, /### Phase routed-latency \(routed, policy latency\)/);
    assert.match(md, /\| latency \| 2,385 \| 16\.90 \| 28\.06 \| 48\.80 \| 83\.19 \|/);
    assert.match(md, /\| http 503 ES_QUEUE_FULL \| 12 \|/);
    assert.match(md, /\| timeout \| 3 \|/);
    assert.match(md, /\| edge \| 1,514 \| 63\.1% \|/);
    assert.match(md, /Not stable: the last 3 windows’ p50 agree within 10%/);
    assert.match(md, /\| time to first token \| 40 \| 48\.20 \|/);
  });

  it('has the cloud-to-device change in percent', () => {
    assert.match(md, /## Cloud to edge and device/);
    // p50 41.8 -> 8.62 ms: -79.4%; IT energy 48.3 -> 18.8 mJ: -61.1%.
    assert.match(
      md,
      /\| Latency p50 \(ms\) \| 41\.80 \| 14\.20 \| 8\.620 \| -66\.0% \| -79\.4% \|/,
    );
    assert.match(
      md,
      /\| IT energy per inference \| 48\.3 mJ \| 39\.1 mJ \| 18\.8 mJ \| -19\.0% \| -61\.1% \|/,
    );
    assert.match(md, /\| gCO2e per 1,000 \|.*\| -97\.0% \|/);
    assert.match(md, /\| Water L per 1,000 \|.*\| -63\.8% \|/);
  });

  it('compares the tiers model by model when the run measured several', () => {
    const several = buildSummary();
    const tierPhases = several.phases.filter((p) => p.kind === 'tier');
    for (const p of tierPhases) {
      several.phases.push({ ...p, phase: `${p.phase}-mlp`, model: 'mlp' });
    }
    for (const row of [...several.tiers]) {
      several.tiers.push({
        ...row,
        label: `${row.label} mlp`,
        phase: `${row.phase}-mlp`,
        latencyP50Ms: row.latencyP50Ms! / 2,
      });
    }
    const text = renderMarkdown(several, buildManifest());
    const section = text.slice(
      text.indexOf('## Cloud to edge and device'),
      text.indexOf('## Charts'),
    );
    assert.match(section, /### Model cnn\n/);
    assert.match(section, /### Model mlp\n/);
    // Each model's rows against its own hyperscale row: the halved p50s give the same change.
    assert.match(
      section,
      /### Model cnn[\s\S]*\| Latency p50 \(ms\) \| 41\.80 \| 14\.20 \| 8\.620 \| -66\.0% \| -79\.4% \|/,
    );
    assert.match(
      section,
      /### Model mlp[\s\S]*\| Latency p50 \(ms\) \| 20\.90 \| 7\.100 \| 4\.310 \| -66\.0% \| -79\.4% \|/,
    );
    assert.match(section, /hyperscale: phase [^;]*-mlp;/);
  });

  it('has the generation table, one row per generative phase, with its sources', () => {
    assert.match(md, /## Generation per tier\n/);
    assert.match(
      md,
      /\| Tier \| Node \| Requests \| Tokens \| TTFT p50 ms \| TTFT p99 ms \| TPOT p50 ms \| TPOT p99 ms \| Tokens \/s \| J\/token \| J basis \| gCO2e\/1k tokens \| Water L\/1k tokens \|/,
    );
    // 60 requests x 24.1 mJ / 960 tokens = 1.51 mJ a token; 960 tokens / 20 s = 48.0 /s.
    const device = summary.phases.find((p) => p.phase === 'generate-device')!.generate!;
    const { requests, tokens, durationS, attributedJ } = GENERATE_DEVICE;
    assert.equal(device.joulesPerToken.value, (attributedJ * requests) / tokens);
    const carbon = formatNumber(device.per1000Tokens.carbonG.value);
    const water = formatNumber(device.per1000Tokens.waterL.value);
    assert.ok(
      md.includes(
        `| device | device | 60 | 960 | 3.100 | 6.400 | 1.220 | 2.050 | ${formatNumber(tokens / durationS)} | 1.51 mJ | estimated | ${carbon} | ${water} |`,
      ),
    );
    // Derived from the footprint per 1,000 inferences, spread over the tokens.
    const fp = summary.phases.find((p) => p.phase === 'generate-device')!.footprint['device']!;
    assert.ok(
      Math.abs(device.per1000Tokens.carbonG.value! - (fp.per1000.carbonG! * requests) / tokens) <
        1e-15,
    );
    assert.match(
      md,
      /\| edge \| edge \| 40 \| 2,560 \| 48\.20 \| 91\.50 \| 13\.40 \| 19\.80 \| 128 \| n\/a \| counter \| n\/a \| n\/a \|/,
    );
    for (const p of summary.phases.filter((x) => x.generate !== undefined)) {
      const g = p.generate!;
      assert.ok(md.includes(`(phase ${p.phase}): J/token`), p.phase);
      assert.ok(md.includes(g.joulesPerToken.source), p.phase);
      assert.ok(
        md.includes(
          `gCO2e/1k tokens${g.per1000Tokens.carbonG.value === null ? ' n/a' : ''} (derived): ${g.per1000Tokens.carbonG.source}`,
        ),
      );
      assert.ok(
        md.includes(
          `water L/1k tokens${g.per1000Tokens.waterL.value === null ? ' n/a' : ''} (derived): ${g.per1000Tokens.waterL.source}`,
        ),
      );
    }
    // The section sits with the other run-at-a-glance tables, before the phases.
    assert.ok(md.indexOf('## Generation per tier') < md.indexOf('## Phases'));
    assert.ok(md.indexOf('## Per policy') < md.indexOf('## Generation per tier'));
  });

  it('escapes a | inside a table cell', () => {
    const odd = buildSummary();
    odd.phases[0]!.errorsByCode = { 'http 500 a|b': 1 };
    assert.match(renderMarkdown(odd, manifest), /\| http 500 a\\\|b \| 1 \|/);
  });
});

describe('summary.csv', () => {
  const { summary } = fixture();
  const csv = renderCsv(summary);
  const [header, ...rows] = parseCsv(csv);
  const column = (name: string) => header!.indexOf(name);
  const rowOf = (phase: string, tier: string) =>
    rows.find((r) => r[column('phase')] === phase && r[column('tier')] === tier)!;

  it('parses back as RFC 4180, one row per phase and tier', () => {
    assert.ok(csv.endsWith('\r\n'));
    // 3 tier phases, two routed phases on 3 tiers each, two generation phases.
    assert.equal(rows.length, 3 + 3 + 3 + 2);
    for (const row of rows) assert.equal(row.length, header!.length);
    for (const name of [
      'gross_j_per_inference',
      'it_j',
      'it_j_basis',
      'it_j_source',
      'carbon_g_basis',
    ]) {
      assert.ok(column(name) >= 0, name);
    }
  });

  it('quotes commas and quotes, and they come back unchanged', () => {
    const device = rowOf('tier-device', 'device');
    const source = summary.tiers[2]!.joulesPerInference.source;
    assert.ok(source.includes(',') && source.includes('"'));
    assert.equal(device[column('it_j_source')], source);
    assert.ok(csv.includes('"estimate cpu (estimated: ""TDP x utilisation"", CCF AWS average)"'));
  });

  it('writes numbers in full and unknown figures as empty fields', () => {
    const hyperscale = rowOf('tier-hyperscale', 'hyperscale');
    assert.equal(Number(hyperscale[column('phase_latency_p99_ms')]), 52.3);
    assert.equal(Number(hyperscale[column('attributed_j_per_inference')]), 0.0483);
    assert.equal(hyperscale[column('energy_provenance')], 'counter');
    const generate = rowOf('generate-edge', 'edge');
    assert.equal(generate[column('it_j')], '');
    assert.equal(generate[column('gross_j_per_inference')], '');
    assert.equal(generate[column('it_j_basis')], 'counter');
    const routed = rowOf('routed-latency', 'edge');
    assert.equal(routed[column('tier_requests')], '1514');
  });

  it('has the generation figures on generative rows only, each with its basis', () => {
    const device = rowOf('generate-device', 'device');
    const g = summary.phases.find((p) => p.phase === 'generate-device')!.generate!;
    assert.equal(Number(device[column('gen_tokens')]), 960);
    assert.equal(Number(device[column('gen_ttft_p50_ms')]), 3.1);
    assert.equal(Number(device[column('gen_tpot_p99_ms')]), 2.05);
    assert.equal(Number(device[column('gen_tokens_per_s')]), 48);
    assert.equal(Number(device[column('gen_j_per_token')]), g.joulesPerToken.value);
    assert.equal(device[column('gen_j_per_token_basis')], 'estimated');
    assert.equal(device[column('gen_j_per_token_source')], g.joulesPerToken.source);
    assert.equal(
      Number(device[column('gen_per1000_tokens_carbon_g')]),
      g.per1000Tokens.carbonG.value,
    );
    assert.equal(device[column('gen_per1000_tokens_carbon_g_basis')], 'derived');
    assert.equal(
      Number(device[column('gen_per1000_tokens_water_l')]),
      g.per1000Tokens.waterL.value,
    );
    const edge = rowOf('generate-edge', 'edge');
    assert.equal(edge[column('gen_j_per_token')], '', 'unknown, not 0');
    assert.equal(edge[column('gen_j_per_token_basis')], 'counter');
    const tier = rowOf('tier-device', 'device');
    for (const name of [
      'gen_tokens',
      'gen_ttft_p50_ms',
      'gen_j_per_token',
      'gen_j_per_token_basis',
    ])
      assert.equal(tier[column(name)], '', name);
  });
});

describe('report.html', async () => {
  const { summary, manifest } = fixture();
  const chartJs = await loadChartJs();
  const html = renderHtml(summary, manifest, chartJs);

  it('loads nothing from the network', () => {
    assert.doesNotMatch(
      html,
      /\b(?:src|href|srcset|action|poster|data)\s*=\s*["']?\s*(?:[a-z]+:)?\/\//i,
    );
    assert.doesNotMatch(html, /url\(\s*["']?\s*(?:https?:)?\/\//i);
    assert.doesNotMatch(html, /@import/i);
    assert.doesNotMatch(html, /<(?:link|img|iframe|object|embed)\b/i);
    for (const tag of html.match(/<script\b[^>]*>/gi) ?? []) assert.doesNotMatch(tag, /\bsrc\s*=/i);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  });

  it('inlines Chart.js and the chart script, each in one script element', () => {
    assert.ok(html.includes('Chart.js v4.6.1'));
    assert.equal((html.match(/<script\b/gi) ?? []).length, 3);
    assert.equal((html.match(/<\/script/gi) ?? []).length, 3);
    for (const kind of ['cdf', 'energy', 'pareto', 'timeline']) {
      assert.ok(html.includes(`<canvas data-chart="${kind}"`), kind);
    }
  });

  it('embeds the summary and manifest as JSON that parses back', () => {
    const json = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(
      html,
    )?.[1];
    assert.ok(json);
    const data = JSON.parse(json);
    assert.deepEqual(data.summary, JSON.parse(JSON.stringify(summary)));
    assert.deepEqual(data.manifest, JSON.parse(JSON.stringify(manifest)));
    assert.equal(data.charts.timelines.charts.length, 2);
    const front = data.charts.pareto.marks.filter((m: { onFront: boolean }) => m.onFront);
    assert.deepEqual(front.map((m: { label: string }) => m.label).sort(), ['device', 'edge']);
  });

  it('cannot be broken out of by a </script> in the data or a script', () => {
    const hostile: Summary = {
      ...buildSummary(),
      notes: ['</script><script>alert(1)</script><!--'],
    };
    const page = renderHtml(hostile, manifest, 'var s = "</script><!--";');
    assert.equal((page.match(/<\/script/gi) ?? []).length, 3);
    const json = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(
      page,
    )![1]!;
    assert.deepEqual(JSON.parse(json).summary.notes, hostile.notes);
    assert.equal(inlineScript('"</script><!--"'), '"<\\/script>\\x3C!--"');
    assert.equal(inlineJson({ a: '<b>' }), '{"a":"\\u003cb>"}');
  });

  it('has the same tables as the markdown, escaped', () => {
    assert.ok(html.includes('<th>Tier</th><th>Phase</th>'));
    assert.ok(html.includes('<h2 id="generation-per-tier">Generation per tier</h2>'));
    assert.ok(html.includes('<th>Tier</th><th>Node</th><th class="num">Requests</th>'));
    assert.ok(html.includes('<td class="num">1.51 mJ</td><td>estimated</td>'));
    assert.ok(
      html.includes('estimate cpu (estimated: &quot;TDP x utilisation&quot;, CCF AWS average)'),
    );
    assert.ok(html.includes('<td>http 503 ES_QUEUE_FULL</td>'));
  });
});

describe('a run that measured almost nothing', () => {
  const summary = buildSparseSummary();
  const manifest = buildSparseManifest();

  it('renders every report, saying n/a and why', async () => {
    const md = renderMarkdown(summary, manifest);
    assert.ok(md.includes('n/a (no routed phases in this run)'));
    assert.ok(md.includes('n/a (no generative phases in this run)'));
    assert.ok(md.includes('n/a (no energy window for this phase)'));
    assert.match(md, /n\/a \(no device tier row for \w+ in this run\)/);
    assert.ok(md.includes('n/a (not a git checkout)'));
    assert.ok(md.includes('J/inference n/a (counter): no energy window: the run was interrupted'));
    assert.match(
      md,
      /\| hyperscale \| tier-hyperscale \| n\/a \| n\/a \| 0 \| n\/a \| counter \| n\/a \| n\/a \| n\/a \(no budgets\) \| no \|/,
    );

    const [, ...rows] = parseCsv(renderCsv(summary));
    assert.equal(rows.length, 1, 'the phase, with its own tier');

    const html = renderHtml(summary, manifest, await loadChartJs());
    assert.ok(html.includes('n/a (no latency was measured in this run)'));
    assert.ok(html.includes('n/a (no routed phases in this run)'));
    assert.ok(!html.includes('<canvas'));

    const empty: Summary = { ...summary, phases: [], tiers: [], policies: [] };
    assert.ok(renderMarkdown(empty, manifest).includes('n/a (no phase was measured)'));
    assert.equal(parseCsv(renderCsv(empty)).length, 1, 'the header only');
    assert.ok(renderTerminalTable(empty, 'report.html').includes('report: report.html'));
  });

  it('writes the three files into the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-report-'));
    try {
      const { files } = await writeReports(join(dir, 'run'), summary, manifest);
      assert.deepEqual(
        files.map((f) => f.slice(dir.length + 1)),
        ['run/report.md', 'run/summary.csv', 'run/report.html'],
      );
      assert.ok((await readFile(files[2]!, 'utf8')).startsWith('<!doctype html>'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the terminal table', () => {
  /** The cells of a line: runs of text separated by two or more spaces, with their ends. */
  const cells = (line: string) =>
    [...line.matchAll(/\S+(?: \S+)*/g)].map((m) => ({
      text: m[0],
      start: m.index!,
      end: m.index! + m[0].length,
    }));

  it('has fixed-width columns over tier and policy rows', () => {
    const lines = renderTerminalTable(buildSummary(), '/results/run/report.html');
    const table = lines.slice(0, lines.indexOf(''));
    const rows = table.filter((l) => !/^-+$/.test(l));
    assert.equal(rows.length, 2 + 3 + 2, 'two headers, three tiers, two policies');
    assert.equal(new Set(table.map((l) => l.length)).size, 1, 'every line as wide');
    const parsed = rows.map(cells);
    for (const row of parsed) assert.equal(row.length, 7, row.map((c) => c.text).join('|'));
    for (let column = 0; column < 7; column++) {
      // The label column is left-aligned, the figures right-aligned.
      const edge = (c: { start: number; end: number }) => (column === 0 ? c.start : c.end);
      assert.equal(new Set(parsed.map((row) => edge(row[column]!))).size, 1, `column ${column}`);
    }
    assert.match(
      rows[1]!,
      /^hyperscale\s+41\.80\s+52\.30\s+48\.3 mJ ctr\s+0\.0728\s+3\.06e-5\s+93\.0%$/,
    );
    assert.match(rows[4]!, /^policy\s+p50 ms/);
    assert.ok(lines.includes('J/inference basis: ctr counter, est estimated, der derived'));
    assert.equal(lines.at(-1), 'report: /results/run/report.html');
  });

  it('has the generation table under it, in columns of its own', () => {
    const lines = renderTerminalTable(buildSummary(), 'report.html');
    const start = lines.findIndex((l) => l.startsWith('generate '));
    assert.ok(start > 0 && lines[start - 1] === '', 'after a blank line');
    const table = lines.slice(start, lines.indexOf('', start));
    assert.equal(table.length, 2 + 2, 'header, rule, two generative phases');
    assert.equal(new Set(table.map((l) => l.length)).size, 1, 'every line as wide');
    assert.match(
      table[0]!,
      /^generate\s+tokens\s+TTFT p50\s+TTFT p99\s+TPOT p50\s+TPOT p99\s+tok\/s\s+J\/token\s+gCO2e\/1kt\s+water L\/1kt$/,
    );
    assert.match(
      table[3]!,
      /^device\s+960\s+3\.100\s+6\.400\s+1\.220\s+2\.050\s+48\.0\s+1\.51 mJ est\s+1\.72e-4\s+8\.86e-7$/,
    );
    assert.match(
      table[2]!,
      /^edge\s+2,560\s+48\.20\s+91\.50\s+13\.40\s+19\.80\s+128\s+n\/a ctr\s+n\/a\s+n\/a$/,
    );
    assert.ok(lines.includes('J/token basis: ctr counter, est estimated'));
    assert.ok(lines.some((l) => l.startsWith('generate: TTFT and TPOT in ms')));
  });

  it('prints the generation table for a run of generative phases alone', () => {
    const lines = renderTerminalTable(buildGenerationSummary(), 'report.html');
    assert.ok(!lines.some((l) => l.includes('no tier phases')), lines.join('\n'));
    assert.match(lines[0]!, /^generate\s+tokens\s+TTFT p50/);
    assert.match(lines[3]!, /^device\s+960\s/);
    assert.ok(!lines.some((l) => l.startsWith('J/inference basis')));
    assert.equal(lines.at(-1), 'report: report.html');
  });

  it('shows n/a for a run without figures', () => {
    const lines = renderTerminalTable(buildSparseSummary(), 'report.html');
    assert.match(lines[2]!, /^hyperscale\s+n\/a\s+n\/a\s+n\/a ctr\s+n\/a\s+n\/a\s+n\/a$/);
  });
});

describe('report formatting', () => {
  it('rounds to three significant figures and scales joules', () => {
    assert.equal(sig3(0.0483), '0.0483');
    assert.equal(sig3(3.06e-5), '3.06e-5');
    assert.equal(sig3(12345), '12,345');
    assert.equal(formatJoules(0.0483), '48.3 mJ');
    assert.equal(formatJoules(1.5), '1.50 J');
    assert.equal(formatJoules(null), 'n/a');
    assert.equal(formatMs(4.1234), '4.123');
    assert.equal(formatMs(41.8), '41.80');
    assert.equal(formatMs(912), '912.0');
  });

  it('finds the Pareto front of latency against energy', () => {
    const points = [
      { label: 'a', latencyMs: 10, joules: 5 },
      { label: 'b', latencyMs: 20, joules: 1 },
      { label: 'c', latencyMs: 25, joules: 6 },
      { label: 'd', latencyMs: 10, joules: 5 },
    ];
    assert.deepEqual(
      paretoFront(points).map((p) => p.label),
      ['b', 'a', 'd'],
    );
  });
});
