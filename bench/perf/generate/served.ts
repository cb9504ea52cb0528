/**
 * The served side: a node in a supervised child process (services/common/supervisor.ts),
 * streamed to through the OIP client, whose events carry the time each arrived.
 */
import {
  createOipClient,
  type GenerateRequest,
  type OipClient,
} from '../../../services/common/client/index.ts';
import { type SupervisedChild, startChild } from '../../../services/common/supervisor.ts';
import type { NodeOptions } from '../../../services/node/config.ts';

const CHILD_SCRIPT = new URL('./serve-child.ts', import.meta.url);

/** Enough keep-alive connections for the concurrent streams (the scheduler holds 16). */
const CONNECTIONS = 64;

export interface StreamTiming {
  /** performance.now() when the request was sent, and when each token's event arrived. */
  sentAt: number;
  tokenAt: number[];
}

export class ServedNode {
  private readonly client: OipClient;

  private constructor(private readonly child: SupervisedChild) {
    this.client = createOipClient({ url: child.url, connections: CONNECTIONS });
  }

  static async start(options: NodeOptions): Promise<ServedNode> {
    const child = await startChild({
      name: 'node under test',
      script: CHILD_SCRIPT,
      args: [JSON.stringify(options)],
    });
    return new ServedNode(child);
  }

  get url(): string {
    return this.child.url;
  }

  /** generate_stream, timing each event; rejects on an error answer or an error event. */
  async stream(model: string, body: GenerateRequest): Promise<StreamTiming> {
    const stream = await this.client.generateStream(model, body);
    const tokenAt: number[] = [];
    for await (const event of stream) tokenAt.push(event.at);
    return { sentAt: stream.sentAt, tokenAt };
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.child.stop();
  }
}
