/**
 * The null system under test (MLPerf LoadGen's term): a fastify server set up like the
 * node (raw body bytes, no logger) whose infer route answers at once with a canned
 * response, computing nothing. Measured like the node, it shows what HTTP on this
 * machine costs before any serving work: the ceiling for the served figures.
 *
 * Argument: a JSON file `{ "json": Canned, "binary": Canned }`, Canned = `{ contentType,
 * headerLength?, bodyBase64 }`. A request with Inference-Header-Content-Length gets the
 * binary answer, any other the JSON one. Started by the supervisor like serve-child.ts.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { serveAsChild } from '../../../services/common/supervisor.ts';

interface Canned {
  contentType: string;
  headerLength?: number;
  bodyBase64: string;
}

const canned = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as Record<
  'json' | 'binary',
  Canned
>;
const answers = Object.fromEntries(
  Object.entries(canned).map(([protocol, c]) => [
    protocol,
    { ...c, body: Buffer.from(c.bodyBase64, 'base64') },
  ]),
) as Record<'json' | 'binary', Canned & { body: Buffer }>;

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.post('/v2/models/:model/infer', (request, reply) => {
  const binary = request.headers['inference-header-content-length'] !== undefined;
  const answer = binary ? answers.binary : answers.json;
  reply.type(answer.contentType);
  if (answer.headerLength !== undefined) {
    reply.header('inference-header-content-length', String(answer.headerLength));
  }
  return reply.send(answer.body);
});
// The counter the harness reads from a node's /metrics, for the CPU the null server used.
app.get('/metrics', (_request, reply) => {
  const usage = process.cpuUsage();
  return reply.send(`process_cpu_seconds_total ${(usage.user + usage.system) / 1e6}\n`);
});
await serveAsChild(async () => {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { ready: { url: `http://127.0.0.1:${port}`, config: {} }, close: () => app.close() };
});
