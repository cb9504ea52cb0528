/**
 * Micro benchmark of the OIP codec on the node's hot path: a request carrying one
 * [1, 784] FP32 input (an MNIST-sized MLP) and a [1, 10] FP32 response, as JSON and
 * with the binary tensor extension. Baseline measured in the same run: a bare
 * JSON.parse of the same JSON request, the least any JSON server pays.
 *
 *   node --import tsx bench/perf/codec.ts [--seconds 1] [--rounds 5]
 */

import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
} from '../../services/common/codec.ts';
import { median } from '../../services/common/stats.ts';
import type { ModelSignature, Tensor } from '../../services/common/tensor.ts';

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

const SECONDS = argValue('--seconds', 1);
const ROUNDS = argValue('--rounds', 5);

const signature: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 784], dimNames: ['batch', null] }],
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10], dimNames: ['batch', null] }],
};

// Deterministic pixel-like values in [0, 1) (a 32-bit LCG; constants from Numerical Recipes).
let seed = 12345;
function nextUniform(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
}
const pixels = new Float32Array(784);
for (let i = 0; i < pixels.length; i++) pixels[i] = nextUniform();
const logits = new Float32Array(10);
for (let i = 0; i < logits.length; i++) logits[i] = nextUniform() * 20 - 10;

const input: Tensor = { name: 'x', datatype: 'FP32', shape: [1, 784], data: pixels };
const output: Tensor = { name: 'logits', datatype: 'FP32', shape: [1, 10], data: logits };

const jsonRequest = encodeInferRequest([input], { id: 'bench' });
const binaryRequest = encodeInferRequest([input], { id: 'bench', binary: true });
const noBinary = { binaryOutputs: new Set<string>(), binaryAll: false };
const allBinary = { binaryOutputs: new Set<string>(), binaryAll: true };
const jsonResponse = encodeInferResponse(
  { model_name: 'mlp', id: 'bench', outputs: [output] },
  noBinary,
);
const binaryResponse = encodeInferResponse(
  { model_name: 'mlp', id: 'bench', outputs: [output] },
  allBinary,
);

let sink = 0;

/** Operations per second over one timed stretch of SECONDS. */
function timeRound(fn: () => number): number {
  let ops = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 64; i++) sink += fn();
    ops += 64;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

/**
 * Median operations per second of each case over ROUNDS rounds. Rounds visit the cases
 * in turn, so a change of load on a shared machine hits every case alike and the ratios
 * stay fair.
 */
function measureAll<K extends string>(cases: Record<K, () => number>): Record<K, number> {
  const names = Object.keys(cases) as K[];
  for (const name of names) {
    const deadline = performance.now() + 300;
    while (performance.now() < deadline) sink += cases[name]();
  }
  const rates = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) rates[name].push(timeRound(cases[name]));
  }
  const medians = {} as Record<K, number>;
  for (const name of names) medians[name] = median(rates[name]);
  return medians;
}

const results = measureAll({
  baselineParse: () =>
    (JSON.parse(jsonRequest.body.toString('utf8')) as { inputs: unknown[] }).inputs.length,
  decodeJson: () => decodeInferRequest(jsonRequest.body, { signature }).inputs.length,
  decodeBinary: () =>
    decodeInferRequest(binaryRequest.body, {
      signature,
      headerLength: binaryRequest.headerLength,
    }).inputs.length,
  encodeRequestJson: () => encodeInferRequest([input]).body.length,
  encodeRequestBinary: () => encodeInferRequest([input], { binary: true }).body.length,
  encodeResponseJson: () =>
    encodeInferResponse({ model_name: 'mlp', id: 'bench', outputs: [output] }, noBinary).body
      .length,
  encodeResponseBinary: () =>
    encodeInferResponse({ model_name: 'mlp', id: 'bench', outputs: [output] }, allBinary).body
      .length,
  decodeResponseJson: () => decodeInferResponse(jsonResponse.body).outputs.length,
  decodeResponseBinary: () =>
    decodeInferResponse(binaryResponse.body, binaryResponse.headerLength).outputs.length,
});

function row(label: string, bytes: number, opsPerSec: number, note = ''): string {
  const us = (1e6 / opsPerSec).toFixed(2);
  return `${label.padEnd(44)} ${String(bytes).padStart(7)} ${Math.round(opsPerSec).toLocaleString('en-US').padStart(12)} ${us.padStart(9)}  ${note}`;
}
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

console.log(
  `codec micro benchmark: node ${process.version}, ${SECONDS}s x ${ROUNDS} rounds (median)`,
);
console.log(
  `${'operation'.padEnd(44)} ${'bytes'.padStart(7)} ${'ops/s'.padStart(12)} ${'us/op'.padStart(9)}  note`,
);
console.log(
  row('baseline: JSON.parse of the JSON request', jsonRequest.body.length, results.baselineParse),
);
console.log(
  row(
    'decode request, JSON [1,784] FP32',
    jsonRequest.body.length,
    results.decodeJson,
    `${ratio(results.decodeJson, results.baselineParse)} of bare JSON.parse`,
  ),
);
console.log(
  row('decode request, binary [1,784] FP32', binaryRequest.body.length, results.decodeBinary),
);
console.log(
  row('encode request, JSON (client)', jsonRequest.body.length, results.encodeRequestJson),
);
console.log(
  row('encode request, binary (client)', binaryRequest.body.length, results.encodeRequestBinary),
);
console.log(
  row('encode response, JSON [1,10] FP32', jsonResponse.body.length, results.encodeResponseJson),
);
console.log(
  row(
    'encode response, binary [1,10] FP32',
    binaryResponse.body.length,
    results.encodeResponseBinary,
  ),
);
console.log(
  row('decode response, JSON (client)', jsonResponse.body.length, results.decodeResponseJson),
);
console.log(
  row('decode response, binary (client)', binaryResponse.body.length, results.decodeResponseBinary),
);
console.log('');
console.log(
  `JSON/binary throughput, decode request:  ${ratio(results.decodeJson, results.decodeBinary)}`,
);
console.log(
  `JSON/binary throughput, encode request:  ${ratio(results.encodeRequestJson, results.encodeRequestBinary)}`,
);
console.log(
  `JSON/binary throughput, encode response: ${ratio(results.encodeResponseJson, results.encodeResponseBinary)}`,
);
console.log(
  `JSON/binary throughput, decode response: ${ratio(results.decodeResponseJson, results.decodeResponseBinary)}`,
);
if (sink === -1) console.log('');
