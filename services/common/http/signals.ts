/**
 * For the CLI: on SIGTERM or SIGINT, close a service (node, router, agent) gracefully and exit 0.
 * A second signal while closing exits at once (status 130 = 128 + SIGINT, the shell convention).
 * A service with a shutdown deadline exits 1 if closing outlasts it by EXIT_MARGIN_MS: a
 * native inference that cannot be interrupted, or a child process that will not stop,
 * cannot hold the process past its deadline.
 */

export interface Closable {
  close(): Promise<void>;
  /** How long closing may take (the service drains within it). */
  readonly shutdownTimeoutMs?: number;
}

/**
 * Milliseconds past the deadline for what closes after the connections: the runtime
 * sessions and the energy meters (whose child processes get SIGKILL after their own grace).
 */
export const EXIT_MARGIN_MS = 3_000;

export function installSignalHandlers(
  node: Closable,
  options: { exit?: (code: number) => void; signals?: NodeJS.Signals[] } = {},
): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let closing = false;
  let hardExit: NodeJS.Timeout | undefined;
  const onSignal = (): void => {
    if (closing) {
      exit(130);
      return;
    }
    closing = true;
    if (node.shutdownTimeoutMs !== undefined) {
      const limit = node.shutdownTimeoutMs + EXIT_MARGIN_MS;
      hardExit = setTimeout(() => {
        console.error(`edgeshift: still closing ${limit} ms after the signal; exiting anyway`);
        exit(1);
      }, limit);
      hardExit.unref();
    }
    node.close().then(
      () => {
        clearTimeout(hardExit);
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(hardExit);
        console.error('edgeshift: error while shutting down:', error);
        exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
