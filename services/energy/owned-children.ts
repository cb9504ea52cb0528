/**
 * Child processes the meters own (nvidia-smi, an external meter's command), spawned so
 * that they can always be ended: each runs in its own process group (`detached`), so a
 * signal reaches a wrapper script's own children too, and `stopOwned` sends the group
 * SIGTERM, then SIGKILL once the grace period has passed. Its promise settles within
 * grace + KILL_WAIT_MS whatever the child does. Children still alive when this process
 * exits (a second Ctrl-C calls process.exit while a stop waits out its grace) are sent
 * SIGKILL from an exit handler, so none is left orphaned.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

/**
 * How long a stop waits after SIGKILL before it gives up on the child. Assumed: the
 * kernel ends a process on SIGKILL at once unless it sits in uninterruptible sleep (a
 * call stuck in a driver), which not even SIGKILL interrupts; a stop must not wait for
 * that, and the child is reported as still running.
 */
export const KILL_WAIT_MS = 1000;

/**
 * - `exited`: it had already exited
 * - `terminated`: it exited within the grace period after SIGTERM
 * - `killed`: it ignored SIGTERM for the grace period and was killed with SIGKILL
 * - `still-running`: it outlived SIGKILL by KILL_WAIT_MS (uninterruptible sleep)
 */
export type StopOutcome = 'exited' | 'terminated' | 'killed' | 'still-running';

const owned = new Set<ChildProcess>();
let exitHookInstalled = false;

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Signals the child's process group, or the child alone when it has none of its own. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

function killOwnedOnExit(): void {
  for (const child of owned) if (!hasExited(child)) signalGroup(child, 'SIGKILL');
}

/** spawn() in a process group of its own, killed with this process if still alive at exit. */
export function spawnOwned(file: string, args: readonly string[], options: SpawnOptions = {}) {
  const child = spawn(file, args, { ...options, detached: true });
  if (child.pid !== undefined) {
    owned.add(child);
    child.once('exit', () => owned.delete(child));
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', killOwnedOnExit);
    }
  }
  return child;
}

/**
 * SIGTERM to the child's group, SIGKILL after `graceMs` if the child is still alive;
 * resolves once it has exited (and was reaped), or KILL_WAIT_MS after SIGKILL at the
 * latest. Members of its group that outlive it are sent SIGKILL.
 */
export function stopOwned(child: ChildProcess, graceMs: number): Promise<StopOutcome> {
  if (child.pid === undefined) return Promise.resolve('exited');
  if (hasExited(child)) {
    signalGroup(child, 'SIGKILL');
    return Promise.resolve('exited');
  }
  return new Promise((resolve) => {
    let outcome: StopOutcome = 'terminated';
    let giveUp: NodeJS.Timeout | undefined;
    const escalate = setTimeout(() => {
      outcome = 'killed';
      signalGroup(child, 'SIGKILL');
      giveUp = setTimeout(() => {
        child.off('exit', onExit);
        resolve('still-running');
      }, KILL_WAIT_MS);
    }, graceMs);
    const onExit = (): void => {
      clearTimeout(escalate);
      clearTimeout(giveUp);
      // A wrapper's children that ignored SIGTERM must not outlive it.
      signalGroup(child, 'SIGKILL');
      resolve(outcome);
    };
    child.once('exit', onExit);
    signalGroup(child, 'SIGTERM');
  });
}
