/**
 * Node options: one schema, every default and unit in one place, unknown keys rejected.
 * `resolveNodeConfig` validates once and returns a frozen object; `createNode` calls it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues, parseOptions } from '../common/config.ts';
import { EdgeshiftError } from '../common/errors.ts';
import { LOG_LEVELS } from '../common/http/app.ts';
import { bearerTokenSchema, requireTokenBeyondLoopback } from '../common/http/bind.ts';
import { httpLimitFields, pickHttpLimits, resolveHttpLimits } from '../common/http/limits.ts';
import { energyOptionsSchema } from '../energy/options.ts';
import { DEFAULT_CPU_MEM_ARENA } from './runtimes/onnxruntime-node.ts';

export const TIERS = ['hyperscale', 'edge', 'device'] as const;
export type Tier = (typeof TIERS)[number];

/** Where a model's session runs: a worker thread of its own, or the event-loop thread. */
export const SESSION_MODES = ['worker', 'inline'] as const;
export type SessionMode = (typeof SESSION_MODES)[number];

// Header-safe: the name travels in x-edgeshift-node.
const NODE_NAME = /^[A-Za-z0-9._:@-]{1,128}$/;

const fields = {
  /** Which tier this node plays; reported in x-edgeshift-tier. */
  tier: z.enum(TIERS).default('edge'),
  /** Reported in x-edgeshift-node. Default: the tier. */
  nodeName: z.string().regex(NODE_NAME, 'letters, digits and . _ : @ - only').optional(),
  /** Zoo names (mlp, cnn, gpt), pretrained names (ppocr-cls) or paths to .onnx files. */
  models: z.array(z.string().min(1)).min(1).default(['cnn']),
  runtime: z.enum(['onnxruntime-node', 'onnxruntime-web']).default('onnxruntime-node'),
  ep: z.enum(['cpu', 'webgpu', 'cuda']).default('cpu'),
  /**
   * Where a model's onnxruntime session runs. 'worker': in a worker thread, so the event
   * loop keeps serving during an inference, at the price of a thread hop and a copy of
   * the inputs per run. 'inline': on the event-loop thread (onnxruntime-node only),
   * cheaper per run, but every request waits while an inference computes.
   */
  sessionMode: z.enum(SESSION_MODES).default('worker'),
  /**
   * Intra-op threads per model. Unset: chosen from the machine (runtimes/thread-plan.ts:
   * the node's share of the CPUs less one for the event loop, at least 1); 0 lets
   * onnxruntime choose (a thread per physical core).
   */
  threads: z.number().int().min(0).max(1024).optional(),
  /** Tiers (nodes) sharing this machine's CPUs, this one included: divides the thread share. */
  tiersOnMachine: z.number().int().min(1).max(64).default(1),
  /**
   * onnxruntime-node's CPU memory arena (`enableCpuMemArena`): on, a session keeps the
   * memory of its largest run until it closes; off, each run frees what it allocated.
   * docs/node.md (Memory) has the measurements behind the default.
   */
  cpuMemArena: z.boolean().default(DEFAULT_CPU_MEM_ARENA),
  /** Most batch items (sum of the requests' first dimensions) one run may hold. */
  maxBatch: z.number().int().min(1).max(4096).default(8),
  /**
   * Runtime calls per model handed over at once. The session computes them one at a time;
   * with 2, the next batch waits inside the runtime (in the worker thread) and starts the
   * moment the previous one ends, instead of after the event loop has answered it.
   */
  maxInFlight: z.number().int().min(1).max(64).default(2),
  /**
   * Milliseconds a partial batch that queued behind a running one may wait for companions.
   * A request that arrives while the model is idle is dispatched at once regardless.
   */
  maxQueueDelayMs: z.number().min(0).max(10_000).default(0),
  /** Requests that may wait per model; one more is answered 429 at once. */
  maxQueue: z.number().int().min(1).max(1_000_000).default(256),
  /**
   * Milliseconds a request may wait in its model's queue; one still waiting then is
   * answered 503 (ES_QUEUE_TIMEOUT) and not computed. Assumed 5 s: far above what a full
   * default queue of the zoo's models waits on 2 cores (docs/node.md), far below the OIP
   * client's 30 s timeout, so an overloaded node answers long before its clients give up.
   * At least 1: timers count whole milliseconds.
   */
  maxQueueMs: z.number().min(1).max(3_600_000).default(5_000),
  /**
   * Most tensor elements all inputs of one request may hold together (413 above).
   * Default: bodyLimitBytes / 4, the FP32 elements a body at the limit can carry.
   */
  maxRequestElements: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1)
    .optional(),
  /**
   * Most tensor elements the waiting requests of one model may hold together; a request
   * that would take the queue over is answered 429. Default: 4 x maxRequestElements.
   */
  maxQueueElements: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free one (tests). */
  port: z.number().int().min(0).max(65_535).default(8001),
  /** Bearer token every request but the health probes must present. */
  token: bearerTokenSchema.optional(),
  /** Largest request body in bytes. */
  bodyLimitBytes: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 31 - 1)
    .default(64 * 1024 * 1024),
  logLevel: z.enum(LOG_LEVELS).default('warn'),
  /** Timeouts, connection and body-byte caps, shutdown deadline (common/http/limits.ts). */
  ...httpLimitFields,
  /** Energy meters behind GET /energy (docs/energy.md); default: detect what this machine has. */
  energy: energyOptionsSchema.default({}),
};

const nodeOptionsSchema = z.strictObject(fields);

/** What callers may pass: every field optional. */
export type NodeOptions = z.input<typeof nodeOptionsSchema>;
export type NodeConfig = Readonly<
  Omit<
    z.output<typeof nodeOptionsSchema>,
    'nodeName' | 'models' | 'maxRequestElements' | 'maxQueueElements'
  > & {
    nodeName: string;
    models: readonly string[];
    maxRequestElements: number;
    maxQueueElements: number;
  }
>;

/** Bytes of an FP32 element: the datatype of the zoo's inputs (gpt's token ids are INT64). */
const FP32_BYTES = 4;
/** Requests at maxRequestElements the default maxQueueElements holds (assumed; docs/node.md). */
const QUEUED_LARGEST_REQUESTS = 4;

/** Validate options, fill defaults, enforce the token rule, and freeze the result. */
export function resolveNodeConfig(options: NodeOptions = {}): NodeConfig {
  const value = parseOptions(nodeOptionsSchema, options, 'node options');
  requireTokenBeyondLoopback(value.host, value.token, 'use the node');
  // The limits are checked here too, so a bad combination fails before models load.
  resolveHttpLimits(pickHttpLimits(value), value.bodyLimitBytes);
  if (value.sessionMode === 'inline' && value.runtime !== 'onnxruntime-node') {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `sessionMode 'inline' needs runtime onnxruntime-node: ${value.runtime} blocks the thread that runs it, so it always runs in a worker`,
    );
  }
  if (value.maxQueueDelayMs >= value.maxQueueMs) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `maxQueueDelayMs (${value.maxQueueDelayMs}) must be less than maxQueueMs (${value.maxQueueMs}): a partial batch held for companions would time out in the queue`,
    );
  }
  const maxRequestElements =
    value.maxRequestElements ?? Math.floor(value.bodyLimitBytes / FP32_BYTES);
  const maxQueueElements = value.maxQueueElements ?? QUEUED_LARGEST_REQUESTS * maxRequestElements;
  if (maxQueueElements < maxRequestElements) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `maxQueueElements (${maxQueueElements}) must be at least maxRequestElements (${maxRequestElements}): a request of that size could never be queued`,
    );
  }
  const config = {
    ...value,
    nodeName: value.nodeName ?? value.tier,
    models: Object.freeze([...value.models]),
    maxRequestElements,
    maxQueueElements,
  };
  return Object.freeze(config);
}

/**
 * Read a JSON config file holding any of the node options (same names, same units).
 * Relative `.onnx` paths are taken relative to the file's folder.
 */
export async function loadConfigFile(path: string): Promise<NodeOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new EdgeshiftError('ES_CONFIG', `cannot read config file ${path}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EdgeshiftError('ES_CONFIG', `config file ${path} is not valid JSON`, { cause });
  }
  const parsed = nodeOptionsSchema.partial().safeParse(json);
  if (!parsed.success) {
    throw new EdgeshiftError('ES_CONFIG', `config file ${path}: ${describeIssues(parsed.error)}`);
  }
  // Return what the file said, not the defaults, so flags can still be merged on top.
  const fileOptions = Object.fromEntries(
    Object.entries(json as Record<string, unknown>).filter(([key]) => key in fields),
  ) as NodeOptions;
  if (fileOptions.models !== undefined) {
    const base = dirname(resolve(path));
    fileOptions.models = fileOptions.models.map((m) =>
      m.endsWith('.onnx') && !isAbsolute(m) ? resolve(base, m) : m,
    );
  }
  return fileOptions;
}

/**
 * Merge config-file options with command-line flags (flags that are set win), then
 * validate: the result is the frozen config `createNode` would build.
 */
export function mergeConfig(file: NodeOptions, flags: Record<string, unknown>): NodeConfig {
  const merged: Record<string, unknown> = { ...file };
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined) merged[key] = value;
  }
  return resolveNodeConfig(merged as NodeOptions);
}
