import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OnnxruntimeNodeRuntime } from '../../../services/node/runtimes/onnxruntime-node.ts';
import {
  availableProviders,
  staticProviderProblem,
} from '../../../services/node/runtimes/providers.ts';
import type { ExecutionProvider } from '../../../services/node/runtimes/runtime.ts';
import { runtimeContract } from './runtime.contract.ts';

async function unavailableNodeProvider(): Promise<ExecutionProvider | { skip: string }> {
  const statuses = await availableProviders('onnxruntime-node');
  const missing = statuses.find((s) => !s.available);
  return missing?.ep ?? { skip: 'every execution provider works on this machine' };
}

runtimeContract('onnxruntime-node (worker thread)', () => new OnnxruntimeNodeRuntime(), {
  nonBlocking: true,
  unavailableProvider: unavailableNodeProvider,
});

runtimeContract('onnxruntime-node (calling thread)', () => new OnnxruntimeNodeRuntime(), {
  load: { worker: false },
  nonBlocking: false,
  unavailableProvider: unavailableNodeProvider,
});

describe('onnxruntime-node providers', () => {
  it('always offers the CPU provider', async () => {
    const statuses = await availableProviders('onnxruntime-node');
    assert.deepEqual(
      statuses.map((s) => s.ep),
      ['cpu', 'webgpu', 'cuda'],
    );
    assert.equal(statuses[0]?.available, true);
    for (const s of statuses)
      if (!s.available) assert.match(s.reason, new RegExp(`'${s.ep}' is unavailable`));
  });

  it('names the install command when the CUDA libraries are missing', async (t) => {
    const problem = await staticProviderProblem('cuda');
    if (problem === undefined) {
      t.skip('the CUDA provider libraries are installed here');
      return;
    }
    assert.match(
      problem,
      /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/,
    );
    assert.match(problem, /npm install-scripts approve onnxruntime-node/);
  });
});
