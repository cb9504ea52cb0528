/**
 * Graceful shutdown of an HTTP service, in the order Triton and Kubernetes expect, within
 * one deadline:
 *
 * 1. Readiness turns 503 and new requests get 503 ES_NOT_READY with `Connection: close`
 *    (the caller has stopped accepting before calling `drain`).
 * 2. Requests already on the wire are let in: connections the kernel has accepted and
 *    request bytes already sent are read, so they are answered (a 503 at worst) rather
 *    than reset by closing the listener under them.
 * 3. Requests received are answered, and the service keeps listening for `drainDelayMs`
 *    so balancers see readiness fail before the listener closes.
 * 4. Idle connections end with a lingering close, the listener closes, and the remaining
 *    connections end after their answers.
 *
 * When the deadline passes, every connection still open is destroyed: a client that
 * trickles its body, or never reads its answer, cannot hold the process.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionGuard } from './connections.ts';

export interface DrainOptions {
  shutdownTimeoutMs: number;
  drainDelayMs: number;
  /** Stops listening and resolves once every connection has ended (fastify's close()). */
  closeListener(): Promise<void>;
  now?: () => number;
}

/** Turns of the event loop with nothing new arriving before the drain counts what came. */
const QUIET_TURNS = 2;
/** At most this many turns are spent letting requests in, whatever keeps arriving. */
const MAX_SETTLE_TURNS = 1_000;

/** Resolves true if `promise` settles within `ms`, false otherwise; never rejects. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const controller = new AbortController();
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      sleep(ms, false, { signal: controller.signal }).catch(() => false),
    ]);
  } finally {
    controller.abort();
  }
}

/**
 * Let in what is already on the wire: each turn of the event loop polls once, accepting
 * pending connections and reading the bytes they carry. Waits until QUIET_TURNS turns
 * pass with no new connection and no new request.
 */
async function settleIncoming(guard: ConnectionGuard): Promise<void> {
  let quiet = 0;
  let seen = guard.accepted + guard.received;
  for (let turn = 0; turn < MAX_SETTLE_TURNS && quiet < QUIET_TURNS; turn++) {
    await nextTurn();
    const now = guard.accepted + guard.received;
    quiet = now === seen ? quiet + 1 : 0;
    seen = now;
  }
}

/** Returns true if everything ended in time, false if the deadline cut connections. */
export async function drain(guard: ConnectionGuard, options: DrainOptions): Promise<boolean> {
  const now = options.now ?? (() => performance.now());
  const deadline = now() + options.shutdownTimeoutMs;
  const left = () => Math.max(0, deadline - now());

  await within(settleIncoming(guard), left());
  await within(
    Promise.all([guard.whenNoRequests(), sleep(Math.min(options.drainDelayMs, left()))]),
    left(),
  );
  // Requests that arrived during the delay are answered before idle connections close.
  await within(guard.whenNoRequests(), left());
  guard.closeIdle();
  const closing = options.closeListener();
  if (await within(closing, left())) return true;
  guard.destroyAll();
  await closing.catch(() => undefined);
  return false;
}
