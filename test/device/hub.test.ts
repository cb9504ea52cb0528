/**
 * The router's device routes through fastify's inject (no browser): the page and its
 * static files are open without the token and everything else is not; a workload meant
 * for one device is not taken by another; records come back in order to a long poll that
 * wakes as they arrive; bad requests and unknown runs get their codes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHttpApp, HEALTH_PATHS } from '../../services/common/http/app.ts';
import type { DeviceHub } from '../../services/device/hub.ts';
import type { DeviceRecord } from '../../services/device/protocol.ts';
import { DEVICE_PUBLIC_PATHS, registerDeviceRoutes } from '../../services/device/routes.ts';

const TOKEN = 'hub-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

function record(seq: number): Partial<DeviceRecord> {
  return { seq, ok: true, placement: 'local', latencyMs: 1 };
}

describe('device hub routes', () => {
  const http = createHttpApp({
    bodyLimitBytes: 1 << 20,
    logLevel: 'silent',
    identityHeaders: {},
    token: TOKEN,
    publicPaths: new Set([...HEALTH_PATHS, ...DEVICE_PUBLIC_PATHS]),
  });
  const app = http.app;
  let hub: DeviceHub;

  before(async () => {
    hub = registerDeviceRoutes(app);
    await app.ready();
  });

  after(async () => {
    hub.close();
    await app.close();
  });

  it('serves the page without the token, the model and the hub only with it', async () => {
    const page = await app.inject({ method: 'GET', url: '/device' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /\/device\/app\.js/);
    const wasm = await app.inject({
      method: 'HEAD',
      url: '/device/ort/ort-wasm-simd-threaded.jsep.wasm',
    });
    assert.equal(wasm.statusCode, 200);
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    for (const url of ['/device/models/cnn.onnx', '/device/devices', '/device/work?device=x']) {
      const answer = await app.inject({ method: 'GET', url });
      assert.equal(answer.statusCode, 401, url);
    }
    const model = await app.inject({
      method: 'GET',
      url: '/device/models/cnn.onnx',
      headers: AUTH,
    });
    assert.equal(model.statusCode, 200);
    assert.ok(model.rawPayload.length > 1000);
  });

  it('refuses paths and files it does not serve', async () => {
    const traversal = await app.inject({
      method: 'GET',
      url: '/device/models/..%2Fpackage.json',
      headers: AUTH,
    });
    assert.equal(traversal.json().code, 'ES_MODEL_NOT_FOUND');
    const other = await app.inject({ method: 'GET', url: '/device/ort/ort.all.mjs' });
    assert.equal(other.statusCode, 404);
    const unknown = await app.inject({
      method: 'GET',
      url: '/device/runs/nope/records?wait=0',
      headers: AUTH,
    });
    assert.equal(unknown.statusCode, 404);
    const bad = await app.inject({
      method: 'POST',
      url: '/device/runs',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: JSON.stringify({ model: 'cnn', requests: [{ seq: -1 }] }),
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'ES_BAD_REQUEST');
  });

  it('gives a workload to the device it names, and its records back in order', async () => {
    const posted = await app.inject({
      method: 'POST',
      url: '/device/runs',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: JSON.stringify({
        model: 'cnn',
        device: 'phone',
        requests: [{ seq: 0, scheduledMs: 0, budgetMs: 10, measured: true }],
      }),
    });
    assert.equal(posted.statusCode, 201);
    const { id } = posted.json() as { id: string };
    const other = await app.inject({
      method: 'GET',
      url: '/device/work?device=laptop&wait=50',
      headers: AUTH,
    });
    // The long poll for another device waits, then has nothing for it.
    assert.equal(other.statusCode, 204);
    const taken = await app.inject({
      method: 'GET',
      url: '/device/work?device=phone',
      headers: AUTH,
    });
    assert.equal(taken.statusCode, 200);
    assert.equal(taken.json().id, id);
    assert.equal(taken.json().policy, 'energy');

    const reading = app.inject({
      method: 'GET',
      url: `/device/runs/${id}/records?after=0`,
      headers: AUTH,
    });
    const post = (records: Partial<DeviceRecord>[], done: boolean) =>
      app.inject({
        method: 'POST',
        url: `/device/runs/${id}/records`,
        headers: { ...AUTH, 'content-type': 'application/json' },
        payload: JSON.stringify({ device: 'phone', records, done }),
      });
    assert.equal((await post([record(0), record(1)], false)).statusCode, 200);
    const first = (await reading).json();
    assert.deepEqual(
      first.records.map((r: DeviceRecord) => r.seq),
      [0, 1],
    );
    assert.equal(first.done, false);
    assert.equal(first.device, 'phone');
    assert.equal((await post([record(2)], true)).statusCode, 200);
    const rest = await app.inject({
      method: 'GET',
      url: `/device/runs/${id}/records?after=${first.next}`,
      headers: AUTH,
    });
    assert.deepEqual(
      rest.json().records.map((r: DeviceRecord) => r.seq),
      [2],
    );
    assert.equal(rest.json().done, true);
  });
});
