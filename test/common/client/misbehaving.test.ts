/**
 * The client against servers that misbehave on purpose (test/support/misbehaving-servers.ts)
 * and servers that are not edgeshift: every failure is an OipError with a registry code,
 * naming the URL, within the client's timeout.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, describe, it } from 'node:test';
import { Agent } from 'undici';
import { createOipClient, type OipError } from '../../../services/common/client/index.ts';
import type { ErrorCode } from '../../../services/common/errors.ts';
import type { Tensor } from '../../../services/common/tensor.ts';
import { assertRefusal } from '../../support/errors.ts';
import {
  closedPortUrl,
  closeMidBody,
  garbage,
  httpServer,
  type LocalServer,
  rawServer,
  reset,
  stall,
  stallMidBody,
} from '../../support/misbehaving-servers.ts';

const servers: LocalServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(server: Promise<LocalServer>): Promise<LocalServer> {
  const s = await server;
  servers.push(s);
  return s;
}

const INPUT: Tensor = {
  name: 'x',
  datatype: 'FP32',
  shape: [1, 2],
  data: new Float32Array([1, 2]),
};

/** An HTTP server answering every request with `status`, `headers` and `body`. */
function answering(status: number, body: string, headers: http.OutgoingHttpHeaders = {}) {
  return serve(
    httpServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(body);
      });
    }),
  );
}

describe('no usable answer', () => {
  it('connection refused is ES_UNREACHABLE naming the URL', async () => {
    const url = await closedPortUrl();
    const client = createOipClient({ url });
    const error = await assertRefusal(client.ready(), 'ES_UNREACHABLE');
    assert.ok(error.message.includes(`${url}/v2/health/ready`), error.message);
    assert.match(error.message, /connection refused/);
    assert.equal(error.answered, false);
    assert.equal(error.status, 502);
    assert.equal(error.url, `${url}/v2/health/ready`);
    await client.close();
  });

  it('a host name that does not resolve is ES_UNREACHABLE', async () => {
    // RFC 6761 §6.4: .invalid never resolves.
    const client = createOipClient({ url: 'http://edgeshift-node.invalid:8001' });
    const error = await assertRefusal(client.live(), 'ES_UNREACHABLE');
    assert.match(error.message, /edgeshift-node\.invalid/);
    await client.close();
  });

  it('a reset connection is ES_UNREACHABLE', async () => {
    const server = await serve(rawServer(reset));
    const client = createOipClient({ url: server.url });
    await assertRefusal(client.infer('m', [INPUT]), 'ES_UNREACHABLE');
    await client.close();
  });

  it('a connection closed in the middle of the body is ES_UNREACHABLE', async () => {
    const server = await serve(rawServer(closeMidBody));
    const client = createOipClient({ url: server.url });
    await assertRefusal(client.infer('m', [INPUT]), 'ES_UNREACHABLE');
    await client.close();
  });

  it('a server that never answers is ES_TIMEOUT after timeoutMs', async () => {
    const server = await serve(rawServer(stall));
    const client = createOipClient({ url: server.url, timeoutMs: 150 });
    const started = performance.now();
    const error = await assertRefusal(client.infer('m', [INPUT]), 'ES_TIMEOUT');
    assert.match(error.message, /within 150 ms/);
    assert.ok(performance.now() - started >= 140);
    // A call's own timeout wins over the client's.
    await assertRefusal(client.ready({ timeoutMs: 50 }), 'ES_TIMEOUT');
    await client.close();
  });

  it('a server that stalls in the middle of the body is ES_TIMEOUT', async () => {
    const server = await serve(rawServer(stallMidBody));
    const client = createOipClient({ url: server.url, timeoutMs: 150 });
    await assertRefusal(client.serverMetadata(), 'ES_TIMEOUT');
    await client.close();
  });

  it('bytes that are not HTTP are ES_BAD_RESPONSE', async () => {
    const server = await serve(rawServer(garbage));
    const client = createOipClient({ url: server.url });
    await assertRefusal(client.infer('m', [INPUT]), 'ES_BAD_RESPONSE');
    await client.close();
  });

  it('an answer larger than maxResponseBytes is ES_BAD_RESPONSE, read no further', async () => {
    const big = 'x'.repeat(64 * 1024);
    const declared = await answering(200, big);
    const small = createOipClient({ url: declared.url, maxResponseBytes: 1024 });
    await assertRefusal(small.metrics(), 'ES_BAD_RESPONSE');
    await small.close();
    // Without Content-Length (chunked), the limit applies as the bytes arrive.
    const chunked = await serve(
      httpServer((_request, response) => {
        response.write(big);
        response.end(big);
      }),
    );
    const client = createOipClient({ url: chunked.url, maxResponseBytes: 1024 });
    await assertRefusal(client.metrics(), 'ES_BAD_RESPONSE');
    await client.close();
  });

  it("a caller's abort rejects with the signal's reason", async () => {
    const server = await serve(rawServer(stall));
    const client = createOipClient({ url: server.url });
    const controller = new AbortController();
    const pending = client.ready({ signal: controller.signal });
    controller.abort(new Error('no longer needed'));
    await assert.rejects(pending, /no longer needed/);
    await client.close();
  });
});

describe('malformed answers', () => {
  for (const [what, body] of [
    ['not JSON', '{"model_name": '],
    ['outputs missing', '{"model_name": "m"}'],
    [
      'a tensor with an unknown datatype',
      '{"model_name":"m","outputs":[{"name":"y","datatype":"FP33","shape":[1],"data":[1]}]}',
    ],
    [
      'data shorter than the shape',
      '{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[3],"data":[1]}]}',
    ],
  ] as const) {
    it(`an inference answer with ${what} is ES_BAD_RESPONSE`, async () => {
      const server = await answering(200, body);
      const client = createOipClient({ url: server.url });
      const error = await assertRefusal(client.infer('m', [INPUT]), 'ES_BAD_RESPONSE');
      assert.ok(error.message.includes(`${server.url}/v2/models/m/infer`), error.message);
      await client.close();
    });
  }

  it('a binary answer whose header length exceeds the body is ES_BAD_RESPONSE', async () => {
    const server = await answering(200, '{"model_name":"m","outputs":[]}', {
      'inference-header-content-length': '9999',
    });
    const client = createOipClient({ url: server.url });
    await assertRefusal(client.infer('m', [INPUT]), 'ES_BAD_RESPONSE');
    await client.close();
  });

  it('metadata without inputs, or with an unknown datatype, is ES_BAD_RESPONSE', async () => {
    for (const body of [
      '{"name":"m","outputs":[]}',
      '{"name":"m","inputs":[{"name":"x","datatype":"FLOAT","shape":[1]}],"outputs":[]}',
      '[]',
    ]) {
      const server = await answering(200, body);
      const client = createOipClient({ url: server.url });
      await assertRefusal(client.modelSignature('m'), 'ES_BAD_RESPONSE');
      await client.close();
    }
  });
});

describe('servers that answer errors without a code (Triton, KServe)', () => {
  const cases: [number, ErrorCode][] = [
    [400, 'ES_BAD_REQUEST'],
    [404, 'ES_MODEL_NOT_FOUND'],
    [429, 'ES_QUEUE_FULL'],
    [500, 'ES_INTERNAL'],
    [501, 'ES_UNSUPPORTED'],
    [503, 'ES_NOT_READY'],
    [418, 'ES_BAD_REQUEST'],
    [599, 'ES_INTERNAL'],
  ];
  for (const [status, code] of cases) {
    it(`${status} {"error": ...} on infer is ${code}, keeping the status and the message`, async () => {
      const server = await answering(status, JSON.stringify({ error: `triton says ${status}` }), {
        'retry-after': '3',
      });
      const client = createOipClient({ url: server.url });
      const error = await assertRefusal(client.infer('m', [INPUT]), code);
      assert.equal(error.status, status);
      assert.equal(error.message, `triton says ${status}`);
      assert.equal(error.answered, true);
      assert.equal(error.headers['retry-after'], '3');
      await client.close();
    });
  }

  it('a 404 off the model routes is ES_ROUTE_NOT_FOUND', async () => {
    const server = await answering(404, '{"error": "Not Found"}');
    const client = createOipClient({ url: server.url });
    await assertRefusal(client.stats(), 'ES_ROUTE_NOT_FOUND');
    await assertRefusal(client.modelMetadata('m'), 'ES_MODEL_NOT_FOUND');
    await client.close();
  });

  it('takes the code from x-edgeshift-error when the body has none', async () => {
    const server = await answering(504, '{"error": "late"}', {
      'x-edgeshift-error': 'ES_BUDGET_EXCEEDED',
    });
    const client = createOipClient({ url: server.url });
    const error = await assertRefusal(client.infer('m', [INPUT]), 'ES_BUDGET_EXCEEDED');
    assert.equal(error.status, 504);
    await client.close();
  });

  it('an HTML error page is quoted in the message under the code of its status', async () => {
    const server = await answering(502, '<html>\n<body>Bad   Gateway</body></html>', {
      'content-type': 'text/html',
    });
    const client = createOipClient({ url: server.url });
    const error = await assertRefusal(client.infer('m', [INPUT]), 'ES_BAD_RESPONSE');
    assert.equal(error.status, 502);
    assert.match(error.message, /HTTP 502 from http:.*: <html> <body>Bad Gateway<\/body><\/html>/);
    await client.close();
  });

  it('reads health as Triton (400) and KServe (503) answer it', async () => {
    for (const [status, expected] of [
      [200, true],
      [400, false],
      [503, false],
    ] as const) {
      const server = await answering(status, '');
      const client = createOipClient({ url: server.url });
      assert.equal(await client.ready(), expected, `status ${status}`);
      assert.equal(await client.live(), expected, `status ${status}`);
      assert.equal(await client.modelReady('m'), expected, `status ${status}`);
      await client.close();
    }
    const server = await answering(404, '');
    const client = createOipClient({ url: server.url });
    await assertRefusal(client.ready(), 'ES_ROUTE_NOT_FOUND');
    await assertRefusal(client.modelReady('m'), 'ES_MODEL_NOT_FOUND');
    await client.close();
  });
});

describe('server-sent events that go wrong', () => {
  function streaming(events: string[]) {
    return serve(
      httpServer((request, response) => {
        request.resume();
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const event of events) response.write(event);
        response.end();
      }),
    );
  }

  const token = (id: number) =>
    `data: ${JSON.stringify({ model_name: 'g', text_output: 't', output_ids: [id] })}\n\n`;

  it('a mid-stream error event with a code raises that code after the events before it', async () => {
    const server = await streaming([
      token(1),
      `data: ${JSON.stringify({ error: 'the session went away', code: 'ES_NOT_READY' })}\n\n`,
      token(2),
    ]);
    const client = createOipClient({ url: server.url });
    const stream = await client.generateStream('g', { text_input: 'a' });
    const seen: number[] = [];
    await assertRefusal(
      (async () => {
        for await (const event of stream) seen.push(event.data.output_ids![0]!);
      })(),
      'ES_NOT_READY',
    );
    assert.deepEqual(seen, [1]);
    await client.close();
  });

  it("Triton's error event without a code is ES_INTERNAL", async () => {
    const server = await streaming([`data: {"error": "failed"}\n\n`]);
    const client = createOipClient({ url: server.url });
    const stream = await client.generateStream('g', { text_input: 'a' });
    const error = await assertRefusal(
      (async () => {
        for await (const _ of stream);
      })(),
      'ES_INTERNAL',
    );
    assert.equal(error.message, 'failed');
    await client.close();
  });

  it('an event that is not JSON, or not a generate answer, is ES_BAD_RESPONSE', async () => {
    for (const event of ['data: {"model_name": \n\n', 'data: {"model_name": "g"}\n\n']) {
      const server = await streaming([event]);
      const client = createOipClient({ url: server.url });
      const stream = await client.generateStream('g', { text_input: 'a' });
      await assertRefusal(
        (async () => {
          for await (const _ of stream);
        })(),
        'ES_BAD_RESPONSE',
      );
      await client.close();
    }
  });

  it('an error before the stream begins rejects generateStream itself', async () => {
    const server = await answering(429, '{"error": "busy"}', { 'retry-after': '1' });
    const client = createOipClient({ url: server.url });
    const error = await assertRefusal(
      client.generateStream('g', { text_input: 'a' }),
      'ES_QUEUE_FULL',
    );
    assert.equal(error.headers['retry-after'], '1');
    await client.close();
  });

  it('a stream that stalls is ES_TIMEOUT', async () => {
    const server = await serve(
      httpServer((request, response) => {
        request.resume();
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(token(1));
      }),
    );
    const client = createOipClient({ url: server.url, timeoutMs: 200 });
    const stream = await client.generateStream('g', { text_input: 'a' });
    const seen: number[] = [];
    await assertRefusal(
      (async () => {
        for await (const event of stream) seen.push(event.index);
      })(),
      'ES_TIMEOUT',
    );
    assert.deepEqual(seen, [0]);
    await client.close();
  });
});

describe('dispatchers and pass-through', () => {
  it('sends through an injected dispatcher, which close() leaves open', async () => {
    const server = await answering(200, '');
    let dispatched = 0;
    const agent = new Agent();
    const counting = agent.compose((dispatch) => (options, handler) => {
      dispatched += 1;
      return dispatch(options, handler);
    });
    const client = createOipClient({ url: server.url, dispatcher: counting });
    assert.equal(await client.ready(), true);
    assert.equal(dispatched, 1);
    await client.close();
    const again = createOipClient({ url: server.url, dispatcher: counting });
    assert.equal(await again.live(), true, 'the shared dispatcher still works');
    assert.equal(dispatched, 2);
    await agent.close();
  });

  it('send() passes bytes and headers through unchanged, without the per-connection ones', async () => {
    let seen: { method?: string; url?: string; headers?: http.IncomingHttpHeaders; body?: Buffer } =
      {};
    const server = await serve(
      httpServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (c: Buffer) => chunks.push(c));
        request.on('end', () => {
          seen = {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: Buffer.concat(chunks),
          };
          response.writeHead(404, {
            'content-type': 'application/json',
            'x-edgeshift-error': 'ES_MODEL_NOT_FOUND',
            'server-timing': 'queue;dur=1',
          });
          response.end('{"error":"unknown model","code":"ES_MODEL_NOT_FOUND"}');
        });
      }),
    );
    const client = createOipClient({ url: `${server.url}/prefix/`, token: 'tok' });
    const body = Buffer.from([0x7b, 0x7d, 0, 1, 2, 255]);
    const answer = await client.send({
      method: 'POST',
      path: '/v2/models/m/infer?x=1',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': '2',
        connection: 'keep-alive, x-hop',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        host: 'elsewhere',
        'content-length': '999',
        'x-custom': ['a', 'b'],
      },
      body,
    });
    assert.equal(answer.status, 404);
    assert.equal(answer.headers['x-edgeshift-error'], 'ES_MODEL_NOT_FOUND');
    assert.equal(answer.body.toString(), '{"error":"unknown model","code":"ES_MODEL_NOT_FOUND"}');
    assert.ok(answer.roundTripMs > 0);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/prefix/v2/models/m/infer?x=1');
    assert.deepEqual(seen.body, body);
    assert.equal(seen.headers?.['inference-header-content-length'], '2');
    assert.equal(seen.headers?.['content-length'], String(body.length));
    assert.equal(seen.headers?.authorization, 'Bearer tok');
    assert.equal(seen.headers?.['x-custom'], 'a, b');
    assert.equal(seen.headers?.['keep-alive'], undefined);
    assert.equal(seen.headers?.['transfer-encoding'], undefined);
    assert.notEqual(seen.headers?.host, 'elsewhere');
    await client.close();
  });

  it('refuses a URL that is not http(s), and limits that are not positive integers, with ES_CONFIG', () => {
    for (const options of [
      { connections: 0 },
      { timeoutMs: -5 },
      { timeoutMs: Number.POSITIVE_INFINITY },
      { maxResponseBytes: 1.5 },
    ]) {
      assert.throws(
        () => createOipClient({ url: 'http://127.0.0.1:8001', ...options }),
        (e: unknown) => (e as OipError).code === 'ES_CONFIG',
        JSON.stringify(options),
      );
    }
    for (const url of ['not a url', 'ftp://127.0.0.1:8001']) {
      assert.throws(
        () => createOipClient({ url }),
        (e: unknown) => (e as OipError).code === 'ES_CONFIG',
      );
    }
  });
});
