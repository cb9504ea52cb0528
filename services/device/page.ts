/**
 * The device page: reads its settings from its URL, loads the model into its Web Worker,
 * warms up, then takes workloads from the router and shows live what it does with each
 * request. `window.edgeshiftDevice` is its handle for automation (the tests, `edgeshift
 * up --device browser`); the console says `edgeshift-device: ready` once it is.
 *
 * URL: /device?model=cnn&policy=energy&name=phone&ep=auto&warmup=2000#token=<token>
 * The token sits in the fragment, which the browser never sends to a server.
 */
import type { Datatype, Tensor, TensorData } from '../common/tensor.ts';
import { type AgentStatus, DeviceAgent } from './agent.ts';
import { LocalSession } from './local-session.ts';
import { DEVICE_PATH, type DeviceRecord } from './protocol.ts';
import { qrSvg } from './qr.ts';

interface PageConfig {
  routerUrl: string;
  token: string | null;
  name: string;
  model: string;
  policy: string;
  ep: 'auto' | 'wasm' | 'webgpu';
  warmupMs: number;
  serve: boolean;
}

function readConfig(): PageConfig {
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.slice(1));
  const ep = query.get('ep');
  const warmup = Number(query.get('warmup') ?? '2000');
  return {
    routerUrl: location.origin,
    token: fragment.get('token'),
    name: query.get('name') ?? 'browser',
    model: query.get('model') ?? 'cnn',
    policy: query.get('policy') ?? 'energy',
    ep: ep === 'wasm' || ep === 'webgpu' ? ep : 'auto',
    warmupMs: Number.isFinite(warmup) && warmup >= 0 ? warmup : 2000,
    serve: query.get('serve') !== '0',
  };
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

/** WebGPU where the browser has an adapter for it (a secure context is required), else WASM. */
async function chooseEp(preference: PageConfig['ep']): Promise<'cpu' | 'webgpu'> {
  if (preference === 'wasm') return 'cpu';
  const gpu = (navigator as GpuNavigator).gpu;
  if (gpu === undefined) return 'cpu';
  try {
    return (await gpu.requestAdapter()) === null ? 'cpu' : 'webgpu';
  } catch {
    return 'cpu';
  }
}

const ARRAYS: Record<
  Exclude<Datatype, 'BYTES'>,
  { from(values: ArrayLike<number | bigint>): TensorData }
> = {
  BOOL: Uint8Array as never,
  UINT8: Uint8Array as never,
  UINT16: Uint16Array as never,
  UINT32: Uint32Array as never,
  UINT64: BigUint64Array as never,
  INT8: Int8Array as never,
  INT16: Int16Array as never,
  INT32: Int32Array as never,
  INT64: BigInt64Array as never,
  FP16: Uint16Array as never,
  BF16: Uint16Array as never,
  FP32: Float32Array as never,
  FP64: Float64Array as never,
};

/** A tensor as automation sends it: data as a plain array of numbers. */
export interface PlainTensor {
  name: string;
  datatype: Exclude<Datatype, 'BYTES'>;
  shape: number[];
  data: number[];
}

function fromPlain(t: PlainTensor): Tensor {
  const big = t.datatype === 'INT64' || t.datatype === 'UINT64';
  const values = big ? t.data.map((v) => BigInt(v)) : t.data;
  return {
    name: t.name,
    datatype: t.datatype,
    shape: t.shape,
    data: ARRAYS[t.datatype].from(values as never),
  };
}

function toPlain(t: Tensor): PlainTensor {
  return {
    name: t.name,
    datatype: t.datatype as PlainTensor['datatype'],
    shape: t.shape,
    data: Array.from(t.data as ArrayLike<number | bigint>, Number),
  };
}

function text(id: string, value: string): void {
  const el = document.getElementById(id);
  if (el !== null) el.textContent = value;
}

function ms(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(1)} ms`;
}

const MAX_ROWS = 50;

function renderStatus(status: AgentStatus): void {
  text('local', String(status.local));
  text('offloaded', String(status.offloaded));
  text(
    'met',
    status.withBudget === 0 ? '–' : `${((100 * status.met) / status.withBudget).toFixed(1)}%`,
  );
  const el = document.getElementById('status');
  if (el !== null) {
    const router = status.routerReachable
      ? `router reachable (${ms(status.routerRttMs)} round trip)`
      : 'router unreachable: running every request locally';
    el.textContent = `${status.message} · ${router}`;
    el.className = status.routerReachable ? '' : 'down';
  }
}

function renderRecord(record: DeviceRecord): void {
  text('latency', ms(record.latencyMs));
  const body = document.getElementById('records') as HTMLTableSectionElement | null;
  if (body === null) return;
  const row = document.createElement('tr');
  const cells: Array<[string, string]> = [
    [String(record.seq), ''],
    [record.placement === 'local' ? `here (${record.ep ?? ''})` : 'offloaded', record.placement],
    [ms(record.latencyMs), ''],
    [record.budgetMs === null ? '–' : `${record.budgetMs} ms`, ''],
    [
      record.budgetMet === null ? '–' : record.budgetMet ? 'yes' : 'no',
      record.budgetMet === false ? 'miss' : '',
    ],
    [`${record.node ?? '?'} (${record.tier ?? '?'})`, ''],
    [record.ok ? record.reason : `${record.errorCode ?? 'failed'}: ${record.reason}`, ''],
  ];
  for (const [value, cls] of cells) {
    const cell = document.createElement('td');
    cell.textContent = value;
    if (cls !== '') cell.className = cls;
    row.append(cell);
  }
  body.prepend(row);
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
}

/**
 * The QR code a phone scans to join: this page on the router's network address, with the
 * same settings and token. Nothing when the router listens on loopback only (say so).
 */
async function showJoinCode(config: PageConfig, headers: Record<string, string>): Promise<void> {
  const box = document.getElementById('qr');
  if (box === null) return;
  try {
    const response = await fetch(`${DEVICE_PATH}/join`, { headers, cache: 'no-store' });
    if (!response.ok) return;
    const join = (await response.json()) as { urls: string[]; loopbackOnly: boolean };
    const base = join.urls[0];
    const caption = document.createElement('div');
    caption.className = 'muted';
    if (base === undefined) {
      caption.textContent = join.loopbackOnly
        ? 'router on loopback: start it with --router-host 0.0.0.0 --token <token> for a phone to join'
        : 'no network address to offer a phone';
      box.append(caption);
    } else {
      const url = new URL(base);
      url.search = new URLSearchParams({
        model: config.model,
        policy: config.policy,
        name: 'phone',
      }).toString();
      if (config.token !== null) url.hash = `token=${encodeURIComponent(config.token)}`;
      box.innerHTML = qrSvg(url.href);
      caption.textContent = `scan to join: ${url.host}`;
      box.append(caption);
    }
    box.hidden = false;
  } catch {
    // No QR code: the page works without it.
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const headers: Record<string, string> =
    config.token === null ? {} : { authorization: `Bearer ${config.token}` };
  text('about', `${config.name} · model ${config.model} · policy ${config.policy} · loading`);
  const response = await fetch(`${DEVICE_PATH}/models/${encodeURIComponent(config.model)}.onnx`, {
    headers,
  });
  if (!response.ok) throw new Error(`cannot fetch model ${config.model}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const session = new LocalSession(`${DEVICE_PATH}/worker.js`);
  const wasmUrl = new URL(`${DEVICE_PATH}/ort/ort-wasm-simd-threaded.jsep.wasm`, location.href)
    .href;
  let ep = await chooseEp(config.ep);
  let note = '';
  try {
    await session.load(bytes.slice(), { ep, threads: 1, wasmUrl });
  } catch (error) {
    if (ep !== 'webgpu') throw error;
    note = ` (WebGPU failed: ${error instanceof Error ? error.message : String(error)})`;
    ep = 'cpu';
    await session.load(bytes, { ep, threads: 1, wasmUrl });
  }
  const epName = ep === 'cpu' ? 'WASM, 1 thread' : 'WebGPU';
  text(
    'about',
    `${config.name} · model ${config.model} · ${epName}${note} · policy ${config.policy}`,
  );
  const agent = new DeviceAgent({
    routerUrl: config.routerUrl,
    token: config.token,
    name: config.name,
    model: config.model,
    policy: config.policy,
    session,
  });
  agent.onStatus(renderStatus);
  agent.onRecord(renderRecord);
  agent.startWatching();
  void showJoinCode(config, headers);
  await agent.warmUp(config.warmupMs);
  let seq = 0;
  const handle = {
    ready: true,
    ep,
    config,
    status: () => ({ ...agent.status }),
    /** One local inference on the given inputs; outputs as plain arrays. */
    runLocal: async (inputs: PlainTensor[]) => {
      const { outputs, computeMs } = await session.run(inputs.map(fromPlain));
      return { outputs: outputs.map(toPlain), computeMs };
    },
    /** One request now, placed as any other, with the given budget. */
    infer: (budgetMs: number | null) =>
      agent.infer(
        { seq: seq++, budgetMs, measured: true, scheduledMs: 0 },
        'manual',
        performance.now(),
      ),
    /** The decision for a budget now, without running anything. */
    decide: (budgetMs: number) => agent.decide(budgetMs, 0),
    /** The estimates the next decision goes by. */
    estimates: () => agent.estimates(),
  };
  (globalThis as { edgeshiftDevice?: unknown }).edgeshiftDevice = handle;
  console.log('edgeshift-device: ready');
  if (config.serve) void agent.serve();
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  text('status', `failed: ${message}`);
  console.error(`edgeshift-device: failed: ${message}`);
});
