/**
 * The node over real sockets on 127.0.0.1: dynamic batching, back-pressure (429),
 * latency budgets spent in the queue (504), graceful shutdown and auth.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createOipClient,
  type InferResult,
  type OipClient,
  OipError,
} from '../../services/common/client/index.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { createRuntime } from '../../services/node/runtimes/index.ts';
import type { RuntimeSession } from '../../services/node/runtimes/runtime.ts';
import { createNode, type InferenceNode, type NodeOptions } from '../../services/node/server.ts';
import { connect, readAnswer, requestHead } from '../support/raw-socket.ts';
import { assertTensorsClose, metricValue } from './test-support.ts';

/** More connections than any test sends requests at once, so none waits in the client. */
const CONNECTIONS = 64;

async function startNode(options: NodeOptions) {
  const node = await createNode({ port: 0, logLevel: 'silent', ...options });
  const { url } = await node.listen();
  const client = createOipClient({ url, connections: CONNECTIONS });
  return {
    node,
    url,
    client,
    async close() {
      await node.close();
      await client.close();
    },
  };
}

/** An answer as the client saw it: the result, or the node's error, and the round trip. */
interface Answer {
  status: number;
  result?: InferResult;
  error?: OipError;
  ms: number;
}

async function post(
  client: OipClient,
  model: string,
  inputs: Tensor[],
  budgetMs?: number,
): Promise<Answer> {
  const started = performance.now();
  try {
    const result = await client.infer(model, inputs, {
      binary: true,
      ...(budgetMs === undefined ? {} : { budgetMs }),
    });
    return { status: result.status, result, ms: performance.now() - started };
  } catch (error) {
    if (!(error instanceof OipError) || !error.answered) throw error;
    return { status: error.status, error, ms: performance.now() - started };
  }
}

function outputsOf(answer: Answer): Tensor[] {
  assert.equal(answer.status, 200, answer.error?.message);
  return answer.result!.outputs;
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Make the session's runs wait until the returned function is called. The wait is
 * outside the runtime, so what it computes is unchanged.
 */
function holdRuns(session: RuntimeSession): () => void {
  const run = session.run.bind(session);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  session.run = async (inputs, outputNames) => {
    await gate;
    return run(inputs, outputNames);
  };
  return release;
}

function load(node: InferenceNode, model: string): number {
  const batcher = node.models.get(model)!.batcher;
  return batcher.queueDepth + batcher.inflight;
}

describe('node over sockets', () => {
  it('merges concurrent requests into batches, each answer equal to its own unbatched result', async () => {
    const { node, client, close } = await startNode({ models: ['mlp'], maxBatch: 8 });
    try {
      const signature = node.models.get('mlp')!.signature;
      const requests = Array.from({ length: 48 }, (_, i) =>
        makeSampleInputs(signature, { batch: 1 + (i % 2), seed: 100 + i }),
      );
      const answers = await Promise.all(requests.map((inputs) => post(client, 'mlp', inputs)));
      const reference = await createRuntime('onnxruntime-node').load(node.models.get('mlp')!.file);
      try {
        for (const [i, answer] of answers.entries()) {
          assertTensorsClose(outputsOf(answer), await reference.run(requests[i]!));
        }
      } finally {
        await reference.close();
      }
      const text = await client.metrics();
      const runs = metricValue(text, 'edgeshift_batch_size_count{model="mlp"}');
      const single = metricValue(text, 'edgeshift_batch_size_bucket{le="1",model="mlp"}');
      assert.ok(runs < 48, `${runs} runs for 48 requests`);
      assert.ok(single < runs, 'some run held more than one item');
      assert.equal(metricValue(text, 'edgeshift_batch_size_sum{model="mlp"}'), 72);
    } finally {
      await close();
    }
  });

  it('answers 429 with Retry-After at once when the queue is full, and stays ready', async () => {
    const { node, client, close } = await startNode({
      models: ['cnn'],
      maxBatch: 1,
      maxQueue: 2,
      maxInFlight: 1,
      // However slow the machine, the held requests must not time out in the queue here.
      maxQueueMs: 600_000,
    });
    let release = () => {};
    try {
      const served = node.models.get('cnn')!;
      const inputs = makeSampleInputs(served.signature, { batch: 4, seed: 3 });
      // Hold the runtime until released, so the queue stays full for as long as the test
      // needs: the refusals below are decided while no computation can finish.
      release = holdRuns(served.session);
      const running = post(client, 'cnn', inputs);
      await until(() => served.batcher.running === 1);
      const queued = [post(client, 'cnn', inputs), post(client, 'cnn', inputs)];
      await until(() => served.batcher.queueDepth === 2);
      const refused = await Promise.all(
        Array.from({ length: 8 }, () => post(client, 'cnn', inputs)),
      );
      assert.equal(served.batcher.running, 1, 'the held computation is still running');
      assert.equal(await client.ready(), true);
      for (const a of refused) {
        assert.equal(a.status, 429);
        assert.equal(a.error?.code, 'ES_QUEUE_FULL');
        assert.match(String(a.error?.headers['retry-after']), /^[1-9]\d*$/);
      }
      release();
      const accepted = await Promise.all([running, ...queued]);
      assert.deepEqual(
        accepted.map((a) => a.status),
        [200, 200, 200],
      );
      assert.equal(await client.ready(), true);
      assert.equal((await post(client, 'cnn', inputs)).status, 200);
    } finally {
      release();
      await close();
    }
  });

  it('sheds a request whose body is half sent at once, and closes its connection', async () => {
    const { node, url, close } = await startNode({
      models: ['cnn'],
      maxBatch: 1,
      maxQueue: 1,
      maxInFlight: 1,
    });
    let release = () => {};
    const socket = await connect(Number(new URL(url).port));
    socket.on('error', () => {});
    try {
      const served = node.models.get('cnn')!;
      release = holdRuns(served.session);
      const client = createOipClient({ url });
      const inputs = makeSampleInputs(served.signature, { batch: 1, seed: 8 });
      const accepted = [post(client, 'cnn', inputs)];
      await until(() => served.batcher.running === 1);
      accepted.push(post(client, 'cnn', inputs));
      await until(() => served.batcher.queueDepth === 1);
      // Announce 1 MiB, send 1 KiB: the answer must not wait for the rest.
      const answer = readAnswer(socket, { untilAnswer: true });
      socket.write(
        requestHead('POST', '/v2/models/cnn/infer', {
          'content-type': 'application/json',
          'content-length': 1 << 20,
        }),
      );
      socket.write(Buffer.alloc(1024, 0x20));
      const shed = await answer;
      assert.equal(shed.status, 429);
      assert.equal(shed.headers['x-edgeshift-error'], 'ES_QUEUE_FULL');
      assert.equal(shed.headers.connection, 'close');
      release();
      assert.deepEqual(
        (await Promise.all(accepted)).map((a) => a.status),
        [200, 200],
      );
      await client.close();
    } finally {
      socket.destroy();
      release();
      await close();
    }
  });

  it('answers 504 without computing a request whose budget runs out in the queue', async () => {
    const { node, client, close } = await startNode({
      models: ['cnn'],
      maxBatch: 1,
      maxInFlight: 1,
    });
    let release = () => {};
    try {
      const served = node.models.get('cnn')!;
      const before = await client.metrics();
      release = holdRuns(served.session);
      const heavy = post(client, 'cnn', makeSampleInputs(served.signature, { batch: 8, seed: 4 }));
      await until(() => served.batcher.running === 1);
      const budgetMs = 20;
      let lightSettled = false;
      const pendingLight = post(
        client,
        'cnn',
        makeSampleInputs(served.signature, { batch: 1, seed: 5 }),
        budgetMs,
      ).finally(() => {
        lightSettled = true;
      });
      // A loaded machine may spend the budget before the request reaches the queue; it is
      // refused at admission then, which the assertions below accept as well.
      await until(() => served.batcher.queueDepth === 1 || lightSettled);
      // The light request arrived before this moment: once its budget has surely passed,
      // free the runtime; the queued request must then be refused, not computed.
      const queuedBy = performance.now();
      await until(() => performance.now() > queuedBy + budgetMs);
      release();
      const light = await pendingLight;
      assert.equal(light.status, 504);
      assert.equal(light.error?.code, 'ES_BUDGET_EXCEEDED');
      assert.match(String(light.error?.message), /latency budget of 20 ms exhausted after/);
      assert.equal((await heavy).status, 200);
      const after = await client.metrics();
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
      release();
      await close();
    }
  });

  it('answers 503 with Retry-After, without computing, a request still queued at maxQueueMs, and stays ready', async () => {
    const { node, client, close } = await startNode({
      models: ['cnn'],
      maxBatch: 1,
      maxInFlight: 1,
      maxQueueMs: 50,
    });
    let release = () => {};
    try {
      const served = node.models.get('cnn')!;
      const inputs = makeSampleInputs(served.signature, { batch: 1, seed: 7 });
      const before = await client.metrics();
      // Held until the queued request has been answered: the answer comes from the
      // deadline, while no computation can finish.
      release = holdRuns(served.session);
      const running = post(client, 'cnn', inputs);
      await until(() => served.batcher.running === 1);
      const late = await post(client, 'cnn', inputs);
      assert.equal(served.batcher.running, 1, 'the held computation is still running');
      assert.equal(late.status, 503);
      assert.equal(late.error?.code, 'ES_QUEUE_TIMEOUT');
      assert.match(String(late.error?.headers['retry-after']), /^[1-9]\d*$/);
      assert.match(String(late.error?.message), /in the queue.*maxQueueMs.*50 ms/);
      assert.ok(late.ms >= 50, `answered after ${late.ms} ms`);
      assert.equal(await client.ready(), true, 'an overloaded node is still ready');
      release();
      assert.equal((await running).status, 200);
      const after = await client.metrics();
      const compute = 'edgeshift_request_duration_seconds_count{model="cnn",phase="compute"}';
      assert.equal(metricValue(after, compute) - metricValue(before, compute), 1);
      assert.equal(
        metricValue(after, 'edgeshift_inference_requests_total{model="cnn",status="503"}'),
        1,
      );
    } finally {
      release();
      await close();
    }
  });

  it('close() answers the requests already received, then stops listening', async () => {
    const { node, client } = await startNode({
      models: ['cnn'],
      maxBatch: 8,
      maxQueue: 64,
      maxQueueMs: 600_000,
    });
    const served = node.models.get('cnn')!;
    const inputs = makeSampleInputs(served.signature, { batch: 8, seed: 6 });
    // The runtime is held until close() has begun, so every request is still queued or
    // running when it does.
    const release = holdRuns(served.session);
    const pending = Array.from({ length: 16 }, () => post(client, 'cnn', inputs));
    await until(() => load(node, 'cnn') === 16);
    const closed = node.close();
    let closedEarly = false;
    void closed.then(() => {
      closedEarly = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closedEarly, false, 'close() waits for the queued work');
    assert.equal(await client.ready().catch(() => false), false, 'not ready while draining');
    release();
    const answers = await Promise.all(pending);
    await closed;
    assert.deepEqual(
      answers.map((a) => a.status),
      new Array(16).fill(200),
    );
    await assert.rejects(client.live(), (error: unknown) => {
      assert.ok(error instanceof OipError);
      assert.equal(error.code, 'ES_UNREACHABLE');
      return true;
    });
    await client.close();
  });

  it('checks the bearer token over HTTP', async () => {
    const { node, url, client, close } = await startNode({
      models: ['mlp'],
      token: 'sockets-token',
    });
    const authorised = createOipClient({ url, token: 'sockets-token' });
    try {
      const inputs = makeSampleInputs(node.models.get('mlp')!.signature, { batch: 1 });
      const refused = await post(client, 'mlp', inputs);
      assert.deepEqual([refused.status, refused.error?.code], [401, 'ES_UNAUTHORIZED']);
      assert.equal((await post(authorised, 'mlp', inputs)).status, 200);
      assert.equal(await client.ready(), true, 'health needs no token');
    } finally {
      await authorised.close();
      await close();
    }
  });
});
