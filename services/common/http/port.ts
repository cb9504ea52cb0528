/**
 * Whether a port can be bound, asked before a command spends seconds loading models, and
 * the same explanation when binding fails later anyway (another process took the port
 * in between).
 */
import net from 'node:net';
import { EdgeshiftError } from '../errors.ts';

/** The error for a failed bind, in words a newcomer can act on; undefined for other errors. */
export function bindError(error: unknown, host: string, port: number): EdgeshiftError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  const where = `${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new EdgeshiftError(
        'ES_CONFIG',
        `port ${port} on ${host} is already in use (another edgeshift node, or \`npm start\`?): ` +
          'stop that process, or pick another port with --port <n> (--port 0 takes any free one)',
        { cause: error },
      );
    case 'EACCES':
      return new EdgeshiftError(
        'ES_CONFIG',
        `not allowed to listen on ${where} (ports below 1024 need privileges): pass --port <n> with n >= 1024`,
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new EdgeshiftError(
        'ES_CONFIG',
        `cannot listen on ${where}: ${host} is not an address of this machine; pass --host 127.0.0.1 or one of its addresses`,
        { cause: error },
      );
    default:
      return undefined;
  }
}

/**
 * Resolves if `host:port` can be bound now; throws bindError's explanation if not.
 * Port 0 (any free port) always can.
 */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error) => reject(bindError(error, host, port) ?? error));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
