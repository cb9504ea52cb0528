import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_CPU_MEM_ARENA,
  nodeSessionOptions,
  OnnxruntimeNodeRuntime,
} from '../../../services/node/runtimes/onnxruntime-node.ts';
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

// The same behaviour with onnxruntime's CPU memory arena off (docs/node.md, Memory).
runtimeContract(
  'onnxruntime-node (worker thread, no CPU memory arena)',
  () => new OnnxruntimeNodeRuntime(),
  {
    load: { cpuMemArena: false },
    nonBlocking: true,
    unavailableProvider: unavailableNodeProvider,
  },
);

describe('onnxruntime-node session options', () => {
  it('set the CPU memory arena as asked, DEFAULT_CPU_MEM_ARENA when not', () => {
    assert.equal(nodeSessionOptions('cpu').enableCpuMemArena, DEFAULT_CPU_MEM_ARENA);
    assert.equal(nodeSessionOptions('cpu', 2, false).enableCpuMemArena, false);
    assert.equal(nodeSessionOptions('cpu', 2, true).enableCpuMemArena, true);
  });
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
