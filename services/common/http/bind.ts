/**
 * Where a service may listen, and how it reports where it listens. Every edgeshift server
 * binds 127.0.0.1 unless told otherwise and needs a bearer token on any other address:
 * anyone who can reach it could use it otherwise.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { EdgeshiftError } from '../errors.ts';

/** Environment variable the CLI reads the bearer token from when no flag gives one. */
export const TOKEN_ENV = 'EDGESHIFT_TOKEN';

/** The token from the environment, if set and non-empty (for the CLI). */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[TOKEN_ENV];
  return value === undefined || value === '' ? undefined : value;
}

/** RFC 6750 §2.1 b64token characters, so a token fits an Authorization header unchanged. */
export const bearerTokenSchema = z
  .string()
  .regex(/^[A-Za-z0-9\-._~+/]+=*$/, 'RFC 6750 token characters only');

const LOOPBACK_NAMES = new Set(['localhost', '::1', '[::1]']);

/** True for hosts only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (LOOPBACK_NAMES.has(h)) return true;
  // RFC 1122 §3.2.1.3: all of 127.0.0.0/8 is loopback.
  return /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Throws ES_CONFIG when `host` is reachable from other machines and there is no token.
 * `exposes` says what a stranger could do (e.g. "use the node").
 */
export function requireTokenBeyondLoopback(
  host: string,
  token: string | undefined,
  exposes: string,
): void {
  if (token !== undefined || isLoopbackHost(host)) return;
  throw new EdgeshiftError(
    'ES_CONFIG',
    `refusing to listen on ${host} without a token: anyone who can reach it could ${exposes}. ` +
      `Pass a token (--token <t>, the ${TOKEN_ENV} environment variable, or "token" in the ` +
      'config file), or listen on 127.0.0.1.',
  );
}

export interface ListenAddress {
  host: string;
  port: number;
  /** Base URL, e.g. http://127.0.0.1:8001 */
  url: string;
}

/** Listens on host:port (port 0 picks a free one) and says where, as a URL too. */
export async function listenOn(
  app: FastifyInstance,
  host: string,
  port: number,
): Promise<ListenAddress> {
  await app.listen({ host, port });
  const address = app.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { host, port: bound, url: `http://${urlHost}:${bound}` };
}
