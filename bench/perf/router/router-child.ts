/**
 * The router under test, in a process of its own so the load generator never shares its
 * event loop; started by the supervisor (services/common/supervisor.ts) like
 * bench/perf/serving/serve-child.ts. Argument: JSON `{ nodeUrl, model, policy, options? }`.
 * Its topology is that one node alone (topologyFor), so every request is a real
 * placement decision by `policy` with one candidate. Probe inferences warm the
 * estimates before it reports ready (`warmupRequests`); refreshing them is off
 * (`refreshAfterMs: 0`): the benchmark's own requests keep them fresh.
 *
 *   node --import tsx bench/perf/router/router-child.ts '{"nodeUrl":"http://127.0.0.1:8001","model":"mlp","policy":"latency"}'
 */
import { serveAsChild } from '../../../services/common/supervisor.ts';
import { createRouter, type RouterOptions } from '../../../services/router/server.ts';
import { resolveTopology } from '../../../services/router/topology/index.ts';
import { type RouterChildArgs, routerOptionsFor, topologyFor } from './hop-topology.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as RouterChildArgs;
await serveAsChild(async () => {
  const topology = await resolveTopology(topologyFor(args.nodeUrl, args.model), {
    file: null,
    baseDir: process.cwd(),
  });
  const options: RouterOptions = { ...routerOptionsFor(args), topology };
  const router = await createRouter(options);
  const { url } = await router.listen();
  return {
    ready: { url, config: router.config },
    close: () => router.close(),
    shutdownTimeoutMs: router.shutdownTimeoutMs,
  };
});
