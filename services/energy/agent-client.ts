/**
 * A node's side of the machine's energy agent: register this process, fetch the agent's
 * snapshot with this process's attribution, unregister. Every call is bounded (one
 * deadline covers connecting, the headers and the body, and the body has a size limit)
 * and never throws: it answers the snapshot or a problem in words, so an agent that is
 * down, hangs or answers garbage cannot crash or hold up the node.
 */
import { Agent, request } from 'undici';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { errnoCode } from './meter-errors.ts';
import type { AgentSettings } from './options.ts';
import type { EnergySnapshot } from './snapshot.ts';

export type AgentAnswer<T> = { ok: true; value: T } | { ok: false; problem: string };

export interface EnergyAgentClient {
  readonly url: string;
  register(pid: number, name: string | null): Promise<AgentAnswer<unknown>>;
  unregister(pid: number): Promise<AgentAnswer<unknown>>;
  snapshot(pid: number): Promise<AgentAnswer<EnergySnapshot>>;
  close(): Promise<void>;
}

function describe(error: unknown, timeoutMs: number): string {
  const name = (error as { name?: unknown })?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = errnoCode(error) ?? errnoCode((error as { cause?: unknown })?.cause);
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return `no connection within ${timeoutMs} ms`;
  return code === undefined ? message : `${code}: ${message}`;
}

function looksLikeSnapshot(value: unknown): value is EnergySnapshot {
  const v = value as Partial<EnergySnapshot> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.timestamp === 'string' &&
    typeof v.since === 'string' &&
    Array.isArray(v.meters) &&
    Array.isArray(v.processes)
  );
}

export function createEnergyAgentClient(settings: AgentSettings): EnergyAgentClient {
  const { url, timeoutMs } = settings;
  const maxBytes = ENERGY_DEFAULTS.agent.maxSnapshotBytes;
  const dispatcher = new Agent({
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const headers: Record<string, string> = { accept: 'application/json' };
  if (settings.token !== null) headers.authorization = `Bearer ${settings.token}`;

  async function call(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<AgentAnswer<unknown>> {
    try {
      const response = await request(`${url}${path}`, {
        method,
        dispatcher,
        signal: AbortSignal.timeout(timeoutMs),
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          response.body.destroy();
          return { ok: false, problem: `answered more than ${maxBytes} bytes` };
        }
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return {
          ok: false,
          problem: `answered ${response.statusCode} with a body that is not JSON`,
        };
      }
      if (response.statusCode >= 300) {
        const error = json as { error?: unknown; code?: unknown };
        const detail = typeof error?.error === 'string' ? `: ${error.error}` : '';
        const code = typeof error?.code === 'string' ? ` [${error.code}]` : '';
        return { ok: false, problem: `answered ${response.statusCode}${detail}${code}` };
      }
      return { ok: true, value: json };
    } catch (error) {
      return { ok: false, problem: describe(error, timeoutMs) };
    }
  }

  return {
    url,
    register: (pid, name) =>
      call('POST', '/energy/processes', name === null ? { pid } : { pid, name }),
    unregister: (pid) => call('DELETE', `/energy/processes/${pid}`),
    async snapshot(pid) {
      const answer = await call('GET', `/energy?pid=${pid}`);
      if (!answer.ok) return answer;
      if (!looksLikeSnapshot(answer.value)) {
        return { ok: false, problem: 'answered JSON that is not a GET /energy snapshot' };
      }
      return { ok: true, value: answer.value };
    },
    close: () => dispatcher.close(),
  };
}
