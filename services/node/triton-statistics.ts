/**
 * Triton's statistics extension (GET v2/models[/{name}[/versions/{v}]]/stats),
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_statistics.md,
 * which Triton's perf_analyzer reads for its server-side figures: cumulative counts and
 * durations per model since the node started.
 *
 * What each field holds here: `success` counts successful inference requests with their
 * time from arrival to answer; `fail` every other answer to an inference request with
 * its time; `queue` the time from entering the batcher to the start of its compute (as
 * in Server-Timing); `compute_infer` the runtime call that computed the request (the
 * whole call, its copy to the worker thread included, as in Server-Timing); onnxruntime
 * does not report input preparation and output extraction apart from the run, so
 * `compute_input` and `compute_output` carry the counts with 0 ns. `inference_count`
 * counts batch items of successful runtime calls, `execution_count` those calls;
 * `batch_stats` has one entry per batch size the runtime was called with. Generation
 * (generate, generate_stream) is not counted here; it has its own metrics.
 */
import type { DurationTotal, NodeMetrics } from './metrics.ts';
import { MODEL_VERSION, type ServedModel } from './served-models.ts';

interface DurationStat {
  count: number;
  ns: number;
}

export interface TritonModelStatistics {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<
    | 'success'
    | 'fail'
    | 'queue'
    | 'compute_input'
    | 'compute_infer'
    | 'compute_output'
    | 'cache_hit',
    DurationStat
  >;
  batch_stats: Array<{
    batch_size: number;
    compute_input: DurationStat;
    compute_infer: DurationStat;
    compute_output: DurationStat;
  }>;
}

export interface TritonStatisticsResponse {
  model_stats: TritonModelStatistics[];
}

const ns = (total: DurationTotal): DurationStat => ({
  count: total.count,
  ns: Math.round(total.ms * 1e6),
});
const countOnly = (count: number): DurationStat => ({ count, ns: 0 });

export function modelStatistics(model: ServedModel, metrics: NodeMetrics): TritonModelStatistics {
  const c = metrics.recentFigures(model.name)?.cumulative;
  const none = { count: 0, ms: 0 };
  const compute = c?.compute ?? none;
  return {
    name: model.name,
    version: MODEL_VERSION,
    last_inference: c?.lastInferenceMs ?? 0,
    inference_count: c?.inferenceCount ?? 0,
    execution_count: c?.executionCount ?? 0,
    inference_stats: {
      success: ns(c?.success ?? none),
      fail: ns(c?.fail ?? none),
      queue: ns(c?.queue ?? none),
      compute_input: countOnly(compute.count),
      compute_infer: ns(compute),
      compute_output: countOnly(compute.count),
      // No response cache: nothing is ever a hit.
      cache_hit: countOnly(0),
    },
    batch_stats: [...(c?.batches ?? new Map<number, DurationTotal>())]
      .sort(([a], [b]) => a - b)
      .map(([size, total]) => ({
        batch_size: size,
        compute_input: countOnly(total.count),
        compute_infer: ns(total),
        compute_output: countOnly(total.count),
      })),
  };
}
