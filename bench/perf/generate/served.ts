/**
 * The served side: a node in a child process, and a streaming client that timestamps
 * every server-sent event as it arrives.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD_SCRIPT = fileURLToPath(new URL('./serve-child.ts', import.meta.url));
const START_TIMEOUT_MS = 60_000;

export interface StreamTiming {
  /** performance.now() when the request was sent, and when each token's event arrived. */
  sentAt: number;
  tokenAt: number[];
}

export class ServedNode {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(options: Record<string, unknown>): Promise<ServedNode> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD_SCRIPT, JSON.stringify(options)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines = createInterface({ input: child.stdout! });
    let timer: NodeJS.Timeout | undefined;
    try {
      const [line] = (await Promise.race([
        once(lines, 'line'),
        once(child, 'exit').then(([code]) => {
          throw new Error(`the node exited (code ${String(code)}) before listening`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('the node did not start in time')),
            START_TIMEOUT_MS,
          );
        }),
      ])) as [string];
      return new ServedNode((JSON.parse(line) as { url: string }).url, child);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** POST generate_stream and time each event; rejects on a non-200 answer or an error event. */
  stream(model: string, body: unknown): Promise<StreamTiming> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const sentAt = performance.now();
      const tokenAt: number[] = [];
      const request = http.request(
        `${this.url}/v2/models/${model}/generate_stream`,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-length': Buffer.byteLength(payload) },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            const at = performance.now();
            text += chunk;
            let end = text.indexOf('\n\n');
            while (end >= 0) {
              const event = text.slice(0, end);
              text = text.slice(end + 2);
              if (response.statusCode !== 200 || event.includes('"error"')) {
                reject(new Error(`generation failed: ${event}`));
              }
              tokenAt.push(at);
              end = text.indexOf('\n\n');
            }
          });
          response.on('end', () => {
            if (response.statusCode !== 200)
              reject(new Error(`HTTP ${response.statusCode}: ${text}`));
            else resolve({ sentAt, tokenAt });
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}
