/**
 * The bounds every edgeshift HTTP service puts on its clients: how long headers and
 * bodies may take, how many connections and body bytes it holds at once, how long a
 * closing connection lingers, and how long shutdown may take. One schema, shared by the
 * node's and the other services' options, so each bound has one name and one default.
 */
import { z } from 'zod';
import { parseOptions } from '../config.ts';
import { EdgeshiftError } from '../errors.ts';

export const httpLimitFields = {
  /**
   * Milliseconds a client has to send its request headers. Node's default is 60 s; 15 s
   * is ample on any link a study emulates (a request's headers are a few hundred bytes)
   * and frees a slow client's connection four times sooner.
   */
  headersTimeoutMs: z.number().int().min(100).max(600_000).default(15_000),
  /**
   * Milliseconds a client has to send its whole request, body included (Node's
   * `requestTimeout`, 300 s by default): 64 MiB at 5 Mbit/s takes about 110 s.
   */
  requestTimeoutMs: z.number().int().min(100).max(3_600_000).default(120_000),
  /**
   * Milliseconds an idle keep-alive connection stays open: 72 s, fastify's default, longer
   * than the 60 s idle timeout of common load balancers (AWS ALB's default), so the
   * balancer, not the server, closes idle connections and never sends on a closing one.
   */
  keepAliveTimeoutMs: z.number().int().min(100).max(3_600_000).default(72_000),
  /**
   * Most open connections. At the cap a new connection replaces the oldest one that is
   * not inside a request; 1024 is the usual soft limit on open files (`ulimit -n`), less
   * what the process needs for itself, rounded: raise both together.
   */
  maxConnections: z.number().int().min(1).max(1_000_000).default(1000),
  /**
   * Milliseconds a closing connection keeps reading what its client still sends, so the
   * answer is not lost to a reset (nginx's `lingering_timeout` is 5 s; one upload
   * second is enough on loopback and LANs, two leave room for emulated links).
   */
  lingerMs: z.number().int().min(0).max(60_000).default(2_000),
  /**
   * Request body bytes being received and held at once, over all requests; one more is
   * answered 429 ES_BODIES_IN_FLIGHT. Default: four bodies at the body limit (256 MiB at
   * the default 64 MiB), so a few large requests proceed while memory stays bounded.
   */
  maxBodyBytesInFlight: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 40)
    .optional(),
  /**
   * Milliseconds shutdown may take: requests already received are answered within it,
   * then every connection is closed. 25 s: Triton's `--exit-timeout-secs` is 30, and
   * Kubernetes kills a pod 30 s after SIGTERM by default (terminationGracePeriodSeconds),
   * so this leaves the process time to exit on its own.
   */
  shutdownTimeoutMs: z.number().int().min(0).max(3_600_000).default(25_000),
  /**
   * Milliseconds the service keeps listening after shutdown begins, answering readiness
   * 503 and new requests 503 ES_NOT_READY, so balancers see it go before it closes. 0 by
   * default; behind a Kubernetes Service set it to the endpoint propagation time (5 s is
   * the usual preStop sleep).
   */
  drainDelayMs: z.number().int().min(0).max(600_000).default(0),
};

export const httpLimitsSchema = z.strictObject(httpLimitFields);
export type HttpLimitOptions = z.output<typeof httpLimitsSchema>;
/** The limits with every default filled in, for a given body limit. */
export type HttpLimits = Required<HttpLimitOptions>;

/** Bodies at the limit that may be in flight at once when maxBodyBytesInFlight is not given. */
export const DEFAULT_BODIES_IN_FLIGHT = 4;

/**
 * Fills the defaults that depend on the body limit and checks the limits against each
 * other; throws ES_CONFIG naming the fix.
 */
export function resolveHttpLimits(
  options: Partial<HttpLimitOptions>,
  bodyLimitBytes: number,
): HttpLimits {
  const parsed = parseOptions(httpLimitsSchema, options, 'HTTP limits');
  const limits: HttpLimits = {
    ...parsed,
    maxBodyBytesInFlight: parsed.maxBodyBytesInFlight ?? DEFAULT_BODIES_IN_FLIGHT * bodyLimitBytes,
  };
  if (limits.maxBodyBytesInFlight < bodyLimitBytes) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `maxBodyBytesInFlight (${limits.maxBodyBytesInFlight}) is below bodyLimitBytes (${bodyLimitBytes}): ` +
        'a body at the limit could never be received; raise maxBodyBytesInFlight or lower bodyLimitBytes',
    );
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `headersTimeoutMs (${limits.headersTimeoutMs}) is longer than requestTimeoutMs (${limits.requestTimeoutMs}), which includes the headers`,
    );
  }
  return limits;
}

/** The HTTP limits among a service's options (which spread `httpLimitFields` into theirs). */
export function pickHttpLimits(options: HttpLimitOptions): Partial<HttpLimitOptions> {
  const picked: Partial<Record<keyof HttpLimitOptions, number>> = {};
  for (const key of Object.keys(httpLimitFields) as (keyof HttpLimitOptions)[]) {
    if (options[key] !== undefined) picked[key] = options[key];
  }
  return picked;
}
