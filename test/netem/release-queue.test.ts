/**
 * The release scheduler and its wakers with the real clock: every task runs, none before
 * its time, in time order and then push order; a closed queue's tasks never run; the
 * thread waker wakes within its lead, can be cancelled and replaced, and keeps no process
 * alive. How late releases come under load is measured by bench/perf/netem, not here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { ReleaseQueue, wakerChoice } from '../../services/netem/release-queue.ts';
import {
  SPIN_MS,
  THREAD_LEAD_MS,
  ThreadWaker,
  TimerWaker,
  type Waker,
} from '../../services/netem/wakers.ts';

/**
 * The scheduler and the wakers keep no process alive (a link's sockets do): hold the
 * event loop open while a test waits on them.
 */
async function held<T>(work: () => Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 60_000);
  try {
    return await work();
  } finally {
    clearInterval(hold);
  }
}

/** Asks `waker` for a wake at `at` and resolves with when it came, after `onWake`. */
function wokenAt(waker: Waker, at: number, onWake: () => void = () => {}): Promise<number> {
  return held(
    () =>
      new Promise<number>((resolve) =>
        waker.wakeAt(at, () => {
          onWake();
          resolve(performance.now());
        }),
      ),
  );
}

/** Pushes tasks at the given offsets (ms from now) and resolves with their run order and lateness. */
function runAll(
  queue: ReleaseQueue,
  offsets: number[],
): Promise<{ order: number[]; early: number[] }> {
  return held(
    () =>
      new Promise((resolve) => {
        const start = performance.now();
        const order: number[] = [];
        const early: number[] = [];
        offsets.forEach((offset, i) => {
          const at = start + offset;
          queue.push(at, () => {
            const now = performance.now();
            if (now < at) early.push(at - now);
            order.push(i);
            if (order.length === offsets.length) resolve({ order, early });
          });
        });
      }),
  );
}

describe('ReleaseQueue', () => {
  it('runs every task no earlier than its time, by time and then by push order', async () => {
    const queue = new ReleaseQueue();
    // Two at 8 ms (pushed 0 and 3), one past due, some far enough for the waker.
    const { order, early } = await runAll(queue, [8, 20, 2, 8, -1, 0.2, 40]);
    assert.deepEqual(order, [4, 5, 2, 0, 3, 1, 6]);
    assert.deepEqual(early, []);
    assert.equal(queue.pending, 0);
  });

  it('keeps each queue in its own order among other queues', async () => {
    const a = new ReleaseQueue();
    const b = new ReleaseQueue();
    const [ra, rb] = await Promise.all([runAll(a, [5, 5, 5, 12]), runAll(b, [3, 5, 30])]);
    assert.deepEqual(ra.order, [0, 1, 2, 3]);
    assert.deepEqual(rb.order, [0, 1, 2]);
  });

  it('drops what a closed queue holds and takes nothing more', async () => {
    const closed = new ReleaseQueue();
    const open = new ReleaseQueue();
    let ran = 0;
    closed.push(performance.now() + 3, () => ran++);
    closed.push(performance.now() + 10, () => ran++);
    closed.close();
    closed.push(performance.now() + 1, () => ran++);
    assert.equal(closed.pending, 0);
    // Something after the closed queue's tasks, to know they have fallen due.
    await runAll(open, [15]);
    assert.equal(ran, 0);
  });

  it('runs tasks on a clock of the caller’s', async () => {
    const clock = () => performance.now() + 1_000;
    const queue = new ReleaseQueue(clock);
    const at = clock() + 5;
    const lateness = await held(
      () => new Promise<number>((resolve) => queue.push(at, () => resolve(clock() - at))),
    );
    assert.ok(lateness >= 0, `ran ${-lateness} ms early`);
  });
});

describe('wakers', () => {
  it('the thread waker wakes once, no earlier than its lead before the time', async () => {
    const waker = new ThreadWaker();
    assert.equal(await held(() => waker.started), true);
    assert.equal(waker.leadMs, THREAD_LEAD_MS);
    for (const wait of [0.5, 3, 12]) {
      const at = performance.now() + wait;
      const woke = await wokenAt(waker, at);
      assert.ok(
        woke >= at - THREAD_LEAD_MS,
        `woke ${at - THREAD_LEAD_MS - woke} ms before its lead`,
      );
    }
  });

  it('the thread waker forgets a cancelled or replaced wake', async () => {
    const waker = new ThreadWaker();
    await held(() => waker.started);
    let stale = 0;
    waker.wakeAt(performance.now() + 2, () => stale++);
    waker.cancel();
    waker.wakeAt(performance.now() + 3, () => stale++);
    // Replaced by a later one: only that one runs.
    await held(() => new Promise<void>((resolve) => waker.wakeAt(performance.now() + 20, resolve)));
    assert.equal(stale, 0);
  });

  it('acts as a timer until its thread has started, and wakes once', async () => {
    const waker = new ThreadWaker();
    assert.equal(waker.leadMs, SPIN_MS);
    // Node's timers may fire before their delay has passed on performance.now() (they
    // count from the loop's time, in whole ms): the scheduler checks the time again, so
    // only the wake itself is asserted here, and that it comes once.
    let wakes = 0;
    await wokenAt(waker, performance.now() + 4, () => wakes++);
    await held(() => waker.started);
    await held(() => new Promise<void>((resolve) => waker.wakeAt(performance.now() + 5, resolve)));
    assert.equal(wakes, 1);
  });

  it('the timer waker wakes once, and not after a cancel', async () => {
    const waker = new TimerWaker(() => performance.now());
    let wakes = 0;
    waker.wakeAt(performance.now() + 2, () => wakes++);
    waker.cancel();
    await wokenAt(waker, performance.now() + 5, () => wakes++);
    const last = new TimerWaker(() => performance.now());
    await held(() => new Promise<void>((resolve) => last.wakeAt(performance.now() + 10, resolve)));
    assert.equal(wakes, 1);
  });

  it('with EDGESHIFT_NETEM_WAKER=thread: runs tasks in order, and keeps no process alive', async () => {
    // In a process of its own: the scheduler of the default clock takes its waker once.
    const script = `
      import { performance } from 'node:perf_hooks';
      import { ReleaseQueue, releaseWaker } from './services/netem/release-queue.ts';
      import { ThreadWaker } from './services/netem/wakers.ts';
      const hold = setInterval(() => {}, 60_000);
      const queue = new ReleaseQueue();
      const start = performance.now();
      const order = [];
      let early = 0;
      await new Promise((resolve) => {
        [30, 5, 12, 5, 60].forEach((offset, i) => {
          queue.push(start + offset, () => {
            if (performance.now() < start + offset) early++;
            order.push(i);
            if (order.length === 5) resolve();
          });
        });
      });
      const waker = new ThreadWaker();
      await waker.started;
      clearInterval(hold);
      // Wakes still pending: neither may keep the process alive.
      waker.wakeAt(performance.now() + 60_000, () => {});
      queue.push(performance.now() + 60_000, () => {});
      console.log(JSON.stringify({ order, early, waker: releaseWaker() }));
    `;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: new URL('../..', import.meta.url),
        env: { ...process.env, EDGESHIFT_NETEM_WAKER: 'thread' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    // A deadline for a failure, not a wait for success: a kept-alive process never exits.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await once(child, 'exit');
    clearTimeout(deadline);
    assert.equal(signal, null, 'the process did not exit by itself within 30 s');
    assert.equal(code, 0);
    const result = JSON.parse(out) as { order: number[]; early: number; waker: { kind: string } };
    assert.deepEqual(result.order, [1, 3, 2, 0, 4]);
    assert.equal(result.early, 0);
    assert.equal(result.waker.kind, 'thread');
  });
});

describe('the waker choice', () => {
  it('takes the timer by default, the thread when told, and refuses anything else', () => {
    assert.equal(wakerChoice({}), 'timer');
    assert.equal(wakerChoice({ EDGESHIFT_NETEM_WAKER: '' }), 'timer');
    assert.equal(wakerChoice({ EDGESHIFT_NETEM_WAKER: 'thread' }), 'thread');
    assert.equal(wakerChoice({ EDGESHIFT_NETEM_WAKER: 'timer' }), 'timer');
    assert.throws(() => wakerChoice({ EDGESHIFT_NETEM_WAKER: 'thred' }), {
      code: 'ES_CONFIG',
      message: 'EDGESHIFT_NETEM_WAKER must be "thread" or "timer", not "thred"',
    });
  });
});
