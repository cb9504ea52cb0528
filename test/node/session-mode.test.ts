import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveModel } from '../../models/registry.ts';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { resolveNodeConfig } from '../../services/node/config.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { assertTensorsClose, inProcessOutputs, metricValue } from './test-support.ts';

describe('sessionMode option', () => {
  it('defaults to worker and accepts inline for onnxruntime-node', () => {
    assert.equal(resolveNodeConfig({}).sessionMode, 'worker');
    assert.equal(resolveNodeConfig({ sessionMode: 'inline' }).sessionMode, 'inline');
  });

  it('refuses inline for onnxruntime-web and unknown modes', () => {
    for (const options of [
      { sessionMode: 'inline', runtime: 'onnxruntime-web' },
      { sessionMode: 'thread' },
    ]) {
      assert.throws(
        () => resolveNodeConfig(options as Parameters<typeof resolveNodeConfig>[0]),
        (error: unknown) => isEdgeshiftError(error) && error.code === 'ES_CONFIG',
      );
    }
  });
});

describe('a node with inline sessions', () => {
  let node: InferenceNode;

  before(async () => {
    node = await createNode({ models: ['mlp'], port: 0, sessionMode: 'inline', threads: 1 });
  });

  after(async () => {
    await node?.close();
  });

  it('merges concurrent requests and answers each with its in-process outputs', async () => {
    const signature = node.models.get('mlp')!.signature;
    const requests = [1, 2, 3, 4, 5, 6].map((seed) => makeSampleInputs(signature, { seed }));
    const responses = await Promise.all(
      requests.map((inputs, i) => {
        const body = encodeInferRequest(inputs, { binary: i % 2 === 0 });
        return node.app.inject({
          method: 'POST',
          url: '/v2/models/mlp/infer',
          headers: {
            'content-type': body.contentType,
            ...(body.headerLength === undefined
              ? {}
              : { 'inference-header-content-length': String(body.headerLength) }),
          },
          payload: body.body,
        });
      }),
    );
    const file = (await resolveModel('mlp')).file;
    for (const [i, response] of responses.entries()) {
      assert.equal(response.statusCode, 200, response.body);
      assert.match(String(response.headers['server-timing']), /compute;dur=/);
      const header = response.headers['inference-header-content-length'];
      const outputs = decodeInferResponse(
        response.rawPayload,
        header === undefined ? undefined : Number(header),
      ).outputs;
      assertTensorsClose(outputs, await inProcessOutputs(file, requests[i]!));
    }
    const metrics = await node.metrics.text();
    const runs = metricValue(metrics, 'edgeshift_batch_size_count{model="mlp"}');
    const items = metricValue(metrics, 'edgeshift_batch_size_sum{model="mlp"}');
    assert.equal(items, 6);
    assert.ok(runs < 6, `${runs} runs for 6 concurrent requests: nothing merged`);
  });
});
