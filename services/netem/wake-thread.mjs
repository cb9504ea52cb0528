/**
 * Worker thread that sleeps until a given time and then tells its parent: the link's
 * release scheduler (release-queue.ts) has no timer finer than a millisecond, and a
 * futex wait with a timeout (Atomics.wait) wakes within tens of microseconds of its time
 * without spinning. Plain JavaScript on purpose: it loads the same way whether the parent
 * runs under tsx or plain node.
 *
 * workerData: a SharedArrayBuffer of 16 bytes: an Int32 generation at byte 0, bumped by
 * the parent at every change, and a Float64 time at byte 8 (process.hrtime in ms;
 * Infinity: nothing to wait for). When the time comes this thread posts the generation it
 * waited for, then waits for the next change.
 */
import { parentPort, workerData } from 'node:worker_threads';

if (parentPort === null) throw new Error('wake-thread.mjs must run in a worker thread');
const generation = new Int32Array(workerData, 0, 1);
const due = new Float64Array(workerData, 8, 1);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

parentPort.postMessage('ready');
for (;;) {
  const seen = Atomics.load(generation, 0);
  const at = due[0];
  if (!(at < Number.POSITIVE_INFINITY)) {
    Atomics.wait(generation, 0, seen);
    continue;
  }
  const wait = at - nowMs();
  if (wait > 0 && Atomics.wait(generation, 0, seen, wait) !== 'timed-out') continue;
  parentPort.postMessage(seen);
  Atomics.wait(generation, 0, seen);
}
