/**
 * The router's device routes (docs/device.md): the page and what it loads, the zoo's
 * models for it, and the hub between the harness and the devices.
 *
 *   GET  /device                         the page (public: a phone opens it by URL; the
 *   GET  /device/app.js, /device/worker.js  token travels in the URL's fragment, which
 *   GET  /device/ort/<file>.wasm            never reaches a server, and the page sends it)
 *   GET  /device/models/<name>.onnx      a zoo or pretrained model's bytes
 *   GET  /device/work?device=<name>[&wait=<ms>]  long poll: the next workload, or 204
 *   POST /device/runs                    the harness posts a workload: { id }
 *   POST /device/runs/<id>/records       a device posts records: { records, done, energy }
 *   GET  /device/runs/<id>/records?after=<n>  long poll: the records after the first n
 *   GET  /device/devices                 devices that asked for work lately
 *   GET  /device/join                    the page's URLs on this machine's network addresses
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PRETRAINED, resolveModel, ZOO_NAMES } from '../../models/registry.ts';
import { EdgeshiftError } from '../common/errors.ts';
import { route } from '../common/http/routes.ts';
import { deviceBundle } from './bundle.ts';
import { DeviceHub } from './hub.ts';
import { lanAddresses } from './join.ts';
import { DEVICE_PATH, type DeviceEnergy, type DeviceRecord } from './protocol.ts';

/** Registered URLs a token does not guard: the page and its static files. */
export const DEVICE_PUBLIC_PATHS: readonly string[] = [
  DEVICE_PATH,
  `${DEVICE_PATH}/`,
  `${DEVICE_PATH}/app.js`,
  `${DEVICE_PATH}/worker.js`,
  `${DEVICE_PATH}/ort/:file`,
];

const LONG_POLL_MS = 20_000;

/** onnxruntime-web's dist folder, where its .wasm files are. */
function ortDist(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
}

const WASM_FILE = /^ort-wasm-simd-threaded(\.jsep|\.asyncify|\.jspi)?\.wasm$/;
const MODEL_FILE = /^([a-z0-9-]{1,64})\.onnx$/;

const requestSchema = z.strictObject({
  seq: z.number().int().min(0),
  scheduledMs: z.number().min(0),
  budgetMs: z.number().positive().nullable(),
  measured: z.boolean(),
});

const sourcedWatts = z.strictObject({
  value: z.number().positive().max(1_000),
  source: z.string().min(1),
});

const workloadSchema = z.strictObject({
  model: z.string().regex(/^[a-z0-9-]{1,64}$/),
  policy: z.string().min(1).default('energy'),
  seed: z.number().int().min(0).default(42),
  warmupMs: z.number().min(0).max(600_000).default(2_000),
  requests: z.array(requestSchema).max(1_000_000),
  power: z
    .strictObject({ activeWatts: sourcedWatts.optional(), idleWatts: sourcedWatts.optional() })
    .optional(),
  /** Only this device may take it; any device when absent. */
  device: z.string().min(1).max(128).optional(),
});

const postedSchema = z.object({
  device: z.string().min(1).max(128),
  records: z.array(z.record(z.string(), z.unknown())).max(100_000),
  done: z.boolean(),
  problem: z.string().nullable().default(null),
  energy: z.record(z.string(), z.unknown()).nullable().default(null),
});

function jsonBody(request: FastifyRequest): unknown {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new EdgeshiftError('ES_INVALID_JSON', `the body is not valid JSON: ${String(error)}`);
  }
}

function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `${what}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim(),
    );
  }
  return result.data;
}

function abortOnClose(request: FastifyRequest): AbortSignal {
  const controller = new AbortController();
  request.raw.once('close', () => controller.abort());
  return controller.signal;
}

const PAGE_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

/**
 * @example
 * const hub = registerDeviceRoutes(http.app);
 * const id = hub.post({ model: 'cnn', policy: 'energy', seed: 1, warmupMs: 2000, requests });
 */
export function registerDeviceRoutes(app: FastifyInstance, hub = new DeviceHub()): DeviceHub {
  const get = (
    urls: string[],
    handler: (request: FastifyRequest, reply: FastifyReply) => unknown,
  ) => route(app, { methods: ['GET'], urls, handler: handler as never });
  const post = (
    urls: string[],
    handler: (request: FastifyRequest, reply: FastifyReply) => unknown,
  ) => route(app, { methods: ['POST'], urls, handler: handler as never });

  const page = readFile(new URL('./index.html', import.meta.url), 'utf8');
  get([DEVICE_PATH, `${DEVICE_PATH}/`], async (_request, reply) =>
    reply
      .headers(PAGE_HEADERS)
      .type('text/html; charset=utf-8')
      .send(await page),
  );
  get([`${DEVICE_PATH}/app.js`], async (_request, reply) =>
    reply
      .headers(PAGE_HEADERS)
      .type('text/javascript; charset=utf-8')
      .send((await deviceBundle()).page),
  );
  get([`${DEVICE_PATH}/worker.js`], async (_request, reply) =>
    reply
      .headers(PAGE_HEADERS)
      .type('text/javascript; charset=utf-8')
      .send((await deviceBundle()).worker),
  );
  const dist = ortDist();
  get([`${DEVICE_PATH}/ort/:file`], async (request, reply) => {
    const { file } = request.params as { file: string };
    if (!WASM_FILE.test(file))
      throw new EdgeshiftError('ES_ROUTE_NOT_FOUND', `no such file ${file}`);
    const path = join(dist, file);
    const { size } = await stat(path);
    return reply
      .headers({ 'cache-control': 'public, max-age=86400', 'content-length': String(size) })
      .type('application/wasm')
      .send(createReadStream(path));
  });
  get([`${DEVICE_PATH}/models/:file`], async (request, reply) => {
    const { file } = request.params as { file: string };
    const name = MODEL_FILE.exec(file)?.[1];
    if (
      name === undefined ||
      !((ZOO_NAMES as readonly string[]).includes(name) || Object.hasOwn(PRETRAINED, name))
    )
      throw new EdgeshiftError(
        'ES_MODEL_NOT_FOUND',
        `no model ${file}: the device loads the zoo's and the pretrained models by name`,
      );
    const entry = await resolveModel(name);
    return reply
      .header('cache-control', 'no-store')
      .type('application/octet-stream')
      .send(await readFile(entry.file));
  });

  get([`${DEVICE_PATH}/work`], async (request, reply) => {
    const { device, wait } = parsed(
      z.object({
        device: z.string().min(1).max(128),
        wait: z.coerce.number().int().min(0).max(LONG_POLL_MS).default(LONG_POLL_MS),
      }),
      request.query,
      'GET /device/work',
    );
    const agent = request.headers['user-agent'];
    const workload = await hub.take(
      device,
      typeof agent === 'string' ? agent : null,
      wait,
      abortOnClose(request),
    );
    if (workload === null) return reply.code(204).send();
    return reply.header('cache-control', 'no-store').send(workload);
  });
  post([`${DEVICE_PATH}/runs`], async (request, reply) => {
    const { device, ...workload } = parsed(workloadSchema, jsonBody(request), 'POST /device/runs');
    const id = hub.post(workload, device ?? null);
    return reply.code(201).send({ id });
  });
  const postRecords = async (request: FastifyRequest, reply: FastifyReply) => {
    const { id } = request.params as { id: string };
    const body = parsed(postedSchema, jsonBody(request), 'POST /device/runs/<id>/records');
    const known = hub.add(
      id,
      body.device,
      body.records as unknown as DeviceRecord[],
      body.done,
      body.problem,
      body.energy as unknown as DeviceEnergy | null,
    );
    if (!known) throw new EdgeshiftError('ES_ROUTE_NOT_FOUND', `no device run ${id}`);
    return reply.send({ ok: true });
  };
  const readRecords = async (request: FastifyRequest, reply: FastifyReply) => {
    const { id } = request.params as { id: string };
    const { after, wait } = parsed(
      z.object({
        after: z.coerce.number().int().min(0).default(0),
        wait: z.coerce.number().int().min(0).max(LONG_POLL_MS).default(LONG_POLL_MS),
      }),
      request.query,
      'GET /device/runs/<id>/records',
    );
    const page = await hub.read(id, after, wait, abortOnClose(request));
    if (page === null) throw new EdgeshiftError('ES_ROUTE_NOT_FOUND', `no device run ${id}`);
    return reply.header('cache-control', 'no-store').send(page);
  };
  // One registration for both methods: the route helper answers 405 for the others.
  route(app, {
    methods: ['GET', 'POST'],
    urls: [`${DEVICE_PATH}/runs/:id/records`],
    handler: ((request: FastifyRequest, reply: FastifyReply) =>
      request.method === 'POST'
        ? postRecords(request, reply)
        : readRecords(request, reply)) as never,
  });
  get([`${DEVICE_PATH}/devices`], async () => ({ devices: hub.seen() }));
  get([`${DEVICE_PATH}/join`], async () => {
    const address = app.server.address();
    if (address === null || typeof address === 'string') return { urls: [], loopbackOnly: true };
    const wildcard = address.address === '0.0.0.0' || address.address === '::';
    const loopback = address.address === '127.0.0.1' || address.address === '::1';
    const hosts = wildcard ? lanAddresses() : loopback ? [] : [address.address];
    return {
      urls: hosts.map(
        (h) => `http://${h.includes(':') ? `[${h}]` : h}:${address.port}${DEVICE_PATH}`,
      ),
      loopbackOnly: loopback,
    };
  });
  return hub;
}
