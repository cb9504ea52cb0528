/**
 * The node under test as a supervised child process (services/common/supervisor.ts), or
 * one of the servers it is compared with (the null server, the hand-rolled peer), and its
 * own counters (CPU seconds, batch sizes) read from its /metrics endpoint
 * through the OIP client.
 */
import { createOipClient, type OipClient } from '../../../services/common/client/index.ts';
import { type SupervisedChild, startChild } from '../../../services/common/supervisor.ts';
import type { NodeOptions } from '../../../services/node/config.ts';

const CHILD_SCRIPT = new URL('./serve-child.ts', import.meta.url);
const NULL_SCRIPT = new URL('./null-child.ts', import.meta.url);
const HAND_ROLLED_SCRIPT = new URL('./hand-rolled-child.ts', import.meta.url);

export interface NodeCounters {
  /** process_cpu_seconds_total: user + system CPU seconds of the node process. */
  cpuSeconds: number;
  /** Sum and count of edgeshift_batch_size for the model. */
  batchItems: number;
  batchRuns: number;
  /** nodejs_gc_duration_seconds_count{kind="major"}: mark-compacts so far (0 where not exported). */
  majorGcs: number;
}

/** One sample's value from Prometheus text, e.g. `name{a="b"}`; 0 when absent. */
export function metricSample(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

export class ServedNode {
  private readonly client: OipClient;

  private constructor(private readonly child: SupervisedChild) {
    this.client = createOipClient({ url: child.url, connections: 1 });
  }

  /** Starts `serve-child.ts <options>` and waits for its URL. */
  static async start(options: NodeOptions, v8Flags: readonly string[] = []): Promise<ServedNode> {
    const child = await startChild({
      name: 'node under test',
      script: CHILD_SCRIPT,
      args: [JSON.stringify(options)],
      nodeArgs: [...v8Flags, '--import', 'tsx'],
    });
    return new ServedNode(child);
  }

  /** Starts the null server (null-child.ts) with the canned answers in `cannedFile`. */
  static async startNull(cannedFile: string): Promise<ServedNode> {
    const child = await startChild({
      name: 'null server',
      script: NULL_SCRIPT,
      args: [cannedFile],
    });
    return new ServedNode(child);
  }

  /** Starts the hand-rolled peer (hand-rolled-child.ts) around one session of `file`. */
  static async startHandRolled(file: string, model: string, threads: number): Promise<ServedNode> {
    const child = await startChild({
      name: 'hand-rolled peer',
      script: HAND_ROLLED_SCRIPT,
      args: [file, model, String(threads)],
    });
    return new ServedNode(child);
  }

  get url(): string {
    return this.child.url;
  }

  /** The node's effective (validated, defaulted) options. */
  get config(): Record<string, unknown> {
    const config = this.child.ready.config;
    return typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : {};
  }

  /** The server's process id, as a list. */
  get pids(): number[] {
    return [this.child.pid];
  }

  inferPath(model: string): string {
    return `/v2/models/${model}/infer`;
  }

  inferUrl(model: string): string {
    return `${this.url}${this.inferPath(model)}`;
  }

  async counters(model: string): Promise<NodeCounters> {
    const text = await this.client.metrics();
    return {
      cpuSeconds: metricSample(text, 'process_cpu_seconds_total'),
      batchItems: metricSample(text, `edgeshift_batch_size_sum{model="${model}"}`),
      batchRuns: metricSample(text, `edgeshift_batch_size_count{model="${model}"}`),
      majorGcs: metricSample(text, 'nodejs_gc_duration_seconds_count{kind="major"}'),
    };
  }

  async stop(): Promise<void> {
    await this.client.close();
    await this.child.stop();
  }
}
