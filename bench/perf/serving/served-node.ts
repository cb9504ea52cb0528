/**
 * Starting and stopping the node under test as a child process, and reading its own
 * counters (CPU seconds, batch sizes) from its /metrics endpoint.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NodeOptions } from '../../../services/node/config.ts';
import { EXIT_WITH_STDIN } from './child-flags.ts';

const CHILD_SCRIPT = fileURLToPath(new URL('./serve-child.ts', import.meta.url));
const NULL_SCRIPT = fileURLToPath(new URL('./null-child.ts', import.meta.url));
const START_TIMEOUT_MS = 60_000;

export interface NodeCounters {
  /** process_cpu_seconds_total: user + system CPU seconds of the node process. */
  cpuSeconds: number;
  /** Sum and count of edgeshift_batch_size for the model. */
  batchItems: number;
  batchRuns: number;
}

/** One sample's value from Prometheus text, e.g. `name{a="b"}`; 0 when absent. */
export function metricSample(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

export class ServedNode {
  private constructor(
    readonly url: string,
    /** The node's effective (validated, defaulted) options. */
    readonly config: Record<string, unknown>,
    private readonly child: ChildProcess,
  ) {}

  /** Spawns `node --import tsx serve-child.ts <options>` and waits for its URL. */
  static start(options: NodeOptions): Promise<ServedNode> {
    return ServedNode.spawn(CHILD_SCRIPT, JSON.stringify(options));
  }

  /** Spawns the null server (null-child.ts) with the canned answers in `cannedFile`. */
  static startNull(cannedFile: string): Promise<ServedNode> {
    return ServedNode.spawn(NULL_SCRIPT, cannedFile);
  }

  private static async spawn(script: string, argument: string): Promise<ServedNode> {
    const child = spawn(process.execPath, ['--import', 'tsx', script, argument, EXIT_WITH_STDIN], {
      // stdin stays open while this process lives: the server exits when it ends.
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`the node process exited (code ${String(code)}) before listening`);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('the node did not start in time')),
        START_TIMEOUT_MS,
      );
    });
    try {
      const [line] = (await Promise.race([once(lines, 'line'), exited, timeout])) as [string];
      const { url, config } = JSON.parse(line) as {
        url: string;
        config: Record<string, unknown>;
      };
      return new ServedNode(url, config, child);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
      exited.catch(() => undefined);
    }
  }

  /** The server's process id, as a list (empty if it has none). */
  get pids(): number[] {
    return this.child.pid === undefined ? [] : [this.child.pid];
  }

  inferUrl(model: string): string {
    return `${this.url}/v2/models/${model}/infer`;
  }

  async counters(model: string): Promise<NodeCounters> {
    const response = await fetch(`${this.url}/metrics`);
    const text = await response.text();
    return {
      cpuSeconds: metricSample(text, 'process_cpu_seconds_total'),
      batchItems: metricSample(text, `edgeshift_batch_size_sum{model="${model}"}`),
      batchRuns: metricSample(text, `edgeshift_batch_size_count{model="${model}"}`),
    };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}
