import type { Command } from 'commander';
import { Option } from 'commander';
import { tokenFromEnv } from '../../services/common/http/bind.ts';
import { assertPortFree, bindError } from '../../services/common/http/port.ts';
import { installSignalHandlers } from '../../services/common/http/signals.ts';
import { ON_INFEASIBLE, resolveRouterConfig } from '../../services/router/config.ts';
import { POLICY_NAMES } from '../../services/router/policies/index.ts';
import { createRouter } from '../../services/router/server.ts';
import { DEFAULT_TOPOLOGY_PATH } from '../../services/router/topology/index.ts';
import { integer, number, positiveInteger } from '../options.ts';

const DEFAULTS = resolveRouterConfig({});

interface RouterFlags {
  topology?: string;
  policy?: string;
  defaultBudgetMs?: number;
  onInfeasible?: string;
  quantile?: number;
  warmupRequests?: number;
  refreshAfterMs?: number;
  probeIntervalMs?: number;
  connectionsPerNode?: number;
  seed?: number;
  name?: string;
  host?: string;
  port?: number;
  token?: string;
  shutdownTimeoutMs?: number;
  drainDelayMs?: number;
}

export function registerRouterCommand(program: Command): void {
  program
    .command('router')
    .description(
      'run the latency-budget router: Open Inference Protocol in front of the nodes of a topology, each request placed by a policy',
    )
    .option(
      '-t, --topology <file>',
      'topology file (YAML: nodes, sites, links; docs/topology.md) (default: the repository default topology)',
    )
    .option(
      '-p, --policy <policy>',
      `placement policy: ${POLICY_NAMES.join(', ')}, or a path to a module exporting createPolicy (default: ${DEFAULTS.policy})`,
    )
    .option(
      '--default-budget-ms <ms>',
      `budget of a request that brings none (default: ${DEFAULTS.defaultBudgetMs})`,
      number('--default-budget-ms'),
    )
    .addOption(
      new Option(
        '--on-infeasible <what>',
        `when no node is expected to meet the budget (default: ${DEFAULTS.onInfeasible})`,
      ).choices([...ON_INFEASIBLE]),
    )
    .option(
      '--quantile <q>',
      `latency quantile a node must meet the budget at (default: ${DEFAULTS.quantile})`,
      number('--quantile'),
    )
    .option(
      '--warmup-requests <n>',
      `probe inferences per listed model and node before ready (default: ${DEFAULTS.warmupRequests})`,
      integer('--warmup-requests'),
    )
    .option(
      '--refresh-after-ms <ms>',
      `a node and model unanswered this long gets a probe inference; 0: never (default: ${DEFAULTS.refreshAfterMs})`,
      integer('--refresh-after-ms'),
    )
    .option(
      '--probe-interval-ms <ms>',
      `health probes per node, this far apart (default: ${DEFAULTS.probeIntervalMs})`,
      positiveInteger('--probe-interval-ms'),
    )
    .option(
      '--connections-per-node <n>',
      `keep-alive connections to each node (default: ${DEFAULTS.connectionsPerNode})`,
      positiveInteger('--connections-per-node'),
    )
    .option(
      '--seed <n>',
      `seed of the random policy (default: ${DEFAULTS.seed})`,
      integer('--seed'),
    )
    .option('--name <name>', `reported in x-edgeshift-router (default: ${DEFAULTS.routerName})`)
    .option(
      '--host <host>',
      `address to bind; non-loopback needs a token (default: ${DEFAULTS.host})`,
    )
    .option('--port <port>', `port to bind (default: ${DEFAULTS.port})`, integer('--port'))
    .option(
      '--token <token>',
      'require "Authorization: Bearer <token>" (default: $EDGESHIFT_TOKEN)',
    )
    .option(
      '--shutdown-timeout-ms <ms>',
      `on SIGTERM, time to answer the requests received (default: ${DEFAULTS.shutdownTimeoutMs})`,
      integer('--shutdown-timeout-ms'),
    )
    .option(
      '--drain-delay-ms <ms>',
      `on SIGTERM, time to keep listening with readiness 503 (default: ${DEFAULTS.drainDelayMs})`,
      integer('--drain-delay-ms'),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ edgeshift router                                   the default topology: nodes on 127.0.0.1:8001-8003
  $ edgeshift router --topology lab.yaml --policy carbon
  $ edgeshift router --policy static:edge --port 8010
  $ edgeshift router --policy ./my-policy.ts           a policy of your own (docs/router.md)
  $ curl -s http://127.0.0.1:8000/estimates            what the router expects of each node now
`,
    )
    .action(async (flags: RouterFlags) => {
      const { topology, name, onInfeasible, ...rest } = flags;
      const settings: Record<string, unknown> = { ...rest };
      if (name !== undefined) settings.routerName = name;
      if (onInfeasible !== undefined) settings.onInfeasible = onInfeasible;
      settings.token ??= tokenFromEnv();
      for (const key of Object.keys(settings))
        if (settings[key] === undefined) delete settings[key];
      const config = resolveRouterConfig(settings);
      await assertPortFree(config.host, config.port);
      const file = topology ?? DEFAULT_TOPOLOGY_PATH;
      console.error(
        `edgeshift router: topology ${topology ?? 'default'}, policy ${config.policy}; probing nodes...`,
      );
      const router = await createRouter({ ...settings, topology: file });
      const address = await router.listen().catch(async (error: unknown) => {
        await router.close();
        throw bindError(error, config.host, config.port) ?? error;
      });
      installSignalHandlers(router);
      router.events.on('node', (state) => {
        console.error(
          state.healthy
            ? `edgeshift router: node ${state.node.name} is back`
            : `edgeshift router: node ${state.node.name} taken out: ${state.reason}`,
        );
      });
      for (const warning of router.topology.warnings)
        console.error(`edgeshift router: note: ${warning}`);
      for (const state of router.states) {
        const n = state.node;
        console.error(
          `  ${n.name.padEnd(12)} ${n.tier.padEnd(10)} ${n.url.padEnd(26)} ${state.healthy ? 'up' : `down (${state.reason})`}`,
        );
      }
      const up = router.states.filter((s) => s.healthy).length;
      console.error(
        `edgeshift router: ${up} of ${router.states.length} nodes up; policy ${router.policy.name}; listening at ${address.url} (Ctrl-C to stop; ${address.url}/estimates shows the estimates)`,
      );
    });
}
