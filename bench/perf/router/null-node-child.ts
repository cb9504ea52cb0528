/**
 * A null node (MLPerf LoadGen's "null SUT") the router can stand in front of: fastify set
 * up like bench/perf/serving/null-child.ts (raw body bytes, no logger), answering every
 * infer request at once with the real node's canned answer, computing nothing. It also
 * answers what the router asks of a node before it sends it traffic, which the serving
 * null server does not: readiness (the router's health probes) and the model's metadata
 * (its probe inferences are built from it). Measured directly and through the router,
 * it gives the router's own throughput ceiling.
 *
 * Argument: a JSON file `{ "infer": { contentType, headerLength?, bodyBase64 },
 * "metadata": <the node's GET /v2/models/<model> answer> }`. Started by the supervisor
 * like serve-child.ts.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { serveAsChild } from '../../../services/common/supervisor.ts';
import type { NullNodeCanned } from './hop-servers.ts';

const canned = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as NullNodeCanned;
const body = Buffer.from(canned.infer.bodyBase64, 'base64');
const metadata = JSON.stringify(canned.metadata);

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, raw, done) => done(null, raw));
app.post('/v2/models/:model/infer', (_request, reply) => {
  reply.type(canned.infer.contentType);
  if (canned.infer.headerLength !== undefined) {
    reply.header('inference-header-content-length', String(canned.infer.headerLength));
  }
  return reply.send(body);
});
app.get('/v2/health/ready', (_request, reply) => reply.send({ ready: true }));
app.get('/v2/health/live', (_request, reply) => reply.send({ live: true }));
app.get('/v2/models/:model', (_request, reply) => reply.type('application/json').send(metadata));
app.get('/v2/models/:model/ready', (_request, reply) => reply.send({ ready: true }));
await serveAsChild(async () => {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { ready: { url: `http://127.0.0.1:${port}`, config: {} }, close: () => app.close() };
});
