/**
 * The OIP client against a real node on 127.0.0.1 (createNode, port 0): every endpoint,
 * both encodings, errors with the node's codes, auth, generation and its streams.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { createOipClient, type OipClient } from '../../../services/common/client/index.ts';
import { encodeInferRequest } from '../../../services/common/codec-client.ts';
import type { NodeStats } from '../../../services/common/node-stats.ts';
import { makeSampleInputs } from '../../../services/common/sample-inputs.ts';
import { ONNX_PLATFORM } from '../../../services/node/served-models.ts';
import { createNode, type InferenceNode } from '../../../services/node/server.ts';
import { assertTensorsClose, inProcessOutputs, metricValue } from '../../node/test-support.ts';
import { assertRefusal } from '../../support/errors.ts';
import { httpServer } from '../../support/misbehaving-servers.ts';

let node: InferenceNode;
let client: OipClient;

before(async () => {
  node = await createNode({ models: ['mlp', 'gpt'], port: 0, threads: 1, logLevel: 'silent' });
  const { url } = await node.listen();
  client = createOipClient({ url: `${url}/` });
});

after(async () => {
  await client?.close();
  await node?.close();
});

describe('OIP client against a node', () => {
  it('reads health, server metadata, model metadata, signature and readiness', async () => {
    assert.equal(client.url.endsWith('/'), false);
    assert.equal(await client.live(), true);
    assert.equal(await client.ready(), true);
    const server = await client.serverMetadata();
    assert.equal(server.name, 'edgeshift');
    assert.ok(server.extensions.includes('binary_tensor_data'));
    assert.ok(server.extensions.includes('generate'));
    const metadata = await client.modelMetadata('mlp', { version: '1' });
    assert.deepEqual([metadata.name, metadata.versions], ['mlp', ['1']]);
    assert.equal(metadata.platform, ONNX_PLATFORM);
    const signature = await client.modelSignature('mlp');
    const served = node.models.get('mlp')!.signature;
    const strip = (specs: typeof served.inputs) =>
      specs.map(({ name, datatype, shape }) => ({ name, datatype, shape }));
    assert.deepEqual(signature, { inputs: strip(served.inputs), outputs: strip(served.outputs) });
    assert.equal(await client.modelReady('gpt'), true);
  });

  it("raises the node's codes: unknown model (naming the served ones) and version", async () => {
    const unknown = await assertRefusal(client.modelReady('nope'), 'ES_MODEL_NOT_FOUND');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.answered, true);
    assert.match(unknown.message, /mlp, gpt/);
    await assertRefusal(client.modelMetadata('mlp', { version: '2' }), 'ES_VERSION_NOT_FOUND');
    await assertRefusal(client.infer('nope', []), 'ES_MODEL_NOT_FOUND');
  });

  it('infers with JSON and binary tensors, equal to in-process onnxruntime, with its trace', async () => {
    const served = node.models.get('mlp')!;
    const inputs = makeSampleInputs(served.signature, { batch: 3, seed: 11 });
    const expected = await inProcessOutputs(served.file, inputs);
    const sizes: number[] = [];
    for (const binary of [false, true]) {
      const result = await client.infer('mlp', inputs, { binary, id: `req-${binary}` });
      assertTensorsClose(result.outputs, expected);
      assert.equal(result.id, `req-${binary}`);
      assert.deepEqual([result.modelName, result.modelVersion, result.status], ['mlp', '1', 200]);
      assert.deepEqual([result.node, result.tier], ['edge', 'edge']);
      assert.deepEqual(
        result.serverTiming.map((e) => e.name),
        ['queue', 'compute', 'total'],
      );
      const total = result.serverTiming.find((e) => e.name === 'total')!.dur!;
      assert.ok(total > 0 && result.roundTripMs >= total, `${result.roundTripMs} vs ${total}`);
      sizes.push(result.requestBytes);
    }
    assert.ok(sizes[1]! < sizes[0]!, 'binary requests are smaller');
  });

  it('asks for chosen outputs, by version, and sends the latency budget', async () => {
    const gpt = node.models.get('gpt')!;
    const inputs = makeSampleInputs(gpt.signature, { batch: 1, sequenceLength: 4, seed: 2 });
    const result = await client.infer('gpt', inputs, {
      version: '1',
      outputs: ['logits', { name: 'present.0.key', binary: true }],
      budgetMs: 60_000,
    });
    assert.deepEqual(
      result.outputs.map((o) => o.name),
      ['logits', 'present.0.key'],
    );
    // A budget the node refuses proves the header arrived.
    await assertRefusal(client.infer('gpt', inputs, { budgetMs: -1 }), 'ES_BAD_REQUEST');
    await assertRefusal(
      client.infer('gpt', [{ ...inputs[0]!, name: 'no_such_input' }, ...inputs.slice(1)]),
      'ES_UNKNOWN_INPUT',
    );
  });

  it('sends the token, and reports a missing one as ES_UNAUTHORIZED', async () => {
    const guarded = await createNode({
      models: ['mlp'],
      port: 0,
      token: 'client-token',
      logLevel: 'silent',
    });
    const { url } = await guarded.listen();
    const anonymous = createOipClient({ url });
    const authorised = createOipClient({ url, token: 'client-token' });
    try {
      assert.equal(await anonymous.ready(), true, 'health needs no token');
      const error = await assertRefusal(anonymous.modelMetadata('mlp'), 'ES_UNAUTHORIZED');
      assert.equal(error.status, 401);
      assert.equal((await authorised.modelMetadata('mlp')).name, 'mlp');
    } finally {
      await anonymous.close();
      await authorised.close();
      await guarded.close();
    }
  });

  it('generates, and streams the same tokens as events stamped as they arrive', async () => {
    const body = { input_ids: [5, 6, 7, 8], max_tokens: 12, end_id: -1 };
    const whole = await client.generate('gpt', body);
    assert.equal(whole.answer.output_ids?.length, 12);
    assert.deepEqual(
      whole.serverTiming.map((e) => e.name),
      ['ttft', 'total'],
    );
    assert.equal(whole.tier, 'edge');
    const stream = await client.generateStream('gpt', body);
    assert.equal(stream.status, 200);
    assert.deepEqual(
      stream.serverTiming.map((e) => e.name),
      ['ttft'],
    );
    const ids: number[] = [];
    let last = stream.sentAt;
    let index = 0;
    for await (const event of stream) {
      assert.equal(event.index, index++);
      assert.ok(event.at >= last, 'arrival times never go back');
      last = event.at;
      ids.push(...event.data.output_ids!);
    }
    assert.deepEqual(ids, whole.answer.output_ids);
  });

  it('leaving a stream early closes it, and the node cancels the generation', async () => {
    const closed = async () =>
      metricValue(
        await client.metrics(),
        'edgeshift_generation_requests_total{model="gpt",status="499"}',
      );
    const before = await closed();
    const stream = await client.generateStream('gpt', {
      input_ids: [1, 2],
      max_tokens: 200,
      end_id: -1,
    });
    for await (const event of stream) if (event.index === 2) break;
    const deadline = Date.now() + 10_000;
    while ((await closed()) !== before + 1) {
      assert.ok(Date.now() < deadline, 'the node never saw the disconnect');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const again = await client.generateStream('gpt', {
      input_ids: [1, 2],
      max_tokens: 200,
      end_id: -1,
    });
    again.cancel();
    const after: unknown[] = [];
    for await (const event of again) after.push(event);
    assert.deepEqual(after, [], 'a cancelled stream ends, without events or an error');
  });

  it('raises a generation error before the first token as the node answered it', async () => {
    await assertRefusal(client.generateStream('gpt', { input_ids: [5000] }), 'ES_BAD_REQUEST');
    await assertRefusal(client.generate('mlp', { text_input: 'a' }), 'ES_BAD_REQUEST');
    await assertRefusal(client.generate('nope', { text_input: 'a' }), 'ES_MODEL_NOT_FOUND');
  });

  it('reads the energy snapshot and the metrics text', async () => {
    const energy = await client.energy();
    assert.ok(Array.isArray(energy.meters));
    assert.equal(typeof energy.timestamp, 'string');
    const text = await client.metrics();
    assert.match(text, /^edgeshift_/m);
  });

  it('passes an infer request through untouched and returns the node answer as bytes', async () => {
    const served = node.models.get('mlp')!;
    const inputs = makeSampleInputs(served.signature, { batch: 1, seed: 3 });
    const direct = await client.infer('mlp', inputs, { binary: true });
    const encoded = encodeInferRequest(inputs, { binary: true });
    const answer = await client.send({
      method: 'POST',
      path: '/v2/models/mlp/infer',
      headers: {
        'content-type': encoded.contentType,
        'inference-header-content-length': String(encoded.headerLength),
      },
      body: encoded.body,
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.length, direct.responseBytes);
    assert.ok(answer.headers['inference-header-content-length'] !== undefined);
    const missing = await client.send({ method: 'GET', path: '/v2/models/nope' });
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body.toString()).code, 'ES_MODEL_NOT_FOUND');
  });
});

describe("OIP client against a node's own GET /stats", () => {
  it('reads the load view, which counts the requests it answered', async (t) => {
    // GET /stats arrives with services/node/stats-route.ts; until a node serves it, skip.
    const probe = await client.send({ method: 'GET', path: '/stats' });
    if (probe.status === 404) {
      t.skip('this node has no GET /stats route yet');
      return;
    }
    const served = node.models.get('mlp')!;
    await client.infer('mlp', makeSampleInputs(served.signature, { batch: 1, seed: 5 }));
    const stats = await client.stats();
    assert.deepEqual([stats.node, stats.tier, stats.accepting], ['edge', 'edge', true]);
    assert.deepEqual(Object.keys(stats.models).sort(), ['gpt', 'mlp']);
    const mlp = stats.models.mlp!;
    assert.ok((mlp.requests['200'] ?? 0) >= 1, JSON.stringify(mlp.requests));
    assert.ok(mlp.total.count >= 1);
    assert.equal(mlp.batch.maxBatch, node.config.maxBatch);
  });
});

describe('OIP client against a stats endpoint', () => {
  it('reads GET /stats as NodeStats, and refuses a body of another shape', async () => {
    const stats: NodeStats = {
      node: 'edge-1',
      tier: 'edge',
      timestamp: new Date(0).toISOString(),
      window: 256,
      accepting: true,
      http: {
        connections: 1,
        maxConnections: 1000,
        requestsInFlight: 1,
        bodyBytesInFlight: 0,
        maxBodyBytesInFlight: 1 << 28,
      },
      models: {
        cnn: {
          queueDepth: 3,
          inflight: 8,
          runningBatches: 2,
          maxQueue: 256,
          requests: { '200': 10 },
          queue: { count: 10, p50Ms: 0.1, p90Ms: 0.2, p99Ms: 0.3, meanMs: 0.12 },
          compute: { count: 10, p50Ms: 1, p90Ms: 2, p99Ms: 3, meanMs: 1.2 },
          total: { count: 10, p50Ms: 1.2, p90Ms: 2.3, p99Ms: 3.4, meanMs: 1.4 },
          batch: { count: 4, mean: 2.5, max: 8, maxBatch: 8 },
          perItemComputeMs: 0.25,
          session: {
            runtime: 'onnxruntime-node',
            ep: 'cpu',
            mode: 'worker',
            intraOpThreads: 1,
            threadsReason: 'set to 1',
          },
        },
      },
    };
    const app = Fastify();
    let body: unknown = stats;
    app.get('/stats', async () => body);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const local = createOipClient({ url: `http://127.0.0.1:${port}` });
    try {
      assert.deepEqual(await local.stats(), stats);
      body = { node: 'x', models: [] };
      await assertRefusal(local.stats(), 'ES_BAD_RESPONSE');
    } finally {
      await local.close();
      await app.close();
    }
  });
});

describe('OIP client pool', () => {
  it('keeps connections alive and opens no more than `connections`', async () => {
    const server = await httpServer((request, response) => {
      request.resume();
      // Answer later, so requests pile up on the pool.
      setTimeout(() => response.end('ok'), 5);
    });
    const pooled = createOipClient({ url: server.url, connections: 3 });
    try {
      await Promise.all(Array.from({ length: 30 }, () => pooled.metrics()));
      await Promise.all(Array.from({ length: 30 }, () => pooled.metrics()));
      assert.ok(server.connections <= 3, `${server.connections} connections`);
      assert.ok(server.connections >= 1);
    } finally {
      await pooled.close();
      await server.close();
    }
  });
});
