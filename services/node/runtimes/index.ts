import { OnnxruntimeNodeRuntime } from './onnxruntime-node.ts';
import { OnnxruntimeWebRuntime } from './onnxruntime-web.ts';
import type { Runtime, RuntimeName } from './runtime.ts';

export type { ProviderStatus } from './providers.ts';
export { availableProviders, EXECUTION_PROVIDERS } from './providers.ts';
export type {
  ExecutionProvider,
  Runtime,
  RuntimeName,
  RuntimeOptions,
  RuntimeSession,
} from './runtime.ts';

export const RUNTIME_NAMES: readonly RuntimeName[] = ['onnxruntime-node', 'onnxruntime-web'];

/**
 * @example
 * const session = await createRuntime('onnxruntime-web').load(file, { threads: 1 });
 */
export function createRuntime(name: RuntimeName): Runtime {
  switch (name) {
    case 'onnxruntime-node':
      return new OnnxruntimeNodeRuntime();
    case 'onnxruntime-web':
      return new OnnxruntimeWebRuntime();
  }
}
