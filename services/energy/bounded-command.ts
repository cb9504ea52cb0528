/**
 * Runs a command to completion within a time limit, for the meters' one-shot queries
 * (nvidia-smi's detection, an external meter's command). execFile's `timeout` is not
 * enough: it sends its kill signal once, so a command that ignores SIGTERM keeps the
 * caller waiting until it ends by itself, and with `killSignal: 'SIGKILL'` it kills only
 * the shell, leaving the shell's children running. Here the command runs in its own
 * process group (owned-children.ts) and is stopped with SIGTERM, then SIGKILL after a
 * grace period, when its time is up or when the caller aborts it (a meter stopping).
 */
import { type StopOutcome, spawnOwned, stopOwned } from './owned-children.ts';

export interface BoundedCommandOptions {
  /** Time limit for the command, from its start. */
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL when it has to be stopped. */
  stopGraceMs: number;
  /** Aborting stops the command at once (with the same escalation). */
  signal?: AbortSignal;
  /** Output kept per stream (the end of it); default 64 KiB. */
  maxBytes?: number;
}

export interface BoundedCommandResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when it was killed by a signal, could not start, or did not exit. */
  code: number | null;
  /** Why it was stopped before it ended by itself, and how it ended; null when it was not. */
  stopped: { why: 'timeout' | 'aborted'; outcome: StopOutcome } | null;
  /** The errno code when it could not be started (ENOENT, EACCES...). */
  spawnError: string | null;
}

const DEFAULT_MAX_BYTES = 64 * 1024;

export function runBounded(
  file: string,
  args: readonly string[],
  options: BoundedCommandOptions,
): Promise<BoundedCommandResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve) => {
    const child = spawnOwned(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    let stopping = false;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      stdout = (stdout + chunk).slice(-maxBytes);
    });
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-maxBytes);
    });
    const finish = (result: Omit<BoundedCommandResult, 'stdout' | 'stderr'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ stdout, stderr, ...result });
    };
    const stop = (why: 'timeout' | 'aborted'): void => {
      if (settled || stopping) return;
      stopping = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      stopOwned(child, options.stopGraceMs).then((outcome) => {
        // A child of the command may still hold the pipes: stop reading them.
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish({ code: child.exitCode, stopped: { why, outcome }, spawnError: null });
      });
    };
    const onAbort = (): void => stop('aborted');
    const timer = setTimeout(() => stop('timeout'), options.timeoutMs);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) stop('aborted');
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Only a failure to start ends the command; it is then neither running nor stoppable.
      if (child.pid === undefined) {
        finish({ code: null, stopped: null, spawnError: error.code ?? error.message });
      }
    });
    child.once('close', (code) => {
      if (!stopping) finish({ code, stopped: null, spawnError: null });
    });
  });
}

/** The result in words, for a reason: `exit code 2`, `no answer within 300 ms (killed with SIGKILL after ignoring SIGTERM for 2000 ms)`. */
export function describeEnd(
  result: BoundedCommandResult,
  options: Pick<BoundedCommandOptions, 'timeoutMs' | 'stopGraceMs'>,
): string {
  if (result.spawnError !== null) return result.spawnError;
  if (result.stopped === null) return `exit code ${result.code}`;
  const what =
    result.stopped.why === 'timeout' ? `no answer within ${options.timeoutMs} ms` : 'stopped';
  switch (result.stopped.outcome) {
    case 'killed':
      return `${what} (killed with SIGKILL after ignoring SIGTERM for ${options.stopGraceMs} ms)`;
    case 'still-running':
      return `${what} (still running after SIGKILL: stuck in the kernel?)`;
    default:
      return what;
  }
}
