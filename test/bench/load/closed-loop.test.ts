import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createBudgetMix } from '../../../bench/load/budget-mix.ts';
import {
  type ClosedLoopOptions,
  createClosedLoopPattern,
} from '../../../bench/load/closed-loop.ts';
import type { HttpTemplate, LoadTarget, RawOutcome } from '../../../bench/load/pattern.ts';
import { realClock } from '../../../bench/load/pattern.ts';

/** What the server does with its n-th request (1-based). */
type Behaviour = (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void;

interface EchoServer {
  url: string;
  /** Requests received, and which got which answer. */
  received: number;
  behave: Behaviour;
  close(): Promise<void>;
}

/** Echoes the budget header back; every 4th request is answered 503 with an error body. */
const echoBudget: Behaviour = (n, req, res) => {
  const budget = req.headers['x-latency-budget-ms'];
  const headers = {
    'content-type': 'application/json',
    'X-Echo-Budget': typeof budget === 'string' ? budget : 'none',
  };
  if (n % 4 === 0) {
    res.writeHead(503, headers).end(JSON.stringify({ error: `busy (${n})` }));
  } else {
    res.writeHead(200, headers).end(JSON.stringify({ ok: true, n }));
  }
};

async function startServer(): Promise<EchoServer> {
  const state = { received: 0, behave: echoBudget };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.received++;
      const body = Buffer.concat(chunks).toString();
      if (body !== '{"inputs":[]}' || req.headers['content-type'] !== 'application/json') {
        res.writeHead(400).end(JSON.stringify({ error: `unexpected request: ${body}` }));
        return;
      }
      state.behave(state.received, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v2/models/cnn/infer`,
    get received() {
      return state.received;
    },
    set received(n: number) {
      state.received = n;
    },
    get behave() {
      return state.behave;
    },
    set behave(b: Behaviour) {
      state.behave = b;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

class RecordingTarget implements LoadTarget {
  readonly outcomes: RawOutcome[] = [];
  constructor(
    private readonly url: string,
    private readonly sendsBudget = true,
  ) {}
  send(): Promise<void> {
    throw new Error('closed-loop sends through autocannon');
  }
  http(): HttpTemplate {
    return {
      url: this.url,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '999' },
      body: Buffer.from('{"inputs":[]}'),
      sendsBudget: this.sendsBudget,
    };
  }
  recordRaw(outcome: RawOutcome): void {
    this.outcomes.push(outcome);
  }
}

let server: EchoServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.close();
});

async function run(options: ClosedLoopOptions, behave: Behaviour = echoBudget, sendsBudget = true) {
  server.received = 0;
  server.behave = behave;
  const target = new RecordingTarget(server.url, sendsBudget);
  const budgets = createBudgetMix(
    [
      { weight: 0.5, budgetMs: 20 },
      { weight: 0.5, budgetMs: null },
    ],
    3,
  );
  const pattern = createClosedLoopPattern(options);
  const result = await pattern.run(target, {
    clock: realClock,
    signal: new AbortController().signal,
    budgets,
  });
  return { pattern, result, outcomes: target.outcomes };
}

/** Each outcome's own invariants; returns them by sequence number. */
function checkOutcomes(outcomes: RawOutcome[], measureStartMs: number): RawOutcome[] {
  const bySeq = [...outcomes].sort((a, b) => a.request.seq - b.request.seq);
  assert.deepEqual(
    bySeq.map((o) => o.request.seq),
    bySeq.map((_, i) => i),
    'every request recorded once',
  );
  for (const o of bySeq) {
    assert.ok(o.sentMs <= o.doneMs, `seq ${o.request.seq}: sent ${o.sentMs}, done ${o.doneMs}`);
    assert.equal(o.request.scheduledMs, o.sentMs);
    assert.equal(o.request.measured, o.sentMs >= measureStartMs);
  }
  return bySeq;
}

describe('closed-loop pattern (autocannon)', () => {
  it('keeps the budgets off the wire for a target that judges them itself (a tier phase)', async () => {
    const { outcomes } = await run(
      { connections: 2, warmupS: 0, durationS: 0.3, drainTimeoutS: 10 },
      echoBudget,
      false,
    );
    assert.ok(
      outcomes.some((o) => o.request.budgetMs === 20),
      'budgets were still drawn',
    );
    for (const o of outcomes) assert.equal(o.headers['x-echo-budget'], 'none');
  });

  it('records every request it sent once, with its budget, status and ordered timings', async () => {
    const { pattern, result, outcomes } = await run({
      connections: 4,
      warmupS: 0.2,
      durationS: 0.4,
      drainTimeoutS: 10,
    });
    assert.equal(pattern.load, 4);
    assert.equal(result.cappedBy, null);
    assert.equal(result.cut, 0);
    assert.equal(outcomes.length, server.received);
    const bySeq = checkOutcomes(outcomes, result.measureStartMs);
    for (const o of bySeq) {
      assert.equal(o.error, null);
      assert.equal(
        o.headers['x-echo-budget'],
        o.request.budgetMs === null ? 'none' : String(o.request.budgetMs),
      );
      assert.ok(o.status === 200 || o.status === 503, `status ${o.status}`);
      const body = JSON.parse(o.body!.toString());
      if (o.status === 503) assert.match(body.error, /^busy/);
      else assert.equal(body.ok, true);
    }
    assert.equal(bySeq.filter((o) => o.status === 503).length, Math.floor(server.received / 4));
    const budgets = new Set(bySeq.map((o) => o.request.budgetMs));
    assert.deepEqual([...budgets].sort(), [20, null].sort());
    const measured = bySeq.filter((o) => o.request.measured);
    assert.ok(measured.length > 0 && measured.length < bySeq.length);
    assert.equal(result.scheduled, measured.length);
    assert.equal(result.completed, measured.length);
    assert.ok(result.measureStartMs === result.warmupStartMs + 200);
    assert.ok(result.sendEndMs >= result.measureStartMs + 400);
    assert.ok(result.measureEndMs >= Math.max(...measured.map((o) => o.doneMs)));
  });

  it('records requests whose connection broke as network errors', async () => {
    let broken = 0;
    const { result, outcomes } = await run(
      { connections: 2, warmupS: 0, durationS: 0.3, drainTimeoutS: 10 },
      (n, req, res) => {
        if (n % 5 === 0) {
          broken++;
          req.socket.destroy();
        } else {
          echoBudget(1, req, res);
        }
      },
    );
    assert.equal(outcomes.length, server.received);
    const bySeq = checkOutcomes(outcomes, result.measureStartMs);
    const errors = bySeq.filter((o) => o.error !== null);
    assert.equal(errors.length, broken);
    assert.ok(broken > 0);
    for (const o of errors) {
      assert.equal(o.status, 0);
      assert.equal(o.body, null);
      assert.match(o.error!, /^E[A-Z]+: /);
    }
    assert.equal(result.scheduled, result.completed + result.cut);
  });

  it('records a request that got no answer in timeoutS as a timeout', async () => {
    const { result, outcomes } = await run(
      { connections: 1, warmupS: 0, durationS: 0.2, timeoutS: 1, drainTimeoutS: 10 },
      (n, req, res) => {
        if (n !== 2) echoBudget(1, req, res);
      },
    );
    const bySeq = checkOutcomes(outcomes, result.measureStartMs);
    assert.equal(outcomes.length, server.received);
    assert.match(bySeq[1]!.error!, /^ETIMEDOUT: /);
    assert.ok(bySeq[1]!.doneMs - bySeq[1]!.sentMs >= 900);
    assert.ok(bySeq.filter((o) => o.error !== null).length === 1);
  });

  it('cuts what is still unanswered when the drain timeout ends', async () => {
    const { result, outcomes } = await run(
      { connections: 3, warmupS: 0, durationS: 0.2, drainTimeoutS: 0.2 },
      (n, req, res) => {
        // From the 10th on, nothing is answered.
        if (n < 10) echoBudget(1, req, res);
      },
    );
    assert.equal(result.cut, 3);
    assert.equal(outcomes.length, 9);
    assert.equal(result.scheduled, result.completed + result.cut);
    assert.ok(result.measureEndMs >= result.sendEndMs + 200);
  });

  it('stops promptly when the signal aborts', async () => {
    server.received = 0;
    server.behave = echoBudget;
    const target = new RecordingTarget(server.url);
    const controller = new AbortController();
    const started = realClock.now();
    const run = createClosedLoopPattern({ connections: 2, warmupS: 0, durationS: 60 }).run(target, {
      clock: realClock,
      signal: controller.signal,
      budgets: { draw: () => null },
    });
    setTimeout(() => controller.abort(), 100);
    const result = await run;
    assert.equal(result.cappedBy, 'abort');
    assert.equal(result.cut, 0);
    assert.equal(target.outcomes.length, server.received);
    // Far from the 60 s it was given; the bound is loose, only that it did not run on.
    assert.ok(realClock.now() - started < 30_000);
  });
});
