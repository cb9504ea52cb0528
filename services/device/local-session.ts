/**
 * The page's side of its Web Worker (worker.ts): load a model, run inferences, each a
 * promise. One worker, one session.
 */
import { EdgeshiftError, type ErrorCode, isErrorCode } from '../common/errors.ts';
import type { ModelSignature, Tensor } from '../common/tensor.ts';
import type { WorkerLoadValue, WorkerReply, WorkerRequest, WorkerRunValue } from './protocol.ts';

type Outgoing = WorkerRequest extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;

export class LocalSession {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void }
  >();
  private nextId = 1;
  signature: ModelSignature = { inputs: [], outputs: [] };
  ep: 'cpu' | 'webgpu' = 'cpu';

  constructor(workerUrl: string) {
    this.worker = new Worker(workerUrl, { type: 'module' });
    this.worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      const pending = this.pending.get(reply.id);
      if (pending === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.value);
      else {
        const code: ErrorCode = isErrorCode(reply.code) ? reply.code : 'ES_INTERNAL';
        pending.reject(new EdgeshiftError(code, reply.error));
      }
    };
    this.worker.onerror = (event) => {
      const error = new EdgeshiftError('ES_INTERNAL', `device worker failed: ${event.message}`);
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  private post(request: Outgoing, transfer: Transferable[] = []): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  async load(
    model: string | Uint8Array,
    options: { ep: 'cpu' | 'webgpu'; threads: number; wasmUrl: string },
  ): Promise<WorkerLoadValue> {
    const value = (await this.post({ op: 'load', model, ...options })) as WorkerLoadValue;
    this.signature = value.signature;
    this.ep = value.ep;
    return value;
  }

  run(inputs: Tensor[]): Promise<WorkerRunValue> {
    return this.post({ op: 'run', inputs }) as Promise<WorkerRunValue>;
  }

  close(): void {
    this.worker.terminate();
    const error = new EdgeshiftError('ES_NOT_READY', 'device session is closed');
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}
