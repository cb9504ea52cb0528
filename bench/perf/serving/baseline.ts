/**
 * The baseline: onnxruntime-node called in-process, the fastest way a program can use
 * the model without a server. Same session options as the node (nodeSessionOptions),
 * one batch-1 inference at a time: onnxruntime-node runs one inference at a time per
 * session anyway, so a sequential loop is its saturated throughput, and the per-call
 * timings of that loop are its latency at low load.
 */
import type { ModelSignature, Tensor } from '../../../services/common/tensor.ts';
import { nodeSessionOptions } from '../../../services/node/runtimes/onnxruntime-node.ts';
import {
  fromOrtParts,
  signatureFromMetadata,
  toOrtParts,
} from '../../../services/node/runtimes/ort-convert.ts';
import { importOrtNode } from '../../../services/node/runtimes/ort-node-module.ts';

type Ort = Awaited<ReturnType<typeof importOrtNode>>;
type OrtSession = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

export interface LoopResult {
  /** Inferences per second over the timed loop. */
  inferencesPerSecond: number;
  /** Milliseconds of each timed call. */
  latenciesMs: number[];
}

export class InProcessModel {
  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtSession,
  ) {}

  get signature(): ModelSignature {
    return signatureFromMetadata(this.session);
  }

  static async load(file: string, threads: number): Promise<InProcessModel> {
    const ort = await importOrtNode();
    const session = await ort.InferenceSession.create(file, nodeSessionOptions('cpu', threads));
    return new InProcessModel(ort, session);
  }

  /** One inference. Tensors are made per call, as a program with fresh inputs would. */
  async run(inputs: readonly Tensor[]): Promise<Tensor[]> {
    const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
    for (const tensor of inputs) {
      const parts = toOrtParts(tensor);
      feeds[tensor.name] = new this.ort.Tensor(parts.type, parts.data, parts.dims);
    }
    const outputs = await this.session.run(feeds);
    return this.session.outputNames.map((name) =>
      fromOrtParts(name, outputs[name] as { type: string; data: unknown; dims: readonly number[] }),
    );
  }

  /** Sequential calls for `seconds`. */
  async loop(inputs: readonly Tensor[], seconds: number): Promise<LoopResult> {
    const latenciesMs: number[] = [];
    const start = performance.now();
    const end = start + seconds * 1000;
    let now = start;
    while (now < end) {
      const t0 = now;
      await this.run(inputs);
      now = performance.now();
      latenciesMs.push(now - t0);
    }
    return { inferencesPerSecond: latenciesMs.length / ((now - start) / 1000), latenciesMs };
  }

  close(): Promise<void> {
    return this.session.release();
  }
}
