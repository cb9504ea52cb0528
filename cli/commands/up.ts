import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { deviceJoinLines } from '../../services/device/join.ts';
import { TIERS, type Tier } from '../../services/node/config.ts';
import { POLICY_NAMES } from '../../services/router/policies/index.ts';
import {
  DEFAULT_TOPOLOGY_PATH,
  loadTopology,
  readTopologyFile,
} from '../../services/router/topology/index.ts';
import { tasksetAvailable } from '../../services/up/cpus.ts';
import { checkLink } from '../../services/up/link-check.ts';
import { planUp, UP_DEFAULTS } from '../../services/up/plan.ts';
import { type RunningTopology, startTopology } from '../../services/up/start.ts';
import { describeUp } from '../../services/up/summary.ts';
import { integer } from '../options.ts';

interface UpFlags {
  topology?: string;
  policy?: string;
  routerPort?: number;
  agentPort?: number;
  hyperscaleEp?: 'cpu' | 'webgpu' | 'cuda';
  pin?: boolean;
  cpus?: string;
  json?: boolean;
  anyPorts?: boolean;
  device?: 'node' | 'browser';
  deviceModel?: string;
  routerHost?: string;
  token?: string;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(
      'start three tiers on this machine: hyperscale, edge and device nodes, emulated network links in front of the remote tiers, the energy agent and the router; runs until Ctrl-C',
    )
    .option(
      '-t, --topology <file>',
      'topology file (docs/topology.md): its local nodes are started, remote ones used as they are (default: the repository default topology)',
    )
    .option('-p, --policy <policy>', `router placement policy: ${POLICY_NAMES.join(', ')}`)
    .option(
      '--router-port <port>',
      `router port (default: ${UP_DEFAULTS.routerPort})`,
      integer('--router-port'),
    )
    .option(
      '--agent-port <port>',
      `energy agent port (default: ${UP_DEFAULTS.agentPort})`,
      integer('--agent-port'),
    )
    .addOption(
      new Option(
        '--hyperscale-ep <provider>',
        'execution provider of the hyperscale node (default: cpu; docs/gpu.md)',
      ).choices(['cpu', 'webgpu', 'cuda']),
    )
    .option(
      '--pin',
      'pin each tier to CPUs of its own with taskset (Linux): hyperscale all, edge the upper half, device CPU 0',
    )
    .option(
      '--cpus <tier=list;...>',
      'pin by hand, e.g. "hyperscale=0-5;edge=6-7;device=7" (taskset CPU lists, tiers separated by ";")',
    )
    .option(
      '--any-ports',
      'every part on a free port instead of the defaults (a second topology beside a running one; the table and --json say where)',
    )
    .addOption(
      new Option(
        '--device <kind>',
        'browser: also run the device page in headless Chromium against the router, a device tier with a real browser runtime (docs/device.md)',
      ).choices(['node', 'browser']),
    )
    .option(
      '--device-model <model>',
      "the browser device's model (default: the device node's first)",
    )
    .option(
      '--router-host <address>',
      'where the router listens (default 127.0.0.1); another address (0.0.0.0 for a phone on the same network) needs --token',
    )
    .option(
      '--token <token>',
      'bearer token the router requires beyond the health probes (default: EDGESHIFT_TOKEN); the device page takes it from its URL fragment',
    )
    .option(
      '--json',
      'once ready, print what runs where (tiers, compute limits, links) as one JSON line on stdout',
    )
    .addHelpText(
      'after',
      `
Default: router 8000; hyperscale 8001, edge 8002, device 8003 (the links listen there; the
nodes behind them on free ports); energy agent 8009. docs/up.md has the details.

Examples:
  $ edgeshift up
  $ edgeshift up --pin --policy carbon
  $ edgeshift up --topology lab.yaml --router-port 8100
  $ edgeshift up --device browser
  $ edgeshift up --router-host 0.0.0.0 --token "$(openssl rand -hex 16)"   (then open the printed /device URL on a phone)
  $ curl -s -H 'x-latency-budget-ms: 15' ... http://127.0.0.1:8000/v2/models/cnn/infer
`,
    )
    .action(async (flags: UpFlags) => {
      const file = resolve(flags.topology ?? DEFAULT_TOPOLOGY_PATH);
      const topology = await loadTopology(file);
      const { value } = await readTopologyFile(file);
      const plan = planUp(topology, {
        cpuCount: availableParallelism(),
        canPin: tasksetAvailable(),
        ...(flags.pin === undefined ? {} : { pin: flags.pin }),
        ...(flags.cpus === undefined ? {} : { cpus: parseCpus(flags.cpus) }),
        ...(flags.anyPorts === undefined ? {} : { ephemeralPorts: flags.anyPorts }),
        ...(flags.routerPort === undefined ? {} : { routerPort: flags.routerPort }),
        ...(flags.agentPort === undefined ? {} : { agentPort: flags.agentPort }),
        ...(flags.hyperscaleEp === undefined ? {} : { hyperscaleEp: flags.hyperscaleEp }),
      });
      for (const warning of topology.warnings) console.error(`edgeshift up: note: ${warning}`);
      console.error(
        `edgeshift up: starting ${plan.nodes.map((n) => n.name).join(', ')}, their links, the energy agent and the router (models load first: seconds to a minute)...`,
      );
      const began = performance.now();
      const token = flags.token ?? process.env['EDGESHIFT_TOKEN'];
      const routerSettings = {
        ...(flags.policy === undefined ? {} : { policy: flags.policy }),
        ...(token === undefined ? {} : { token }),
      };
      const running = await startTopology(plan, {
        file,
        baseDir: dirname(file),
        topology: value,
        router: routerSettings,
        onProgress: (line) => console.error(`  ${line}`),
        ...(flags.device === undefined ? {} : { device: flags.device }),
        ...(flags.deviceModel === undefined ? {} : { deviceModel: flags.deviceModel }),
        ...(flags.routerHost === undefined ? {} : { routerHost: flags.routerHost }),
      });
      const seconds = ((performance.now() - began) / 1000).toFixed(1);
      const description = running.describe();
      for (const line of describeUp(description, plan.remote)) console.error(line);
      const linkChecks = [];
      for (const tier of description.tiers) {
        if (tier.link === null) continue;
        const check = await checkLink(tier.name, tier.url, tier.nodeUrl, tier.link.rttMs);
        linkChecks.push(check);
        console.error(
          `  ${tier.name} link measured: ${check.measuredRttMs.toFixed(2)} ms round trip (configured ${check.configuredRttMs} ms; median of ${check.samples} health checks through it less straight to the node)`,
        );
      }
      for (const line of deviceLines(running.routerUrl, token, running.browserDevice))
        console.error(line);
      console.error(`edgeshift up: ready in ${seconds} s; Ctrl-C stops everything`);
      if (flags.json) process.stdout.write(`${JSON.stringify({ ...description, linkChecks })}\n`);
      await runUntilStopped(running);
    });
}

/** Where a phone (or any browser) joins as a device, and the headless one if it runs. */
function deviceLines(
  routerUrl: string,
  token: string | undefined,
  browser: RunningTopology['browserDevice'],
): string[] {
  const lines = deviceJoinLines(routerUrl, token);
  if (browser !== null) lines.push(`  browser device: headless Chromium at ${browser.url}`);
  return lines;
}

/** Until SIGINT / SIGTERM (stop, exit 0) or a part dying (stop the rest, exit 1). */
async function runUntilStopped(running: RunningTopology): Promise<void> {
  const outcome = await new Promise<{ signal?: string; failure?: string }>((resolveOutcome) => {
    process.once('SIGINT', () => resolveOutcome({ signal: 'SIGINT' }));
    process.once('SIGTERM', () => resolveOutcome({ signal: 'SIGTERM' }));
    running.events.once('exit', (part, why) => resolveOutcome({ failure: `${part.name} ${why}` }));
  });
  const began = performance.now();
  console.error(
    outcome.failure === undefined
      ? `edgeshift up: ${outcome.signal}: stopping everything...`
      : `edgeshift up: ${outcome.failure}\nedgeshift up: stopping the rest...`,
  );
  await running.stop();
  console.error(`edgeshift up: stopped in ${((performance.now() - began) / 1000).toFixed(1)} s`);
  process.exitCode = outcome.failure === undefined ? 0 : 1;
  process.exit();
}

function parseCpus(text: string): Partial<Record<Tier, string>> {
  const out: Partial<Record<Tier, string>> = {};
  for (const item of text.split(';').filter((s) => s.trim() !== '')) {
    const [tier, list] = item.split('=').map((s) => s.trim());
    if (!TIERS.includes(tier as Tier) || list === undefined || list === '') {
      throw new EdgeshiftError(
        'ES_CONFIG',
        `--cpus ${JSON.stringify(item)}: give <tier>=<cpus> with a tier of ${TIERS.join(', ')}, e.g. edge=1`,
      );
    }
    out[tier as Tier] = list;
  }
  return out;
}
