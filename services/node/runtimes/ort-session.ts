/**
 * A RuntimeSession over an onnxruntime session on the calling thread. onnxruntime-node's
 * inline sessions are one; a session's worker thread wraps its own session in one for
 * the code it hosts (worker-host.ts), so that code sees the same interface either way.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type { ModelSignature, Tensor } from '../../common/tensor.ts';
import { checkRunRequest } from './input-check.ts';
import {
  fromOrtParts,
  type OrtSessionMetadata,
  type OrtTensorType,
  signatureFromMetadata,
  toOrtParts,
} from './ort-convert.ts';
import type { ExecutionProvider, RuntimeName, RuntimeSession } from './runtime.ts';

/** What this needs of an onnxruntime package (onnxruntime-node and onnxruntime-web both fit). */
export interface OrtModuleLike {
  Tensor: new (type: OrtTensorType, data: unknown, dims: readonly number[]) => unknown;
}

export interface OrtSessionLike extends OrtSessionMetadata {
  run(
    feeds: Record<string, unknown>,
    fetches: readonly string[],
    options: Record<string, unknown>,
  ): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}

/**
 * A failed run comes back as the rejection; onnxruntime's own copy on stderr would log
 * every bad request a second time (4 = fatal only, onnxruntime logging/severity.h).
 * A fresh object per run: onnxruntime-web adds its defaults to the one it is given.
 */
function runOptions(): Record<string, unknown> {
  return { logSeverityLevel: 4 };
}

export class OrtSession implements RuntimeSession {
  readonly runtime: RuntimeName;
  readonly ep: ExecutionProvider;
  readonly signature: ModelSignature;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly ort: OrtModuleLike,
    private readonly session: OrtSessionLike,
    runtime: RuntimeName,
    ep: ExecutionProvider,
  ) {
    this.runtime = runtime;
    this.ep = ep;
    this.signature = signatureFromMetadata(session);
  }

  run(inputs: Tensor[], outputNames?: string[]): Promise<Tensor[]> {
    const result = this.runNow(inputs, outputNames);
    this.inFlight.add(result);
    const forget = () => this.inFlight.delete(result);
    result.then(forget, forget);
    return result;
  }

  private async runNow(inputs: Tensor[], outputNames?: string[]): Promise<Tensor[]> {
    if (this.closed) throw new EdgeshiftError('ES_NOT_READY', `${this.runtime} session is closed`);
    checkRunRequest(this.signature, inputs, outputNames);
    const feeds: Record<string, unknown> = {};
    for (const tensor of inputs) {
      const parts = toOrtParts(tensor);
      // Wraps the caller's typed array: no copy.
      feeds[tensor.name] = new this.ort.Tensor(parts.type, parts.data, parts.dims);
    }
    const fetches = outputNames ?? this.signature.outputs.map((o) => o.name);
    let outputs: Record<string, unknown>;
    try {
      // onnxruntime-node's binding runs these one at a time on this thread, so concurrent
      // calls are safe; a worker serialises its calls itself (session-worker.mjs).
      outputs = await this.session.run(feeds, fetches, runOptions());
    } catch (error) {
      // Inputs passed checkRunRequest, so onnxruntime's complaint is about their values.
      const message = error instanceof Error ? error.message : String(error);
      throw new EdgeshiftError('ES_BAD_REQUEST', `inference failed: ${message.trim()}`, {
        cause: error,
      });
    }
    return fetches.map((name) => {
      const output = outputs[name];
      if (output === undefined)
        throw new EdgeshiftError('ES_INTERNAL', `${this.runtime} returned no output '${name}'`);
      return fromOrtParts(name, output as { type: string; data: unknown; dims: readonly number[] });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.session.release();
  }
}
