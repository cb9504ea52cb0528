/**
 * The router in front of real edgeshift nodes (in this process, on loopback) and of a
 * plain OIP server that is not an edgeshift node: the protocol passes through unchanged
 * (JSON, binary tensors, generation and its stream), each answer says where it went and
 * why, the budget travels on, bad requests and impossible budgets get their codes, and a
 * node that resets connections is failed over.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createOipClient } from '../../services/common/client/index.ts';
import { parseServerTiming } from '../../services/common/http/server-timing.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { createRouter, type Router } from '../../services/router/server.ts';
import { resolveTopology } from '../../services/router/topology/index.ts';
import type { Topology } from '../../services/router/types.ts';
import { assertErrorAnswer } from '../support/errors.ts';
import { httpServer, type LocalServer } from '../support/misbehaving-servers.ts';
import { PROMTOOL_MISSING, promtoolCheck, promtoolPath } from '../support/promtool.ts';

const LAB = {
  carbonIntensity: { gco2ePerKwh: 300, source: 'assumed: test' },
  pue: { value: 1.2, source: 'assumed: test' },
  wue: { litersPerKwh: 0, source: 'assumed: test' },
  gridWater: { litersPerKwh: 0, source: 'assumed: test' },
};
const LINK = { rttMs: 1, bandwidthMbps: 1000, source: 'assumed: loopback' };

interface NodeSpec {
  name: string;
  tier: 'hyperscale' | 'edge' | 'device';
  url: string;
  models?: string[];
  joules?: number;
}

function topologyOf(nodes: NodeSpec[]): Promise<Topology> {
  return resolveTopology(
    {
      sites: { lab: LAB },
      nodes: nodes.map((n) => ({
        name: n.name,
        tier: n.tier,
        url: n.url,
        site: 'lab',
        link: LINK,
        energy: { source: 'none' },
        ...(n.models === undefined ? {} : { models: n.models }),
        ...(n.joules === undefined
          ? {}
          : { priors: { '*': { joulesPerInference: n.joules, source: 'assumed: test' } } }),
      })),
    },
    { file: null, baseDir: process.cwd() },
  );
}

const QUIET = { port: 0, logLevel: 'silent', refreshAfterMs: 0, warmupRequests: 5 } as const;

describe('router in front of real nodes', () => {
  let edge: InferenceNode;
  let cloud: InferenceNode;
  let edgeUrl: string;
  let cloudUrl: string;
  let router: Router;
  let url: string;

  before(async () => {
    edge = await createNode({
      tier: 'edge',
      nodeName: 'edge',
      models: ['cnn', 'gpt'],
      threads: 1,
      logLevel: 'silent',
      port: 0,
    });
    cloud = await createNode({
      tier: 'hyperscale',
      nodeName: 'cloud',
      models: ['cnn'],
      threads: 1,
      logLevel: 'silent',
      port: 0,
    });
    edgeUrl = (await edge.listen()).url;
    cloudUrl = (await cloud.listen()).url;
    const topology = await topologyOf([
      { name: 'edge', tier: 'edge', url: edgeUrl, models: ['cnn', 'gpt'], joules: 2 },
      { name: 'cloud', tier: 'hyperscale', url: cloudUrl, models: ['cnn'], joules: 0.5 },
    ]);
    router = await createRouter({ ...QUIET, topology, policy: 'energy' });
    url = (await router.listen()).url;
  });

  after(async () => {
    await router?.close();
    await Promise.all([edge?.close(), cloud?.close()]);
  });

  it('is ready once its nodes are probed, and warms its estimates with probe inferences', async () => {
    const ready = await fetch(`${url}/v2/health/ready`);
    assert.equal(ready.status, 200);
    const view = (await (await fetch(`${url}/estimates`)).json()) as {
      policy: string;
      nodes: Array<{
        name: string;
        healthy: boolean;
        models: Array<{ model: string; estimate: { latencyBasis: string } }>;
      }>;
    };
    assert.equal(view.policy, 'energy');
    for (const node of view.nodes) {
      assert.equal(node.healthy, true, node.name);
      assert.equal(node.models.find((m) => m.model === 'cnn')?.estimate.latencyBasis, 'observed');
    }
  });

  it('passes inference through: the same outputs as the node itself, and says where and why', async () => {
    const client = createOipClient({ url });
    const direct = createOipClient({ url: cloudUrl });
    try {
      const inputs = makeSampleInputs(await client.modelSignature('cnn'), { seed: 3 });
      for (const binary of [false, true]) {
        const routed = await client.infer('cnn', inputs, { binary, budgetMs: 500 });
        const own = await direct.infer('cnn', inputs, { binary });
        assert.deepEqual(routed.outputs, own.outputs);
        // energy: the cloud's 0.5 J beats the edge's 2 J, both well within 500 ms.
        assert.equal(routed.node, 'cloud');
        assert.equal(routed.tier, 'hyperscale');
        const names = routed.serverTiming.map((e) => e.name);
        for (const name of ['queue', 'compute', 'total', 'network', 'router']) {
          assert.ok(names.includes(name), `Server-Timing has ${name}: ${names.join(', ')}`);
        }
      }
    } finally {
      await client.close();
      await direct.close();
    }
  });

  it('answers with the policy, the decision, the estimate and the budget it acted on', async () => {
    const client = createOipClient({ url });
    try {
      const answer = await client.send({
        method: 'POST',
        path: '/v2/models/cnn/infer',
        headers: { 'content-type': 'application/json', 'x-latency-budget-ms': '750' },
        body: JSON.stringify({
          inputs: makeSampleInputs(await client.modelSignature('cnn')).map((t) => ({
            name: t.name,
            shape: t.shape,
            datatype: t.datatype,
            data: Array.from(t.data as Float32Array),
          })),
        }),
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['x-edgeshift-policy'], 'energy');
      assert.equal(answer.headers['x-edgeshift-decision'], 'feasible');
      assert.equal(answer.headers['x-edgeshift-budget-ms'], '750');
      assert.equal(answer.headers['x-edgeshift-attempts'], '1');
      assert.equal(answer.headers['x-edgeshift-router'], 'router');
      assert.match(
        String(answer.headers['x-edgeshift-estimate']),
        /latency_ms=[\d.]+, latency_basis=observed, joules=0\.5, joules_basis=prior, gco2e=/,
      );
    } finally {
      await client.close();
    }
  });

  it('reads the budget from the latency_budget_ms parameter when no header gives one', async () => {
    const client = createOipClient({ url });
    try {
      const inputs = makeSampleInputs(await client.modelSignature('cnn'));
      const answer = await client.send({
        method: 'POST',
        path: '/v2/models/cnn/infer',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          inputs: inputs.map((t) => ({
            name: t.name,
            shape: t.shape,
            datatype: t.datatype,
            data: Array.from(t.data as Float32Array),
          })),
          parameters: { latency_budget_ms: 321 },
        }),
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['x-edgeshift-budget-ms'], '321');
      // A request the node then refuses still had its budget read.
      const plain = await fetch(`${url}/v2/models/cnn/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [], parameters: { latency_budget_ms: 321 } }),
      });
      assert.equal(plain.headers.get('x-edgeshift-budget-ms'), '321');
      assertErrorAnswer(
        { status: plain.status, headers: plain.headers, body: await plain.text() },
        'ES_MISSING_INPUT',
        'the node refuses what the router passed on',
      );
    } finally {
      await client.close();
    }
  });

  it('relays model metadata, readiness and configuration from a node that serves the model', async () => {
    for (const path of [
      '/v2/models/cnn',
      '/v2/models/cnn/ready',
      '/v2/models/cnn/versions/1',
      '/v2/models/gpt/config',
    ]) {
      const routed = await fetch(`${url}${path}`);
      const own = await fetch(`${path.includes('gpt') ? edgeUrl : cloudUrl}${path}`);
      assert.equal(routed.status, own.status, path);
      assert.deepEqual(await routed.json(), await own.json(), path);
    }
    const meta = (await (await fetch(`${url}/v2`)).json()) as { extensions: string[] };
    assert.ok(meta.extensions.includes('binary_tensor_data'));
  });

  it('places generation and relays its stream event by event', async () => {
    const client = createOipClient({ url });
    const direct = createOipClient({ url: edgeUrl });
    try {
      const request = { text_input: 'edge', max_tokens: 6, temperature: 0 };
      const routed = await client.generate('gpt', request);
      const own = await direct.generate('gpt', request);
      assert.equal(routed.node, 'edge');
      assert.equal(routed.answer.text_output, own.answer.text_output);
      const stream = await client.generateStream('gpt', request);
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['x-edgeshift-policy'], 'energy');
      const events = [];
      for await (const event of stream) events.push(event.data);
      const ownStream = await direct.generateStream('gpt', request);
      const ownEvents = [];
      for await (const event of ownStream) ownEvents.push(event.data);
      assert.equal(events.length, ownEvents.length);
      assert.deepEqual(
        events.map((e) => e.text_output),
        ownEvents.map((e) => e.text_output),
      );
    } finally {
      await client.close();
      await direct.close();
    }
  });

  it('refuses bad budgets and unknown models with their codes', async () => {
    const bad = await fetch(`${url}/v2/models/cnn/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-latency-budget-ms': 'soon' },
      body: '{}',
    });
    assertErrorAnswer(
      { status: bad.status, headers: bad.headers, body: await bad.text() },
      'ES_BAD_REQUEST',
    );
    const unknown = await fetch(`${url}/v2/models/resnet/infer`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    const message = assertErrorAnswer(
      { status: unknown.status, headers: unknown.headers, body: await unknown.text() },
      'ES_MODEL_NOT_FOUND',
    );
    assert.match(message, /cnn/);
    const meta = await fetch(`${url}/v2/models/resnet`);
    assertErrorAnswer(
      { status: meta.status, headers: meta.headers, body: await meta.text() },
      'ES_MODEL_NOT_FOUND',
    );
  });

  it('counts decisions in /metrics by policy, tier and outcome, in a form promtool accepts', async (t) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.match(
      text,
      /edgeshift_router_decisions_total\{policy="energy",tier="hyperscale",node="cloud",outcome="met"\} [1-9]/,
    );
    assert.match(text, /edgeshift_router_node_up\{node="edge",tier="edge"\} 1/);
    assert.match(
      text,
      /edgeshift_router_estimate_latency_seconds\{node="cloud",tier="hyperscale",model="cnn",kind="infer",basis="observed"\}/,
    );
    const promtool = promtoolPath();
    if (promtool === undefined) return t.skip(PROMTOOL_MISSING);
    assert.equal(await promtoolCheck(promtool, text), '');
  });

  it('static:edge sends everything to the edge; reject mode refuses an impossible budget at once', async () => {
    const topology = router.topology;
    const pinned = await createRouter({
      ...QUIET,
      topology,
      policy: 'static:edge',
      warmupRequests: 0,
    });
    const strict = await createRouter({
      ...QUIET,
      topology,
      policy: 'latency',
      onInfeasible: 'reject',
    });
    try {
      const p = await pinned.app.inject({ method: 'GET', url: '/v2/models/cnn/ready' });
      assert.equal(p.statusCode, 200);
      const client = createOipClient({ url: cloudUrl });
      const inputs = makeSampleInputs(await client.modelSignature('cnn'));
      await client.close();
      const body = JSON.stringify({
        inputs: inputs.map((t) => ({
          name: t.name,
          shape: t.shape,
          datatype: t.datatype,
          data: Array.from(t.data as Float32Array),
        })),
      });
      const headers = { 'content-type': 'application/json', 'x-latency-budget-ms': '0.001' };
      const routed = await pinned.app.inject({
        method: 'POST',
        url: '/v2/models/cnn/infer',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.equal(routed.statusCode, 200);
      assert.equal(routed.headers['x-edgeshift-node'], 'edge');
      assert.equal(routed.headers['x-edgeshift-decision'], 'baseline');
      // No budget in the request: the configured default.
      assert.equal(routed.headers['x-edgeshift-budget-ms'], '1000');
      const refused = await strict.app.inject({
        method: 'POST',
        url: '/v2/models/cnn/infer',
        headers,
        body,
      });
      const message = assertErrorAnswer(
        { statusCode: refused.statusCode, headers: refused.headers, body: refused.body },
        'ES_BUDGET_INFEASIBLE',
      );
      assert.match(message, /edge [\d.]+ ms/);
      const best = await router.app.inject({
        method: 'POST',
        url: '/v2/models/cnn/infer',
        headers,
        body,
      });
      assert.equal(best.headers['x-edgeshift-decision'], 'best-effort');
      const metrics = await strict.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(
        metrics.body,
        /edgeshift_router_decisions_total\{policy="latency",tier="none",node="none",outcome="rejected"\} 1/,
      );
    } finally {
      await pinned.close();
      await strict.close();
    }
  });
});

describe('router in front of servers that are not edgeshift nodes', () => {
  let plain: LocalServer;
  let resetting: LocalServer;
  const seen: IncomingHttpHeaders[] = [];
  let infers = 0;

  before(async () => {
    // A minimal OIP server: health, metadata, infer; no edgeshift headers, no /stats.
    plain = await httpServer((req, res) => {
      if (req.url === '/v2/health/ready') return res.writeHead(200).end();
      if (req.url?.endsWith('/infer')) {
        seen.push(req.headers);
        infers++;
        req.resume();
        req.on('end', () => {
          res.writeHead(200, {
            'content-type': 'application/json',
            'server-timing': 'total;dur=0.5',
          });
          res.end(
            JSON.stringify({
              model_name: 'm',
              outputs: [{ name: 'y', datatype: 'FP32', shape: [1], data: [1] }],
            }),
          );
        });
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such thing"}');
    });
    // Healthy by its probe, but every inference connection is reset.
    resetting = await httpServer((req, res) => {
      if (req.url === '/v2/health/ready') return res.writeHead(200).end();
      req.socket.resetAndDestroy();
      void res;
    });
  });

  after(async () => {
    await plain?.close();
    await resetting?.close();
  });

  it('sends the remaining budget on, the token of the node, and names the node itself', async () => {
    const topology = await topologyOf([
      { name: 'triton', tier: 'hyperscale', url: plain.url, models: ['m'] },
    ]);
    const router = await createRouter({ ...QUIET, topology, policy: 'latency', warmupRequests: 0 });
    try {
      // Cold: no observation yet, the link RTT of the topology stands in; no service prior.
      const r = await router.app.inject({
        method: 'POST',
        url: '/v2/models/m/infer',
        headers: {
          'content-type': 'application/json',
          'x-latency-budget-ms': '200',
          authorization: 'Bearer client-token',
        },
        body: '{"inputs":[]}',
      });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['x-edgeshift-node'], 'triton');
      assert.equal(r.headers['x-edgeshift-tier'], 'hyperscale');
      assert.equal(r.headers['x-edgeshift-decision'], 'best-effort');
      const sent = Number(seen.at(-1)?.['x-latency-budget-ms']);
      assert.ok(sent > 0 && sent < 200, `remaining budget sent on: ${sent}`);
      assert.equal(seen.at(-1)?.authorization, undefined, "the client's token is not the node's");
      const timing = parseServerTiming(r.headers['server-timing'] as string);
      assert.deepEqual(
        timing.map((e) => e.name),
        ['total', 'network', 'router'],
      );
      assert.equal(router.states[0]!.statsSupported, false);
    } finally {
      await router.close();
    }
  });

  it('holds many requests in flight at one node without a listener-leak warning', async () => {
    // Each try listens on its node's one abort signal (node-state.ts). This node answers
    // no inference until 24 are waiting, so 24 are in flight at once; none may warn.
    const held: Array<() => void> = [];
    const holding = await httpServer((req, res) => {
      if (req.url === '/v2/health/ready') return res.writeHead(200).end();
      if (!req.url?.endsWith('/infer')) return res.writeHead(404).end();
      req.resume();
      req.on('end', () => {
        held.push(() =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end('{"model_name":"m","outputs":[]}'),
        );
        if (held.length === 24) for (const answer of held) answer();
      });
    });
    const topology = await topologyOf([
      { name: 'held', tier: 'edge', url: holding.url, models: ['m'] },
    ]);
    const router = await createRouter({ ...QUIET, topology, policy: 'latency', warmupRequests: 0 });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const answers = await Promise.all(
        Array.from({ length: 24 }, () =>
          router.app.inject({
            method: 'POST',
            url: '/v2/models/m/infer',
            headers: { 'content-type': 'application/json' },
            body: '{"inputs":[]}',
          }),
        ),
      );
      assert.deepEqual(new Set(answers.map((a) => a.statusCode)), new Set([200]));
      // process.emitWarning delivers on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
        [],
      );
    } finally {
      process.off('warning', onWarning);
      await router.close();
      await holding.close();
    }
  });

  it('re-measures a node it stopped choosing, so one slow spell does not keep it out', async () => {
    // `a` answers at once, `b` after 40 ms: `latency` prefers `a`. One 200 ms answer from
    // `a` puts it behind `b`; then `a` is fast again but gets no traffic. Its slow answer
    // would stay in the window for windowMs (10 minutes here): only the refresh, which
    // re-measures an idle node and replaces what the router held, brings it back.
    let aDelayMs = 0;
    const answering = (delayMs: () => number) =>
      httpServer((req, res) => {
        if (req.url === '/v2/health/ready') return res.writeHead(200).end();
        if (req.url === '/v2/models/m') {
          // What the router's probe inferences are built from.
          return res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              name: 'm',
              platform: 'onnx',
              inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
              outputs: [{ name: 'y', datatype: 'FP32', shape: [1] }],
            }),
          );
        }
        if (!req.url?.endsWith('/infer')) return res.writeHead(404).end();
        req.resume();
        req.on('end', () =>
          setTimeout(
            () =>
              res
                .writeHead(200, { 'content-type': 'application/json' })
                .end('{"model_name":"m","outputs":[]}'),
            delayMs(),
          ),
        );
      });
    const a = await answering(() => aDelayMs);
    const b = await answering(() => 40);
    const topology = await topologyOf([
      { name: 'a', tier: 'edge', url: a.url, models: ['m'] },
      { name: 'b', tier: 'hyperscale', url: b.url, models: ['m'] },
    ]);
    const router = await createRouter({
      ...QUIET,
      topology,
      policy: 'latency',
      warmupRequests: 5,
      minSamples: 5,
      windowMs: 600_000,
      refreshAfterMs: 300,
    });
    const infer = async () =>
      (
        await router.app.inject({
          method: 'POST',
          url: '/v2/models/m/infer',
          headers: { 'content-type': 'application/json', 'x-latency-budget-ms': '5000' },
          body: '{"inputs":[]}',
        })
      ).headers['x-edgeshift-node'];
    try {
      assert.equal(await infer(), 'a');
      aDelayMs = 200;
      assert.equal(await infer(), 'a');
      assert.equal(await infer(), 'b', 'one 200 ms answer puts a behind b');
      aDelayMs = 0;
      let back = false;
      const deadline = Date.now() + 30_000;
      while (!back && Date.now() < deadline) back = (await infer()) === 'a';
      assert.ok(back, 'a is chosen again once re-measured');
      const summary = router.states[0]!.observations.get('infer:m')!.latency.summary();
      assert.ok(summary.max! < 200, `the slow answer is forgotten: max ${summary.max} ms`);
    } finally {
      await router.close();
      await a.close();
      await b.close();
    }
  });

  it('fails over to another node when one resets the connection, and takes it out', async () => {
    const topology = await topologyOf([
      { name: 'flaky', tier: 'edge', url: resetting.url, models: ['m'], joules: 0.1 },
      { name: 'steady', tier: 'hyperscale', url: plain.url, models: ['m'], joules: 5 },
    ]);
    const router = await createRouter({
      ...QUIET,
      topology,
      policy: 'round-robin',
      warmupRequests: 0,
    });
    try {
      const before = infers;
      const answers = [];
      for (let i = 0; i < 4; i++) {
        answers.push(
          await router.app.inject({
            method: 'POST',
            url: '/v2/models/m/infer',
            headers: { 'content-type': 'application/json' },
            body: '{"inputs":[]}',
          }),
        );
      }
      for (const a of answers) {
        assert.equal(a.statusCode, 200);
        assert.equal(a.headers['x-edgeshift-node'], 'steady');
      }
      assert.equal(infers - before, 4);
      // The first that went to the flaky node was retried; the reset took it out.
      assert.equal(answers[0]!.headers['x-edgeshift-attempts'], '2');
      assert.equal(router.states[0]!.healthy, false);
      const metrics = await router.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(
        metrics.body,
        /edgeshift_router_failovers_total\{policy="round-robin",from_node="flaky",to_node="steady"\} 1/,
      );
      // Its probe still passes: the next probe brings it back.
      await router.probeNow();
      assert.equal(router.states[0]!.healthy, true);
    } finally {
      await router.close();
    }
  });

  it('answers 503 ES_NOT_READY when no node serving the model is up', async () => {
    await resetting.close();
    const topology = await topologyOf([
      { name: 'gone', tier: 'edge', url: resetting.url, models: ['m'] },
    ]);
    const router = await createRouter({ ...QUIET, topology, warmupRequests: 0 });
    try {
      const ready = await router.app.inject({ method: 'GET', url: '/v2/health/ready' });
      assert.equal(ready.statusCode, 503);
      const r = await router.app.inject({
        method: 'POST',
        url: '/v2/models/m/infer',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const message = assertErrorAnswer(
        { statusCode: r.statusCode, headers: r.headers, body: r.body },
        'ES_NOT_READY',
      );
      assert.match(message, /gone/);
    } finally {
      await router.close();
    }
  });

  it('requires its token beyond the health probes when it has one', async () => {
    const topology = await topologyOf([
      { name: 'triton', tier: 'hyperscale', url: plain.url, models: ['m'] },
    ]);
    const router = await createRouter({
      ...QUIET,
      topology,
      token: 'router-secret',
      warmupRequests: 0,
    });
    try {
      assert.equal(
        (await router.app.inject({ method: 'GET', url: '/v2/health/live' })).statusCode,
        200,
      );
      const r = await router.app.inject({ method: 'GET', url: '/estimates' });
      assertErrorAnswer(
        { statusCode: r.statusCode, headers: r.headers, body: r.body },
        'ES_UNAUTHORIZED',
      );
      const ok = await router.app.inject({
        method: 'GET',
        url: '/estimates',
        headers: { authorization: 'Bearer router-secret' },
      });
      assert.equal(ok.statusCode, 200);
    } finally {
      await router.close();
    }
  });
});

describe('carbon placement follows the hour, and closing drains', () => {
  let solar: LocalServer;
  let steady: LocalServer;
  let release: (() => void) | undefined;
  const held: Array<() => void> = [];

  const answer =
    (hold: boolean) =>
    (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      if (req.url === '/v2/health/ready') return res.writeHead(200).end();
      req.resume();
      req.on('end', () => {
        const send = () =>
          res
            .writeHead(200, {
              'content-type': 'application/json',
              'server-timing': 'total;dur=0.2',
            })
            .end('{"model_name":"m","outputs":[]}');
        if (hold && release !== undefined) held.push(send);
        else send();
      });
    };

  before(async () => {
    solar = await httpServer(answer(false));
    steady = await httpServer(answer(true));
  });

  after(async () => {
    for (const send of held.splice(0)) send();
    await solar?.close();
    await steady?.close();
  });

  it('sends each request to the node whose grid is cleaner at that hour', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-carbon-'));
    try {
      const rows = Array.from({ length: 24 }, (_, h) => `${h},${h >= 9 && h <= 15 ? 50 : 600}`);
      await writeFile(join(dir, 'solar.csv'), `hour,gco2e_per_kwh\n${rows.join('\n')}\n`);
      const site = (carbonIntensity: object) => ({ ...LAB, carbonIntensity });
      const topology = await resolveTopology(
        {
          sites: {
            sunny: site({ series: 'solar.csv', source: 'assumed: test profile' }),
            coal: site({ gco2ePerKwh: 300, source: 'assumed: test' }),
          },
          nodes: [
            {
              name: 'solar',
              tier: 'hyperscale',
              url: solar.url,
              site: 'sunny',
              link: LINK,
              energy: { source: 'none' },
              models: ['m'],
              priors: { '*': { joulesPerInference: 1, serviceMs: 1, source: 'assumed: test' } },
            },
            {
              name: 'steady',
              tier: 'edge',
              url: steady.url,
              site: 'coal',
              link: LINK,
              energy: { source: 'none' },
              models: ['m'],
              priors: { '*': { joulesPerInference: 1, serviceMs: 1, source: 'assumed: test' } },
            },
          ],
        },
        { file: null, baseDir: dir },
      );
      let now = new Date(Date.UTC(2026, 5, 1, 12));
      const router = await createRouter({
        ...QUIET,
        topology,
        policy: 'carbon',
        warmupRequests: 0,
        wallClock: () => now,
      });
      try {
        const send = () =>
          router.app.inject({
            method: 'POST',
            url: '/v2/models/m/infer',
            headers: { 'content-type': 'application/json' },
            body: '{"inputs":[]}',
          });
        const noon = await send();
        assert.equal(noon.headers['x-edgeshift-node'], 'solar');
        // 1 J x PUE 1.2 x 50 g/kWh / 3.6e6 J/kWh
        const gco2e = Number(
          /gco2e=([^,]+)/.exec(String(noon.headers['x-edgeshift-estimate']))?.[1],
        );
        assert.ok(Math.abs(gco2e - (1 * 1.2 * 50) / 3.6e6) < 1e-9, `gco2e ${gco2e}`);
        assert.equal(noon.headers['x-edgeshift-decision'], 'feasible');
        now = new Date(Date.UTC(2026, 5, 1, 21));
        release = () => {};
        const night = send();
        // The answer is held by the node: close the router while it is in flight.
        while (held.length === 0) await new Promise((r) => setImmediate(r));
        const closing = router.close();
        const refused = await router.app.inject({ method: 'GET', url: '/estimates' });
        assertErrorAnswer(
          { statusCode: refused.statusCode, headers: refused.headers, body: refused.body },
          'ES_NOT_READY',
        );
        for (const s of held.splice(0)) s();
        const late = await night;
        assert.equal(late.statusCode, 200, 'a request received before closing is answered');
        assert.equal(late.headers['x-edgeshift-node'], 'steady');
        await closing;
      } finally {
        await router.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
