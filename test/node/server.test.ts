import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import type { ErrorCode } from '../../services/common/errors.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { assertErrorAnswer as assertError } from '../support/errors.ts';
import { PROMTOOL_MISSING, promtoolCheck, promtoolPath } from '../support/promtool.ts';
import { assertTensorsClose, inProcessOutputs, metricValue } from './test-support.ts';

const SERVER_TIMING = /^queue;dur=\d+\.\d{3}, compute;dur=\d+\.\d{3}, total;dur=\d+\.\d{3}$/;
const BODY_LIMIT = 1024 * 1024;

let node: InferenceNode;

function json(response: LightMyRequestResponse): Record<string, unknown> {
  assert.match(String(response.headers['content-type']), /^application\/json/);
  return JSON.parse(response.body) as Record<string, unknown>;
}

function infer(
  model: string,
  inputs: Tensor[],
  options: Parameters<typeof encodeInferRequest>[1] = {},
  path?: string,
) {
  const request = encodeInferRequest(inputs, options);
  return node.app.inject({
    method: 'POST',
    url: path ?? `/v2/models/${model}/infer`,
    headers: {
      'content-type': request.contentType,
      ...(request.headerLength === undefined
        ? {}
        : { 'inference-header-content-length': String(request.headerLength) }),
    },
    payload: request.body,
  });
}

function decoded(response: LightMyRequestResponse) {
  assert.equal(response.statusCode, 200, response.body);
  const header = response.headers['inference-header-content-length'];
  return decodeInferResponse(
    response.rawPayload,
    header === undefined ? undefined : Number(header),
  );
}

function sampleInputs(model: string, batch = 1, seed = 1): Tensor[] {
  return makeSampleInputs(node.models.get(model)!.signature, { batch, seed });
}

function postRaw(
  body: string | Buffer,
  headers: Record<string, string> = {},
  url = '/v2/models/mlp/infer',
) {
  return node.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: body,
  });
}

before(async () => {
  node = await createNode({
    models: ['mlp', 'cnn'],
    port: 0,
    nodeName: 'edge-test',
    tier: 'edge',
    bodyLimitBytes: BODY_LIMIT,
    logLevel: 'silent',
  });
});

after(async () => {
  await node?.close();
});

describe('OIP routes', () => {
  it('answers liveness and readiness the KServe way', async () => {
    const live = await node.app.inject({ url: '/v2/health/live' });
    assert.equal(live.statusCode, 200);
    assert.deepEqual(json(live), { live: true });
    const ready = await node.app.inject({ url: '/v2/health/ready' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(json(ready), { ready: true });
  });

  it('serves server metadata at /v2 and /v2/', async () => {
    for (const url of ['/v2', '/v2/']) {
      const response = await node.app.inject({ url });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(json(response), {
        name: 'edgeshift',
        version: '0.1.0',
        extensions: ['binary_tensor_data', 'classification', 'model_configuration', 'statistics'],
      });
    }
  });

  it('serves model metadata with and without the version, -1 for dynamic dimensions', async () => {
    for (const url of ['/v2/models/cnn', '/v2/models/cnn/versions/1']) {
      const response = await node.app.inject({ url });
      assert.equal(response.statusCode, 200);
      const signature = node.models.get('cnn')!.signature;
      assert.deepEqual(json(response), {
        name: 'cnn',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: signature.inputs.map((s) => ({
          name: s.name,
          datatype: s.datatype,
          shape: s.shape,
        })),
        outputs: signature.outputs.map((s) => ({
          name: s.name,
          datatype: s.datatype,
          shape: s.shape,
        })),
      });
      assert.equal((json(response).inputs as { shape: number[] }[])[0]!.shape[0], -1);
    }
  });

  it('answers model readiness with and without the version', async () => {
    for (const url of ['/v2/models/mlp/ready', '/v2/models/mlp/versions/1/ready']) {
      const response = await node.app.inject({ url });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(json(response), { name: 'mlp', ready: true });
    }
  });

  it('answers 404 for an unknown model, an unknown version or an unknown route', async () => {
    const unknown = assertError(
      await node.app.inject({ url: '/v2/models/resnet' }),
      'ES_MODEL_NOT_FOUND',
    );
    // The answer names the models that are served.
    assert.ok(unknown.includes('mlp') && unknown.includes('cnn'), unknown);
    assertError(await node.app.inject({ url: '/v2/models/resnet/ready' }), 'ES_MODEL_NOT_FOUND');
    assertError(
      await node.app.inject({ url: '/v2/models/cnn/versions/2' }),
      'ES_VERSION_NOT_FOUND',
    );
    assertError(
      await node.app.inject({ url: '/v2/models/cnn/versions/2/ready' }),
      'ES_VERSION_NOT_FOUND',
    );
    assertError(
      await infer('cnn', sampleInputs('cnn'), {}, '/v2/models/cnn/versions/7/infer'),
      'ES_VERSION_NOT_FOUND',
    );
    assertError(
      await infer('cnn', sampleInputs('cnn'), {}, '/v2/models/nope/infer'),
      'ES_MODEL_NOT_FOUND',
    );
    assertError(await node.app.inject({ url: '/v3/anything' }), 'ES_ROUTE_NOT_FOUND');
  });

  it('answers 405 with Allow for a known path and the wrong method', async () => {
    const get = await node.app.inject({ url: '/v2/models/mlp/infer' });
    assertError(get, 'ES_METHOD_NOT_ALLOWED');
    assert.equal(get.headers.allow, 'POST');
    const post = await node.app.inject({ method: 'POST', url: '/v2/health/live' });
    assertError(post, 'ES_METHOD_NOT_ALLOWED');
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  it('marks every response with the node and tier', async () => {
    for (const url of ['/v2/health/live', '/v2', '/v2/models/mlp', '/nope', '/metrics']) {
      const response = await node.app.inject({ url });
      assert.equal(response.headers['x-edgeshift-node'], 'edge-test', url);
      assert.equal(response.headers['x-edgeshift-tier'], 'edge', url);
    }
  });
});

describe('inference', () => {
  it('JSON request: same outputs as onnxruntime-node in-process, id echoed, Server-Timing set', async () => {
    const inputs = sampleInputs('cnn', 2, 11);
    const response = await infer('cnn', inputs, { id: 'req-1' });
    const body = decoded(response);
    assert.equal(body.model_name, 'cnn');
    assert.equal(body.model_version, '1');
    assert.equal(body.id, 'req-1');
    assertTensorsClose(body.outputs, await inProcessOutputs(node.models.get('cnn')!.file, inputs));
    assert.match(String(response.headers['server-timing']), SERVER_TIMING);
  });

  it('binary request and response: same outputs as in-process', async () => {
    const inputs = sampleInputs('mlp', 3, 12);
    const response = await infer('mlp', inputs, { binary: true });
    assert.match(String(response.headers['content-type']), /^application\/octet-stream/);
    assert.ok(Number(response.headers['inference-header-content-length']) > 0);
    assertTensorsClose(
      decoded(response).outputs,
      await inProcessOutputs(node.models.get('mlp')!.file, inputs),
    );
  });

  it('serves the versioned infer path', async () => {
    const inputs = sampleInputs('mlp', 1, 13);
    const response = await infer('mlp', inputs, {}, '/v2/models/mlp/versions/1/infer');
    assertTensorsClose(
      decoded(response).outputs,
      await inProcessOutputs(node.models.get('mlp')!.file, inputs),
    );
  });

  it('answers every kind of bad input with its 4xx, and keeps serving', async () => {
    const good = sampleInputs('mlp', 1, 14);
    const [x] = good;
    const cases: [string, Promise<LightMyRequestResponse>, ErrorCode][] = [
      ['malformed JSON', postRaw('{"inputs": ['), 'ES_INVALID_JSON'],
      ['empty body', postRaw(''), 'ES_INVALID_JSON'],
      ['not an object', postRaw('[1, 2]'), 'ES_BAD_REQUEST'],
      [
        'unknown input',
        postRaw(
          JSON.stringify({ inputs: [{ name: 'nope', shape: [1], datatype: 'FP32', data: [1] }] }),
        ),
        'ES_UNKNOWN_INPUT',
      ],
      ['missing input', postRaw(JSON.stringify({ inputs: [] })), 'ES_MISSING_INPUT'],
      [
        'wrong datatype',
        postRaw(
          JSON.stringify({
            inputs: [
              { name: x!.name, shape: x!.shape, datatype: 'INT32', data: new Array(784).fill(1) },
            ],
          }),
        ),
        'ES_DATATYPE_MISMATCH',
      ],
      [
        'wrong shape',
        postRaw(
          JSON.stringify({
            inputs: [
              { name: x!.name, shape: [1, 783], datatype: 'FP32', data: new Array(783).fill(1) },
            ],
          }),
        ),
        'ES_SHAPE_MISMATCH',
      ],
      [
        'too few values',
        postRaw(
          JSON.stringify({
            inputs: [{ name: x!.name, shape: [1, 784], datatype: 'FP32', data: [1, 2, 3] }],
          }),
        ),
        'ES_SHAPE_MISMATCH',
      ],
      [
        'strings for FP32',
        postRaw(
          JSON.stringify({
            inputs: [
              { name: x!.name, shape: [1, 784], datatype: 'FP32', data: new Array(784).fill('a') },
            ],
          }),
        ),
        'ES_INVALID_TENSOR',
      ],
      ['unknown output', infer('mlp', good, { outputs: [{ name: 'nope' }] }), 'ES_UNKNOWN_OUTPUT'],
      [
        'header length not an integer',
        postRaw('{}', { 'inference-header-content-length': '12abc' }),
        'ES_BAD_REQUEST',
      ],
      [
        'header length past the body',
        postRaw('{}', { 'inference-header-content-length': '999' }),
        'ES_BAD_REQUEST',
      ],
      [
        'budget not a number',
        postRaw(encodeInferRequest(good).body, { 'x-latency-budget-ms': 'soon' }),
        'ES_BAD_REQUEST',
      ],
      [
        'budget zero',
        postRaw(encodeInferRequest(good).body, { 'x-latency-budget-ms': '0' }),
        'ES_BAD_REQUEST',
      ],
      [
        'budget parameter negative',
        infer('mlp', good, { parameters: { latency_budget_ms: -5 } }),
        'ES_BAD_REQUEST',
      ],
      ['body too large', postRaw(Buffer.alloc(BODY_LIMIT + 1, 32)), 'ES_BODY_TOO_LARGE'],
      [
        'invalid content type',
        postRaw('{}', { 'content-type': '/;;' }),
        'ES_UNSUPPORTED_MEDIA_TYPE',
      ],
    ];
    for (const [what, pending, code] of cases) {
      assertError(await pending, code, what);
    }
    const after = await infer('mlp', good);
    assertTensorsClose(
      decoded(after).outputs,
      await inProcessOutputs(node.models.get('mlp')!.file, good),
    );
    const ready = await node.app.inject({ url: '/v2/health/ready' });
    assert.equal(ready.statusCode, 200);
  });

  it('answers 504 without computing when the latency budget is already spent', async () => {
    const before = await (await node.app.inject({ url: '/metrics' })).body;
    const inputs = sampleInputs('mlp', 1, 15);
    // 1 µs: always gone by the time the body is decoded.
    const response = await infer('mlp', inputs, { parameters: { latency_budget_ms: 0.001 } });
    assertError(response, 'ES_BUDGET_EXCEEDED');
    const afterText = (await node.app.inject({ url: '/metrics' })).body;
    const compute = 'edgeshift_request_duration_seconds_count{model="mlp",phase="compute"}';
    assert.equal(metricValue(afterText, compute), metricValue(before, compute));
    const runs = 'edgeshift_batch_size_count{model="mlp"}';
    assert.equal(metricValue(afterText, runs), metricValue(before, runs));
    const refused = 'edgeshift_inference_requests_total{model="mlp",status="504"}';
    assert.equal(metricValue(afterText, refused), metricValue(before, refused) + 1);
  });

  it('honours a generous budget from the header', async () => {
    const inputs = sampleInputs('mlp', 1, 16);
    const request = encodeInferRequest(inputs);
    const response = await postRaw(request.body, { 'x-latency-budget-ms': '60000' });
    assert.equal(response.statusCode, 200, response.body);
  });
});

describe('metrics', () => {
  it('exposes the edgeshift series and process metrics in Prometheus text format', async () => {
    const response = await node.app.inject({ url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = response.body;
    assert.ok(
      metricValue(text, 'edgeshift_inference_requests_total{model="cnn",status="200"}') >= 1,
    );
    assert.ok(
      metricValue(text, 'edgeshift_inference_requests_total{model="mlp",status="400"}') >= 1,
    );
    for (const phase of ['queue', 'compute', 'total']) {
      assert.ok(
        metricValue(
          text,
          `edgeshift_request_duration_seconds_count{model="cnn",phase="${phase}"}`,
        ) >= 1,
      );
    }
    assert.match(
      text,
      /^edgeshift_request_duration_seconds_bucket\{le="0\.0001",model="cnn",phase="compute"\} \d+$/m,
    );
    assert.match(text, /^edgeshift_batch_size_bucket\{le="8",model="mlp"\} \d+$/m);
    assert.match(text, /^edgeshift_queue_depth\{model="mlp"\} 0$/m);
    assert.match(text, /^edgeshift_inflight_requests\{model="cnn"\} 0$/m);
    assert.match(text, /^process_cpu_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });

  it('passes promtool check metrics', async (t) => {
    const promtool = promtoolPath();
    if (promtool === undefined) {
      t.skip(PROMTOOL_MISSING);
      return;
    }
    const text = (await node.app.inject({ url: '/metrics' })).body;
    assert.equal(await promtoolCheck(promtool, text), '');
  });
});

describe('auth', () => {
  let guarded: InferenceNode;
  before(async () => {
    guarded = await createNode({
      models: ['mlp'],
      port: 0,
      token: 'test-token-123',
      logLevel: 'silent',
    });
  });
  after(async () => {
    await guarded?.close();
  });

  it('answers 401 without or with a wrong token, 200 with the right one', async () => {
    const inputs = makeSampleInputs(guarded.models.get('mlp')!.signature, { batch: 1 });
    const request = encodeInferRequest(inputs);
    const send = (authorization?: string) =>
      guarded.app.inject({
        method: 'POST',
        url: '/v2/models/mlp/infer',
        headers: {
          'content-type': request.contentType,
          ...(authorization ? { authorization } : {}),
        },
        payload: request.body,
      });
    const missing = await send();
    assertError(missing, 'ES_UNAUTHORIZED');
    assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
    assertError(await send('Bearer wrong-token'), 'ES_UNAUTHORIZED');
    assertError(await send('Basic dGVzdA=='), 'ES_UNAUTHORIZED');
    assert.equal((await send('Bearer test-token-123')).statusCode, 200);
    assertError(await guarded.app.inject({ url: '/metrics' }), 'ES_UNAUTHORIZED');
    assertError(await guarded.app.inject({ url: '/v2/models/mlp' }), 'ES_UNAUTHORIZED');
    const metadata = await guarded.app.inject({
      url: '/v2',
      headers: { authorization: 'Bearer test-token-123' },
    });
    assert.equal(metadata.statusCode, 200);
  });

  it('leaves the health probes open', async () => {
    assert.equal((await guarded.app.inject({ url: '/v2/health/live' })).statusCode, 200);
    assert.equal((await guarded.app.inject({ url: '/v2/health/ready' })).statusCode, 200);
  });

  it('refuses to build a node on a non-loopback host without a token', async () => {
    await assert.rejects(
      createNode({ models: ['mlp'], host: '0.0.0.0', port: 0, logLevel: 'silent' }),
      (e: unknown) => e instanceof EdgeshiftError && e.code === 'ES_CONFIG',
    );
  });
});
