/**
 * The node over real sockets on 127.0.0.1: dynamic batching, back-pressure (429),
 * latency budgets spent in the queue (504), graceful shutdown and auth.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { createRuntime } from '../../services/node/runtimes/index.ts';
import { createNode, type InferenceNode, type NodeOptions } from '../../services/node/server.ts';
import { assertErrorAnswer } from '../support/errors.ts';
import { assertTensorsClose, metricValue } from './test-support.ts';

async function startNode(options: NodeOptions) {
  const node = await createNode({ port: 0, logLevel: 'silent', ...options });
  const { url } = await node.listen();
  return { node, url };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  ms: number;
}

async function post(
  url: string,
  model: string,
  inputs: Tensor[],
  headers: Record<string, string> = {},
): Promise<Answer> {
  const request = encodeInferRequest(inputs, { binary: true });
  const started = performance.now();
  const response = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: {
      'content-type': request.contentType,
      ...(request.headerLength === undefined
        ? {}
        : { 'inference-header-content-length': String(request.headerLength) }),
      ...headers,
    },
    body: request.body,
  });
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    headers: response.headers,
    body,
    ms: performance.now() - started,
  };
}

function outputsOf(answer: Answer): Tensor[] {
  assert.equal(answer.status, 200, answer.body.toString());
  const header = answer.headers.get('inference-header-content-length');
  return decodeInferResponse(answer.body, header === null ? undefined : Number(header)).outputs;
}

async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function load(node: InferenceNode, model: string): number {
  const batcher = node.models.get(model)!.batcher;
  return batcher.queueDepth + batcher.inflight;
}

describe('node over sockets', () => {
  it('merges concurrent requests into batches, each answer equal to its own unbatched result', async () => {
    const { node, url } = await startNode({ models: ['mlp'], maxBatch: 8 });
    try {
      const signature = node.models.get('mlp')!.signature;
      const requests = Array.from({ length: 48 }, (_, i) =>
        makeSampleInputs(signature, { batch: 1 + (i % 2), seed: 100 + i }),
      );
      const answers = await Promise.all(requests.map((inputs) => post(url, 'mlp', inputs)));
      const reference = await createRuntime('onnxruntime-node').load(node.models.get('mlp')!.file);
      try {
        for (const [i, answer] of answers.entries()) {
          assertTensorsClose(outputsOf(answer), await reference.run(requests[i]!));
        }
      } finally {
        await reference.close();
      }
      const text = await metrics(url);
      const runs = metricValue(text, 'edgeshift_batch_size_count{model="mlp"}');
      const single = metricValue(text, 'edgeshift_batch_size_bucket{le="1",model="mlp"}');
      assert.ok(runs < 48, `${runs} runs for 48 requests`);
      assert.ok(single < runs, 'some run held more than one item');
      assert.equal(metricValue(text, 'edgeshift_batch_size_sum{model="mlp"}'), 72);
    } finally {
      await node.close();
    }
  });

  it('answers 429 with Retry-After at once when the queue is full, and stays ready', async () => {
    const { node, url } = await startNode({ models: ['cnn'], maxBatch: 1, maxQueue: 2 });
    try {
      const inputs = makeSampleInputs(node.models.get('cnn')!.signature, { batch: 4, seed: 3 });
      const flood = Array.from({ length: 40 }, () => post(url, 'cnn', inputs));
      await until(() => node.models.get('cnn')!.batcher.queueDepth === 2);
      const ready = await fetch(`${url}/v2/health/ready`);
      assert.equal(ready.status, 200);
      const answers = await Promise.all(flood);
      const refused = answers.filter((a) => a.status === 429);
      assert.ok(refused.length > 0, 'some requests were refused');
      assert.ok(answers.every((a) => a.status === 200 || a.status === 429));
      for (const a of refused) {
        const retryAfter = a.headers.get('retry-after');
        assert.match(String(retryAfter), /^[1-9]\d*$/);
        assertErrorAnswer({ status: a.status, headers: a.headers, body: a.body }, 'ES_QUEUE_FULL');
      }
      // A refusal costs no compute: it comes back well before the slowest accepted answer.
      const slowestRefusal = Math.max(...refused.map((a) => a.ms));
      assert.ok(slowestRefusal < 2_000, `slowest 429 took ${slowestRefusal} ms`);
      assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
      assert.equal((await post(url, 'cnn', inputs)).status, 200);
    } finally {
      await node.close();
    }
  });

  it('answers 504 without computing a request whose budget runs out in the queue', async () => {
    const { node, url } = await startNode({ models: ['cnn'], maxBatch: 1 });
    try {
      const signature = node.models.get('cnn')!.signature;
      const before = await metrics(url);
      const heavy = post(url, 'cnn', makeSampleInputs(signature, { batch: 128, seed: 4 }));
      await until(() => node.models.get('cnn')!.batcher.inflight === 1);
      const light = await post(url, 'cnn', makeSampleInputs(signature, { batch: 1, seed: 5 }), {
        'x-latency-budget-ms': '1',
      });
      assert.equal(light.status, 504, light.body.toString());
      assert.match(
        JSON.parse(light.body.toString()).error,
        /latency budget of 1 ms exhausted after/,
      );
      assert.equal((await heavy).status, 200);
      const after = await metrics(url);
      const compute = 'edgeshift_request_duration_seconds_count{model="cnn",phase="compute"}';
      assert.equal(
        metricValue(after, compute) - metricValue(before, compute),
        1,
        'only the heavy request computed',
      );
      assert.equal(
        metricValue(after, 'edgeshift_inference_requests_total{model="cnn",status="504"}'),
        1,
      );
    } finally {
      await node.close();
    }
  });

  it('close() answers the requests already received, then stops listening', async () => {
    const { node, url } = await startNode({ models: ['cnn'], maxBatch: 32 });
    const inputs = makeSampleInputs(node.models.get('cnn')!.signature, { batch: 32, seed: 6 });
    // 16 requests of 32 images: enough queued work that close() begins before it ends,
    // even when a loaded machine delays the polling below.
    let answered = 0;
    const pending = Array.from({ length: 16 }, () =>
      post(url, 'cnn', inputs).then((a) => {
        answered += 1;
        return a;
      }),
    );
    await until(() => load(node, 'cnn') + answered === 16);
    const unfinished = load(node, 'cnn');
    const closed = node.close();
    const answers = await Promise.all(pending);
    await closed;
    assert.ok(unfinished > 0, 'close() began with work still queued');
    assert.deepEqual(
      answers.map((a) => a.status),
      new Array(16).fill(200),
    );
    await assert.rejects(fetch(`${url}/v2/health/live`));
  });

  it('checks the bearer token over HTTP', async () => {
    const { node, url } = await startNode({ models: ['mlp'], token: 'sockets-token' });
    try {
      const inputs = makeSampleInputs(node.models.get('mlp')!.signature, { batch: 1 });
      assert.equal((await post(url, 'mlp', inputs)).status, 401);
      assert.equal(
        (await post(url, 'mlp', inputs, { authorization: 'Bearer sockets-token' })).status,
        200,
      );
      assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
    } finally {
      await node.close();
    }
  });
});
