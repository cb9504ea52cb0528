/**
 * A served model's configuration as Triton's model configuration extension answers it
 * (`GET /v2/models/{name}[/versions/{v}]/config`): the JSON form of Triton's ModelConfig
 * protobuf, which Triton's tools read.
 *
 * Sources, and what each shaped:
 * - docs/protocol/extension_model_configuration.md (triton-inference-server/server): the
 *   endpoint, and that the body is the JSON of ModelConfig.
 * - protobuf/model_config.proto (triton-inference-server/common): field names and types,
 *   `DataType` names (`TYPE_FP32`, BYTES is `TYPE_STRING`), `max_batch_size` semantics
 *   (dims leave out the batch dimension when it is above 0).
 * - ModelConfigToJson in src/model_config_utils.cc (triton-inference-server/core):
 *   MessageToJsonString with `preserve_proto_field_names` and
 *   `always_print_primitive_fields`, so every scalar and repeated field of a message that
 *   is present is printed, defaults included; the 64-bit fields (`dims`, `reshape.shape`,
 *   `max_queue_delay_microseconds`, `priority_levels`, `default_priority_level`,
 *   version_policy `versions`) are then rewritten from proto3's strings into JSON numbers.
 *   NormalizeModelConfig and NormalizeInstanceGroup there: `version_policy` defaults to
 *   latest 1, `preferred_batch_size` to [max_batch_size], pinned memory to enabled, the
 *   instance group to `<name>_0`.
 * - perf_analyzer's ModelParser::InitTriton (src/model_parser.cc): reads `max_batch_size`
 *   (and then skips the first dimension of the metadata shapes when it is above 0),
 *   `input[].name`/`is_shape_tensor`/`optional`, `output[].name`/`is_shape_tensor`,
 *   `model_transaction_policy.decoupled`, `response_cache.enable`, `platform`, and whether
 *   `dynamic_batching`, `sequence_batching` or `ensemble_scheduling` is present.
 * - Model Analyzer's ModelConfig.create_from_dictionary (model_analyzer/triton/model/
 *   model_config.py): json_format.ParseDict into ModelConfig, which refuses any key the
 *   protobuf does not define, so nothing edgeshift-specific goes in here.
 */
import { basename } from 'node:path';
import type { Datatype, ModelSignature, TensorSpec } from '../common/tensor.ts';
import type { NodeConfig } from './config.ts';
import { ONNX_PLATFORM } from './served-models.ts';

/** Triton's backend name for ONNX Runtime models (kOnnxRuntimeBackend, model_config_utils.cc). */
export const ONNX_RUNTIME_BACKEND = 'onnxruntime';

/** model_config.proto `DataType` for each OIP datatype; BYTES is TYPE_STRING there. */
const CONFIG_DATATYPE: Readonly<Record<Datatype, string>> = {
  BOOL: 'TYPE_BOOL',
  UINT8: 'TYPE_UINT8',
  UINT16: 'TYPE_UINT16',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16',
  BF16: 'TYPE_BF16',
  FP32: 'TYPE_FP32',
  FP64: 'TYPE_FP64',
  BYTES: 'TYPE_STRING',
};

export interface ConfigInput {
  name: string;
  data_type: string;
  format: 'FORMAT_NONE';
  dims: number[];
  is_shape_tensor: boolean;
  allow_ragged_batch: boolean;
  optional: boolean;
  is_non_linear_format_io: boolean;
}

export interface ConfigOutput {
  name: string;
  data_type: string;
  dims: number[];
  label_filename: string;
  is_shape_tensor: boolean;
  is_non_linear_format_io: boolean;
}

export interface DynamicBatching {
  preferred_batch_size: number[];
  max_queue_delay_microseconds: number;
  preserve_ordering: boolean;
  priority_levels: number;
  default_priority_level: number;
  priority_queue_policy: Record<string, never>;
}

export interface InstanceGroup {
  name: string;
  kind: 'KIND_CPU' | 'KIND_GPU';
  count: number;
  gpus: number[];
  secondary_devices: never[];
  profile: string[];
  passive: boolean;
  host_policy: string;
}

/** The fields of ModelConfig edgeshift prints, in model_config.proto's order. */
export interface TritonModelConfig {
  name: string;
  platform: string;
  backend: string;
  runtime: string;
  version_policy: { latest: { num_versions: number } };
  max_batch_size: number;
  input: ConfigInput[];
  output: ConfigOutput[];
  batch_input: never[];
  batch_output: never[];
  optimization: {
    priority: 'PRIORITY_DEFAULT';
    input_pinned_memory: { enable: boolean };
    output_pinned_memory: { enable: boolean };
    gather_kernel_buffer_threshold: number;
    eager_batching: boolean;
  };
  dynamic_batching?: DynamicBatching;
  instance_group: InstanceGroup[];
  default_model_filename: string;
  cc_model_filenames: Record<string, never>;
  metric_tags: Record<string, never>;
  parameters: Record<string, { string_value: string }>;
  model_warmup: never[];
  model_transaction_policy: { decoupled: boolean };
}

export interface ConfiguredModel {
  name: string;
  /** The model file; only its base name is shown. */
  file: string;
  signature: ModelSignature;
  /** Whether requests merge along dimension 0 (Batcher.batchable). */
  batchable: boolean;
  /** The session's intra-op threads (0: onnxruntime's default). */
  intraOpThreads: number;
}

export type ConfigSettings = Pick<NodeConfig, 'maxBatch' | 'maxQueueDelayMs' | 'ep'>;

/**
 * The model's ModelConfig as JSON. A batching model has `max_batch_size` = the node's
 * `maxBatch`, dims without the batch dimension and a `dynamic_batching` section with the
 * node's queue delay; any other has `max_batch_size` 0 and full dims. Dynamic dimensions
 * are -1, as in Triton. An output of unknown rank (onnxruntime reports it as []) in a
 * batching model is listed with dims [-1].
 *
 * @example
 * modelConfig({ name: 'cnn', file: 'models/built/cnn.onnx', signature, batchable: true, intraOpThreads: 1 },
 *   { maxBatch: 8, maxQueueDelayMs: 0, ep: 'cpu' }).max_batch_size; // 8
 */
export function modelConfig(model: ConfiguredModel, settings: ConfigSettings): TritonModelConfig {
  const batching = model.batchable;
  const dims = (spec: TensorSpec): number[] => {
    if (!batching) return [...spec.shape];
    return spec.shape.length === 0 ? [-1] : spec.shape.slice(1);
  };
  const gpu = settings.ep !== 'cpu';
  return {
    name: model.name,
    platform: ONNX_PLATFORM,
    backend: ONNX_RUNTIME_BACKEND,
    runtime: '',
    // The node serves exactly one version, "1": the latest.
    version_policy: { latest: { num_versions: 1 } },
    max_batch_size: batching ? settings.maxBatch : 0,
    input: model.signature.inputs.map((spec) => ({
      name: spec.name,
      data_type: CONFIG_DATATYPE[spec.datatype],
      format: 'FORMAT_NONE',
      dims: dims(spec),
      is_shape_tensor: false,
      allow_ragged_batch: false,
      // Every declared input must be sent (codec-request.ts refuses a missing one).
      optional: false,
      is_non_linear_format_io: false,
    })),
    output: model.signature.outputs.map((spec) => ({
      name: spec.name,
      data_type: CONFIG_DATATYPE[spec.datatype],
      dims: dims(spec),
      label_filename: '',
      is_shape_tensor: false,
      is_non_linear_format_io: false,
    })),
    batch_input: [],
    batch_output: [],
    optimization: {
      priority: 'PRIORITY_DEFAULT',
      input_pinned_memory: { enable: true },
      output_pinned_memory: { enable: true },
      gather_kernel_buffer_threshold: 0,
      eager_batching: false,
    },
    ...(batching ? { dynamic_batching: dynamicBatching(settings) } : {}),
    // One onnxruntime session per model, on the CPU or on the execution provider's
    // default device (onnxruntime's device 0).
    instance_group: [
      {
        name: `${model.name}_0`,
        kind: gpu ? 'KIND_GPU' : 'KIND_CPU',
        count: 1,
        gpus: gpu ? [0] : [],
        secondary_devices: [],
        profile: [],
        passive: false,
        host_policy: '',
      },
    ],
    default_model_filename: basename(model.file),
    cc_model_filenames: {},
    metric_tags: {},
    // The names Triton's onnxruntime backend reads from a model's parameters; one
    // inference at a time per session, so inter-op is 1 (onnxruntime-node.ts).
    parameters: {
      intra_op_thread_count: { string_value: String(model.intraOpThreads) },
      inter_op_thread_count: { string_value: '1' },
    },
    model_warmup: [],
    // Each infer request gets exactly one response.
    model_transaction_policy: { decoupled: false },
  };
}

/** The node's batcher as Triton's dynamic batcher settings (NormalizeModelConfig's defaults). */
function dynamicBatching(settings: ConfigSettings): DynamicBatching {
  return {
    preferred_batch_size: [settings.maxBatch],
    // uint64 microseconds; Triton prints it as a JSON number.
    max_queue_delay_microseconds: Math.round(settings.maxQueueDelayMs * 1000),
    preserve_ordering: false,
    priority_levels: 0,
    default_priority_level: 0,
    priority_queue_policy: {},
  };
}
