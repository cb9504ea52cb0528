/**
 * Which execution providers this install can use, and errors that say how to fix the
 * ones it cannot.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgeshiftError } from '../../common/errors.ts';
import { encodeOnnxModel, ONNX_ELEM_TYPE } from './onnx-bytes.ts';
import { importOrtNode } from './ort-node-module.ts';
import type { ExecutionProvider, RuntimeName } from './runtime.ts';

export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'webgpu', 'cuda'];

export interface ProviderStatus {
  ep: ExecutionProvider;
  available: boolean;
  /** Why it is unavailable, and the fix; a short note when available. */
  reason: string;
}

/**
 * Files onnxruntime-node's install script downloads for the CUDA provider on Linux x64
 * (onnxruntime-node 1.30 script/install-metadata.js, manifest 'linux/x64:cuda12').
 */
const CUDA_LIBRARIES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];

const CUDA_INSTALL_FIX =
  'fix: with internet access run `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`, ' +
  'or approve the package install script (`npm install-scripts approve onnxruntime-node`) and reinstall it (`npm rebuild onnxruntime-node`)';

// "ONNX Runtime built with CUDA 12.x ... cuDNN 9.x" since 1.19:
// https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html#requirements
const CUDA_RUNTIME_FIX =
  'the CUDA provider needs an NVIDIA GPU and the CUDA 12 and cuDNN 9 libraries on the library path';

const WEBGPU_FIX =
  "onnxruntime-node reaches the GPU through Dawn, on Vulkan under Linux: install libvulkan1 and the GPU driver's " +
  "Vulkan ICD (NVIDIA's ICD is libGLX_nvidia.so.0, which also needs the libglvnd packages libglvnd0, libglx0 " +
  'and libegl1; in NVIDIA containers, point VK_DRIVER_FILES at the driver nvidia_icd.json)';

function ortNodeBinaryDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

export function providerUnavailable(
  runtime: RuntimeName,
  ep: ExecutionProvider,
  reason: string,
): EdgeshiftError {
  const nodeFixes: Partial<Record<ExecutionProvider, string>> = {
    webgpu: WEBGPU_FIX,
    cuda: CUDA_RUNTIME_FIX,
  };
  const fix = runtime === 'onnxruntime-node' ? (nodeFixes[ep] ?? '') : '';
  const message = `${runtime}: execution provider '${ep}' is unavailable: ${reason}${fix && !reason.includes('fix:') ? `; ${fix}` : ''}`;
  return new EdgeshiftError('ES_PROVIDER_UNAVAILABLE', message);
}

/**
 * A problem onnxruntime-node can be asked about without creating a session: the
 * provider is not in this build, or its libraries are not installed. Undefined when
 * the provider is worth trying.
 */
export async function staticProviderProblem(ep: ExecutionProvider): Promise<string | undefined> {
  if (ep === 'cpu') return undefined;
  const ort = await importOrtNode();
  const backend = ort.listSupportedBackends().find((b) => b.name === ep);
  if (backend === undefined)
    return `this onnxruntime-node build (${process.platform}/${process.arch}) has no '${ep}' provider`;
  if (ep === 'cuda' && !backend.bundled) {
    const dir = ortNodeBinaryDir();
    const missing = CUDA_LIBRARIES.filter((file) => !existsSync(join(dir, file)));
    if (missing.length > 0) {
      return `onnxruntime-node ships its CUDA provider separately and ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed; ${CUDA_INSTALL_FIX}`;
    }
  }
  return undefined;
}

/** A one-node model (Identity on FP32 [1]) that any provider can run. */
function probeModel(): Uint8Array {
  const { FLOAT } = ONNX_ELEM_TYPE;
  return encodeOnnxModel({
    name: 'provider_probe',
    inputs: [{ name: 'x', elemType: FLOAT, shape: [1] }],
    outputs: [{ name: 'y', elemType: FLOAT, shape: [1] }],
    nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

/** Create a session on `ep` with a trivial model; returns onnxruntime's reason when that fails. */
export async function probeNodeProvider(ep: ExecutionProvider): Promise<string | undefined> {
  const problem = await staticProviderProblem(ep);
  if (problem !== undefined) return problem;
  const ort = await importOrtNode();
  try {
    const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [ep] });
    await session.release();
    return undefined;
  } catch (error) {
    return conciseOrtMessage(error instanceof Error ? error.message : String(error));
  }
}

/** Drops the C++ source location and assertion text onnxruntime puts before its reason. */
export function conciseOrtMessage(message: string): string {
  return message.replace(/^\S+\.(?:cc|cpp|h):\d+ [^\n]*? was false\. /, '').trim();
}

/**
 * Which of cpu/webgpu/cuda the runtime can use here. For onnxruntime-node this creates
 * a throwaway session on each GPU provider, so it takes up to a second or two.
 */
export async function availableProviders(
  runtime: RuntimeName = 'onnxruntime-node',
): Promise<ProviderStatus[]> {
  if (runtime === 'onnxruntime-web') {
    return EXECUTION_PROVIDERS.map((ep) =>
      ep === 'cpu'
        ? { ep, available: true, reason: 'WebAssembly' }
        : { ep, available: false, reason: webProviderReason(ep) },
    );
  }
  const statuses: ProviderStatus[] = [];
  for (const ep of EXECUTION_PROVIDERS) {
    const problem = await probeNodeProvider(ep);
    statuses.push(
      problem === undefined
        ? { ep, available: true, reason: ep === 'cpu' ? 'bundled' : 'a test session ran' }
        : { ep, available: false, reason: providerUnavailable(runtime, ep, problem).message },
    );
  }
  return statuses;
}

export function webProviderReason(ep: ExecutionProvider): string {
  return ep === 'webgpu'
    ? "onnxruntime-web's WebGPU provider needs a browser's navigator.gpu; in Node use onnxruntime-node with ep 'webgpu'"
    : `onnxruntime-web has no '${ep}' provider; in Node use onnxruntime-node with ep '${ep}'`;
}
