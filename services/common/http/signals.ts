/**
 * For the CLI: on SIGTERM or SIGINT, close a service (node, router, agent) gracefully and exit 0.
 * A second signal while closing exits at once (status 130 = 128 + SIGINT, the shell convention).
 */

export interface Closable {
  close(): Promise<void>;
}

export function installSignalHandlers(
  node: Closable,
  options: { exit?: (code: number) => void; signals?: NodeJS.Signals[] } = {},
): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let closing = false;
  const onSignal = (): void => {
    if (closing) {
      exit(130);
      return;
    }
    closing = true;
    node.close().then(
      () => exit(0),
      (error: unknown) => {
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
