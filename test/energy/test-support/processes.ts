/**
 * Whether a process is gone, for the tests that stop child processes. A direct child
 * that this process has reaped is simply absent (ESRCH). A grandchild killed together
 * with its parent is a zombie until init reaps it, and whether and when init does is up
 * to the machine (a container's PID 1 may never): a zombie has exited, so it counts as
 * gone (state `Z` in /proc/<pid>/stat, proc_pid_stat(5)).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when kill(pid, 0) finds no such process. */
export function noSuchProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export function processGone(pid: number): boolean {
  if (noSuchProcess(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/**
 * Waits until `check` holds, polling; `hangMs` only catches a hang (it is never the
 * thing being measured), so it is generous.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  hangMs = 20_000,
): Promise<void> {
  const until = performance.now() + hangMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`still waiting after ${hangMs} ms: ${what}`);
    await sleep(20);
  }
}
