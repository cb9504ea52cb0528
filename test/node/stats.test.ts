import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeInferRequest } from '../../services/common/codec.ts';
import type { NodeStats } from '../../services/common/node-stats.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { percentile } from '../../services/common/stats.ts';
import { RecentValues } from '../../services/node/recent-values.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import type { TritonStatisticsResponse } from '../../services/node/triton-statistics.ts';
import { assertErrorAnswer } from '../support/errors.ts';

describe('RecentValues', () => {
  it('keeps the latest values only and summarises them with the shared percentile', () => {
    const recent = new RecentValues(4);
    assert.deepEqual(recent.durations(), {
      count: 0,
      p50Ms: null,
      p90Ms: null,
      p99Ms: null,
      meanMs: null,
    });
    for (const v of [100, 1, 2, 3, 4]) recent.push(v);
    assert.equal(recent.count, 4);
    assert.deepEqual(Array.from(recent.sorted()), [1, 2, 3, 4]);
    const d = recent.durations();
    assert.deepEqual(
      [d.count, d.p50Ms, d.p90Ms, d.p99Ms, d.meanMs],
      [4, percentile([1, 2, 3, 4], 50), 4, 4, 2.5],
    );
  });
});

describe('GET /stats', () => {
  let node: InferenceNode;
  before(async () => {
    node = await createNode({
      models: ['mlp', 'gpt'],
      port: 0,
      nodeName: 'stats-node',
      logLevel: 'silent',
      threads: 1,
    });
  });
  after(async () => {
    await node?.close();
  });

  const infer = (model: string, batch: number, seed: number) => {
    const request = encodeInferRequest(
      makeSampleInputs(node.models.get(model)!.signature, { batch, seed }),
      { binary: true },
    );
    return node.app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      headers: {
        'content-type': request.contentType,
        'inference-header-content-length': String(request.headerLength),
      },
      payload: request.body,
    });
  };

  it('reports, per model, what the node answered and computed', async () => {
    const before = (await node.app.inject({ url: '/stats' })).json() as NodeStats;
    assert.equal(before.models.mlp!.total.count, 0);
    for (let i = 0; i < 5; i++) assert.equal((await infer('mlp', 2, i)).statusCode, 200);
    assertErrorAnswer(
      await node.app.inject({
        method: 'POST',
        url: '/v2/models/mlp/infer',
        headers: { 'content-type': 'application/json' },
        payload: '{"inputs": 1}',
      }),
      'ES_BAD_REQUEST',
    );
    const response = await node.app.inject({ url: '/stats' });
    assert.equal(response.statusCode, 200);
    const stats = response.json() as NodeStats;
    assert.equal(stats.node, 'stats-node');
    assert.equal(stats.tier, 'edge');
    assert.equal(stats.accepting, true);
    assert.ok(Number.isFinite(Date.parse(stats.timestamp)));
    const mlp = stats.models.mlp!;
    assert.deepEqual(mlp.requests, { '200': 5, '400': 1 });
    assert.deepEqual([mlp.queueDepth, mlp.inflight, mlp.runningBatches], [0, 0, 0]);
    assert.equal(mlp.maxQueue, node.config.maxQueue);
    for (const phase of [mlp.queue, mlp.compute, mlp.total]) {
      assert.equal(phase.count, 5);
      assert.ok(phase.p50Ms !== null && phase.p50Ms >= 0);
      assert.ok(phase.p50Ms <= phase.p90Ms! && phase.p90Ms! <= phase.p99Ms!);
    }
    // Each request ran alone (one at a time), two items each.
    assert.deepEqual(
      [mlp.batch.count, mlp.batch.mean, mlp.batch.max, mlp.batch.maxBatch],
      [5, 2, 2, node.config.maxBatch],
    );
    assert.ok(mlp.perItemComputeMs !== null && mlp.perItemComputeMs > 0);
    assert.deepEqual(mlp.session, {
      runtime: 'onnxruntime-node',
      ep: 'cpu',
      mode: 'worker',
      intraOpThreads: 1,
      threadsReason: 'set to 1',
    });
    assert.equal(mlp.generation, undefined);
    assert.deepEqual(stats.models.gpt!.generation, { active: 0, waiting: 0 });
  });

  it("answers Triton's statistics extension with the same requests, cumulative", async () => {
    const all = (
      await node.app.inject({ url: '/v2/models/stats' })
    ).json() as TritonStatisticsResponse;
    assert.deepEqual(
      all.model_stats.map((m) => m.name),
      ['mlp', 'gpt'],
    );
    for (const url of ['/v2/models/mlp/stats', '/v2/models/mlp/versions/1/stats']) {
      const response = await node.app.inject({ url });
      assert.equal(response.statusCode, 200);
      const [mlp] = (response.json() as TritonStatisticsResponse).model_stats;
      assert.ok(mlp);
      // The five successful 2-item requests and the one 400 of the test before.
      assert.equal(mlp.version, '1');
      assert.equal(mlp.inference_stats.success.count, 5);
      assert.equal(mlp.inference_stats.fail.count, 1);
      assert.equal(mlp.inference_stats.queue.count, 5);
      assert.equal(mlp.inference_stats.compute_infer.count, 5);
      assert.ok(mlp.inference_stats.compute_infer.ns > 0);
      assert.ok(mlp.inference_stats.success.ns >= mlp.inference_stats.compute_infer.ns);
      assert.equal(mlp.inference_count, 10);
      assert.equal(mlp.execution_count, 5);
      assert.deepEqual(
        mlp.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]),
        [[2, 5]],
      );
      assert.ok(Math.abs(mlp.last_inference - Date.now()) < 600_000);
    }
    assertErrorAnswer(
      await node.app.inject({ url: '/v2/models/nope/stats' }),
      'ES_MODEL_NOT_FOUND',
    );
    assertErrorAnswer(
      await node.app.inject({ url: '/v2/models/mlp/versions/3/stats' }),
      'ES_VERSION_NOT_FOUND',
    );
    const metadata = (await node.app.inject({ url: '/v2' })).json() as { extensions: string[] };
    assert.ok(metadata.extensions.includes('statistics'));
  });

  it('answers 405 for other methods', async () => {
    assertErrorAnswer(
      await node.app.inject({ method: 'POST', url: '/stats' }),
      'ES_METHOD_NOT_ALLOWED',
    );
  });
});
