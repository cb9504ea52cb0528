/**
 * Loading the node's models: resolve each name through the model registry, load it in
 * the configured runtime, and give it a batcher. Exactly one version, "1", per model.
 */
import { resolveModel } from '../../models/registry.ts';
import { EdgeshiftError, isEdgeshiftError } from '../common/errors.ts';
import type { ModelSignature } from '../common/tensor.ts';
import { Batcher } from './batcher.ts';
import type { NodeConfig } from './config.ts';
import type { NodeMetrics } from './metrics.ts';
import { createRuntime } from './runtimes/index.ts';
import type { RuntimeSession } from './runtimes/runtime.ts';
import { machineCpus, planThreads, type ThreadPlan } from './runtimes/thread-plan.ts';

export const MODEL_VERSION = '1';
/** Triton's platform name for ONNX models served by ONNX Runtime (model configuration docs). */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

export interface ServedModel {
  readonly name: string;
  readonly kind: 'zoo' | 'pretrained' | 'file';
  readonly file: string;
  readonly licence: string;
  readonly source: string;
  readonly session: RuntimeSession;
  readonly signature: ModelSignature;
  readonly batcher: Batcher;
  /** The session's intra-op threads and why (runtimes/thread-plan.ts). */
  readonly threads: ThreadPlan;
}

async function loadOne(
  nameOrPath: string,
  config: NodeConfig,
  runtime: ReturnType<typeof createRuntime>,
  metrics: NodeMetrics,
  threads: ThreadPlan,
): Promise<ServedModel> {
  const resolved = await resolveModel(nameOrPath);
  let session: RuntimeSession;
  try {
    session = await runtime.load(resolved.file, {
      ep: config.ep,
      threads: threads.intraOpThreads === 0 ? undefined : threads.intraOpThreads,
      worker: config.sessionMode === 'worker',
      cpuMemArena: config.cpuMemArena,
    });
  } catch (cause) {
    if (isEdgeshiftError(cause)) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new EdgeshiftError(
      'ES_MODEL_LOAD',
      `cannot load ${resolved.name} (${resolved.file}): ${reason}`,
      {
        cause,
      },
    );
  }
  const name = resolved.name;
  const batcher = new Batcher(
    (inputs, outputNames, options) => session.run(inputs, outputNames, options),
    session.signature,
    {
      maxBatch: config.maxBatch,
      maxQueueDelayMs: config.maxQueueDelayMs,
      maxQueue: config.maxQueue,
      maxQueueMs: config.maxQueueMs,
      maxQueueElements: config.maxQueueElements,
      maxRequestElements: config.maxRequestElements,
      maxInFlight: config.maxInFlight,
      ...(session.allocateInput === undefined
        ? {}
        : { allocate: session.allocateInput.bind(session) }),
    },
    { run: (items, computeMs) => metrics.observeBatch(name, items, computeMs) },
  );
  return {
    name,
    kind: resolved.kind,
    file: resolved.file,
    licence: resolved.licence,
    source: resolved.source,
    session,
    signature: session.signature,
    batcher,
    threads,
  };
}

/** Load every configured model, in order; on any failure close what was loaded. */
export async function loadModels(
  config: NodeConfig,
  metrics: NodeMetrics,
): Promise<Map<string, ServedModel>> {
  const runtime = createRuntime(config.runtime);
  const threads = planThreads({
    cpus: machineCpus(),
    tiersOnMachine: config.tiersOnMachine,
    sessionMode: config.sessionMode,
    requested: config.threads,
  });
  const models = new Map<string, ServedModel>();
  try {
    for (const entry of config.models) {
      const model = await loadOne(entry, config, runtime, metrics, threads);
      if (models.has(model.name)) {
        await model.session.close();
        throw new EdgeshiftError('ES_CONFIG', `model ${model.name} is listed twice`);
      }
      models.set(model.name, model);
      metrics.addModel(model.name, {
        queueDepth: () => model.batcher.queueDepth,
        inflight: () => model.batcher.inflight,
      });
    }
  } catch (error) {
    await closeModels(models);
    throw error;
  }
  return models;
}

/** Path parameters of every per-model route: `/v2/models/:model[/versions/:version]/...`. */
export interface ModelParams {
  model: string;
  version?: string;
}

/** The model (and version) a request's path names; throws ES_MODEL_NOT_FOUND or ES_VERSION_NOT_FOUND. */
export function findModel(
  models: ReadonlyMap<string, ServedModel>,
  params: ModelParams,
): ServedModel {
  const model = models.get(params.model);
  if (model === undefined) {
    const served = [...models.keys()].join(', ');
    throw new EdgeshiftError(
      'ES_MODEL_NOT_FOUND',
      `unknown model '${params.model.slice(0, 100)}'; this node serves ${served}`,
    );
  }
  if (params.version !== undefined && params.version !== MODEL_VERSION) {
    throw new EdgeshiftError(
      'ES_VERSION_NOT_FOUND',
      `model '${model.name}' has no version '${params.version.slice(0, 40)}' (it has version ${MODEL_VERSION})`,
    );
  }
  return model;
}

/** Close every session, even if some fail. */
export async function closeModels(models: ReadonlyMap<string, ServedModel>): Promise<void> {
  await Promise.allSettled([...models.values()].map((m) => m.session.close()));
}
