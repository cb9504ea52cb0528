/**
 * The Prometheus / OpenMetrics text parser over the pages of Triton, the DCGM exporter
 * and Kepler (hand-written in their formats, prometheus-fixtures.ts), and over the
 * corners of the format: escapes, special values, timestamps, exemplars, `_total`
 * families, quoted UTF-8 names, malformed lines and the size bound.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import {
  PROMETHEUS_TEXT_MAX_CHARS,
  parsePrometheusText,
  selectSamples,
} from '../../services/router/prometheus-text.ts';
import { dcgmMetrics, H200_UUIDS, keplerMetrics, tritonMetrics } from './prometheus-fixtures.ts';

const rejects = (text: string, pattern: RegExp) =>
  assert.throws(
    () => parsePrometheusText(text),
    (error: unknown) => {
      assert.ok(isEdgeshiftError(error), String(error));
      assert.equal(error.code, 'ES_BAD_RESPONSE');
      assert.match(error.message, pattern);
      return true;
    },
  );

describe('parsePrometheusText on real exporters’ pages', () => {
  it("reads Triton's page: energy per GPU in joules, a summary's family", () => {
    const samples = parsePrometheusText(tritonMetrics([9380.053, 1204.5]));
    assert.equal(samples.length, 26);
    const energy = selectSamples(samples, 'nv_energy_consumption');
    assert.deepEqual(
      energy.map((s) => [s.labels.gpu_uuid, s.value, s.type]),
      [
        [H200_UUIDS[0], 9380.053, 'counter'],
        [H200_UUIDS[1], 1204.5, 'counter'],
      ],
    );
    const one = selectSamples(samples, 'nv_energy_consumption', { gpu_uuid: H200_UUIDS[1] });
    assert.deepEqual(
      one.map((s) => s.value),
      [1204.5],
    );
    const count = samples.find((s) => s.name === 'nv_inference_request_summary_us_count');
    assert.equal(count?.family, 'nv_inference_request_summary_us');
    assert.equal(count?.type, 'summary');
    const cpu = samples.find((s) => s.name === 'nv_cpu_utilization');
    assert.deepEqual(cpu?.labels, {});
    assert.equal(cpu?.timestamp, null);
  });

  it("reads the DCGM exporter's page: its label order, upper-case label names, pod labels", () => {
    const samples = parsePrometheusText(dcgmMetrics([955287014, 412000123]));
    const energy = selectSamples(samples, 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', { gpu: '1' });
    assert.equal(energy.length, 1);
    assert.equal(energy[0]!.value, 412000123);
    assert.deepEqual(Object.keys(energy[0]!.labels), [
      'gpu',
      'UUID',
      'pci_bus_id',
      'device',
      'modelName',
      'Hostname',
      'DCGM_FI_DRIVER_VERSION',
      'container',
      'namespace',
      'pod',
    ]);
    assert.equal(energy[0]!.labels.UUID, H200_UUIDS[1]);
    assert.equal(
      selectSamples(samples, 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', {
        pod: 'triton-7d9f6c5b8-x2kqp',
      }).length,
      1,
    );
    assert.equal(
      selectSamples(samples, 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', { Hostname: 'gpu-node-3' })
        .length,
      2,
    );
    assert.equal(
      selectSamples(samples, 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', { gpu: '2' }).length,
      0,
    );
  });

  it("reads Kepler's page: Go's float forms, joules per zone and container", () => {
    const samples = parsePrometheusText(
      keplerMetrics({
        package: 1248391.7,
        dram: 80211.5,
        tritonPackage: 52341.25,
        tritonDram: 3310,
      }),
    );
    const node = selectSamples(samples, 'kepler_node_cpu_joules_total', { zone: 'package' });
    assert.deepEqual(
      node.map((s) => s.value),
      [1248391.7],
    );
    assert.equal(node[0]!.labels.path, '/sys/class/powercap/intel-rapl:0');
    const triton = selectSamples(samples, 'kepler_container_cpu_joules_total', {
      container_name: 'triton',
    });
    assert.deepEqual(triton.map((s) => [s.labels.zone, s.value]).sort(), [
      ['dram', 3310],
      ['package', 52341.25],
    ]);
    assert.equal(samples.find((s) => s.name === 'go_gc_duration_seconds')?.value, 2.3541e-5);
    assert.equal(samples.find((s) => s.name === 'process_start_time_seconds')?.value, 1764154840);
    assert.equal(
      samples.find((s) => s.name === 'go_gc_duration_seconds_count')?.family,
      'go_gc_duration_seconds',
    );
  });
});

describe('parsePrometheusText: the format', () => {
  it('decodes \\" \\\\ and \\n in label values, and keeps any other escape as written', () => {
    const [sample] = parsePrometheusText(
      String.raw`msg{a="say \"hi\"",b="C:\\temp\\x",c="two\nlines",d="tab\there",e="} , # {"} 1` +
        '\n',
    );
    assert.deepEqual(sample?.labels, {
      a: 'say "hi"',
      b: 'C:\\temp\\x',
      c: 'two\nlines',
      d: 'tab\\there',
      e: '} , # {',
    });
  });

  it('takes blanks, tabs, a trailing comma, CRLF and comments', () => {
    const text = [
      '# a comment',
      '#',
      '# HELP x_total Some help with \\n an escape',
      '# TYPE x_total counter',
      '  x_total { a = "1" ,\tb="2", } \t 5  ',
      '',
      'y 1\r',
      'z{} 2',
    ].join('\n');
    const samples = parsePrometheusText(text);
    assert.deepEqual(
      samples.map((s) => [s.name, s.labels, s.value, s.type]),
      [
        ['x_total', { a: '1', b: '2' }, 5, 'counter'],
        ['y', {}, 1, 'untyped'],
        ['z', {}, 2, 'untyped'],
      ],
    );
    assert.deepEqual(parsePrometheusText(''), []);
  });

  it('reads +Inf, -Inf, NaN and decimal forms, and timestamps', () => {
    const samples = parsePrometheusText(
      [
        'h_bucket{le="0.5"} 3',
        'h_bucket{le="+Inf"} +Inf',
        'a -Inf',
        'b NaN',
        'c Inf',
        'd 1e3',
        'e .5',
        'f -0.25E-2',
        'g 7 1395066363000',
        'h 8 -1395066363000',
      ].join('\n'),
    );
    const value = (name: string, labels?: Record<string, string>) =>
      selectSamples(samples, name, labels)[0]?.value;
    assert.equal(value('h_bucket', { le: '+Inf' }), Number.POSITIVE_INFINITY);
    assert.equal(value('a'), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(value('b')));
    assert.equal(value('c'), Number.POSITIVE_INFINITY);
    assert.equal(value('d'), 1000);
    assert.equal(value('e'), 0.5);
    assert.equal(value('f'), -0.0025);
    assert.equal(selectSamples(samples, 'g')[0]?.timestamp, 1395066363000);
    assert.equal(selectSamples(samples, 'h')[0]?.timestamp, -1395066363000);
  });

  it('matches an OpenMetrics counter family through its _total samples, never _created', () => {
    const text = `# TYPE kepler_node_cpu_joules counter
# UNIT kepler_node_cpu_joules joules
# HELP kepler_node_cpu_joules Energy consumption of cpu at node level in joules
kepler_node_cpu_joules_total{zone="package"} 1.2483917e+06 1764154900.125 # {trace_id="KOO5S4vxi0o"} 0.67
kepler_node_cpu_joules_created{zone="package"} 1.76415484e+09
# EOF
`;
    const samples = parsePrometheusText(text);
    assert.equal(samples.length, 2);
    for (const metric of ['kepler_node_cpu_joules', 'kepler_node_cpu_joules_total']) {
      const matched = selectSamples(samples, metric, { zone: 'package' });
      assert.deepEqual(
        matched.map((s) => [s.name, s.value, s.timestamp, s.family]),
        [['kepler_node_cpu_joules_total', 1248391.7, 1764154900.125, 'kepler_node_cpu_joules']],
        metric,
      );
    }
    assert.equal(samples[1]?.family, 'kepler_node_cpu_joules');
    rejects(`${text}x 1\n`, /line 7: text after # EOF/);
  });

  it('does not take a gauge family for the counter without _total', () => {
    const samples = parsePrometheusText('# TYPE foo gauge\nfoo_total 1\n');
    assert.deepEqual(selectSamples(samples, 'foo'), []);
    assert.equal(samples[0]?.family, 'foo_total');
  });

  it('reads quoted UTF-8 metric and label names (Prometheus 3)', () => {
    const samples = parsePrometheusText(
      '# TYPE "node.energy.joules" counter\n{"node.energy.joules", "gpu.uuid"="GPU-1", zone="pkg"} 12.5\n',
    );
    assert.deepEqual(samples, [
      {
        name: 'node.energy.joules',
        labels: { 'gpu.uuid': 'GPU-1', zone: 'pkg' },
        value: 12.5,
        timestamp: null,
        family: 'node.energy.joules',
        type: 'counter',
      },
    ]);
  });

  it('keeps a label named __proto__ as a label', () => {
    const [sample] = parsePrometheusText('m{__proto__="x",a="1"} 1');
    assert.equal(Object.getPrototypeOf(sample!.labels), Object.prototype);
    assert.deepEqual(Object.keys(sample!.labels), ['__proto__', 'a']);
    assert.equal(
      selectSamples([sample!], 'm', { __proto__: 'x' } as Record<string, string>).length,
      1,
    );
    assert.equal(selectSamples([sample!], 'm', { toString: 'x' }).length, 0);
  });

  it('refuses a malformed line, naming it', () => {
    rejects('ok 1\nnovalue\n', /line 2: sample novalue has no value/);
    rejects('m{a="1" 1', /unexpected '1' in the label set/);
    rejects('m{a="1"', /the label set is not closed/);
    rejects('m{a=1} 1', /the value of label a is not quoted/);
    rejects('m{a="1} 1', /a quoted string is not closed/);
    rejects('m{a="1",a="2"} 1', /label a appears twice/);
    rejects('m{1a="1"} 1', /expected a label name/);
    rejects('m abc', /the value "abc" is not a number/);
    rejects('m 1 2 3', /unexpected "3" after the sample/);
    rejects('m 1 NaN', /the timestamp is not finite/);
    rejects('# TYPE m countr', /unknown metric type "countr"/);
    rejects('9m 1', /expected a metric name/);
    rejects('{a="1"} 1', /the sample has no metric name/);
    rejects('m 0x1p-2', /is not a number/);
  });

  it('refuses a text over the bound before reading it, and reads a long one within it in linear time', () => {
    assert.equal(PROMETHEUS_TEXT_MAX_CHARS, 4 * 1024 * 1024);
    assert.throws(
      () => parsePrometheusText('m 1\n'.repeat(10), { maxChars: 39 }),
      /40 characters long, more than the 39 read/,
    );
    // One 3 MiB label value full of escapes, then 20,000 samples: well under a second.
    const long = `big{v="${'\\"'.repeat(1.5 * 1024 * 1024)}"} 1\n${'s{a="1"} 2\n'.repeat(20_000)}`;
    const started = performance.now();
    const samples = parsePrometheusText(long);
    assert.equal(samples.length, 20_001);
    assert.equal(samples[0]!.labels.v!.length, 1.5 * 1024 * 1024);
    assert.ok(performance.now() - started < 5000);
  });
});
