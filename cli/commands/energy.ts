import type { Command } from 'commander';
import { Option } from 'commander';
import { tokenFromEnv } from '../../services/common/http/bind.ts';
import { installSignalHandlers } from '../../services/common/http/signals.ts';
import {
  createEnergyAgent,
  createEnergyMonitor,
  ENERGY_DEFAULTS,
  type EnergyMonitorOptions,
  type EnergySnapshot,
  type MeterSnapshot,
  probeMeters,
} from '../../services/energy/index.ts';

interface MeterFlags {
  powercapRoot?: string;
  procRoot?: string;
  nvidiaSmi?: string;
  nvidiaSmiPeriodMs?: number;
  tdp?: number;
  tdpCpus?: number;
  externalCommand?: string;
  externalUrl?: string;
  externalKind?: 'joules' | 'watts';
}

const LABELS: Record<string, string> = {
  rapl: 'RAPL',
  'nvidia-smi': 'nvidia-smi',
  estimate: 'estimate',
  external: 'external',
};

const positive = (flag: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new Error(`${flag} expects a positive number, got "${value}"`);
  }
  return n;
};

const port = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) {
    throw new Error(`--port expects a port number (0 to 65535), got "${value}"`);
  }
  return n;
};

function addMeterOptions(command: Command): Command {
  return command
    .option('--powercap-root <dir>', 'powercap sysfs root for RAPL (default /sys/class/powercap)')
    .option('--proc-root <dir>', '/proc root for the estimate (default /proc)')
    .option('--nvidia-smi <path>', 'nvidia-smi executable (default: nvidia-smi on PATH)')
    .option(
      '--nvidia-smi-period-ms <ms>',
      'nvidia-smi sample period (default 100)',
      positive('--nvidia-smi-period-ms'),
    )
    .option(
      '--tdp <watts>',
      'CPU package TDP for the estimate (default: the CPU table)',
      positive('--tdp'),
    )
    .option('--tdp-cpus <n>', 'logical CPUs that TDP covers (default: all)', positive('--tdp-cpus'))
    .option(
      '--external-command <cmd>',
      'command printing watts or cumulative joules (wall meter, plug)',
    )
    .option('--external-url <url>', 'URL answering a number, {"watts": n} or {"joules": n}')
    .addOption(
      new Option('--external-kind <kind>', 'what a bare number means').choices(['watts', 'joules']),
    );
}

export function monitorOptions(flags: MeterFlags): EnergyMonitorOptions {
  const options: EnergyMonitorOptions = {};
  if (flags.powercapRoot !== undefined) options.powercapRoot = flags.powercapRoot;
  if (flags.procRoot !== undefined) options.procRoot = flags.procRoot;
  options.nvidiaSmi = {
    ...(flags.nvidiaSmi !== undefined ? { path: flags.nvidiaSmi } : {}),
    ...(flags.nvidiaSmiPeriodMs !== undefined ? { periodMs: flags.nvidiaSmiPeriodMs } : {}),
  };
  options.estimate = {
    ...(flags.tdp !== undefined ? { tdpWatts: flags.tdp } : {}),
    ...(flags.tdpCpus !== undefined ? { tdpCpus: flags.tdpCpus } : {}),
  };
  if (flags.externalCommand !== undefined || flags.externalUrl !== undefined) {
    options.external = {
      ...(flags.externalCommand !== undefined ? { command: flags.externalCommand } : {}),
      ...(flags.externalUrl !== undefined ? { url: flags.externalUrl } : {}),
      ...(flags.externalKind !== undefined ? { kind: flags.externalKind } : {}),
    };
  }
  return options;
}

/** The probe as text: per meter its state, what it found, and what to do. */
export function formatProbe(meters: readonly MeterSnapshot[]): string {
  const lines: string[] = [];
  for (const m of meters) {
    lines.push(`${(LABELS[m.meter] ?? m.meter).padEnd(11)} ${m.state.padEnd(11)} ${m.reason}`);
    const indent = ' '.repeat(24);
    if (m.state === 'working') {
      const domains = m.domains
        .map((d) => `${d.domain}${d.within ? ` (within ${d.within})` : ''} [${d.provenance}]`)
        .join(', ');
      lines.push(`${indent}domains: ${domains}; update period ${m.updatePeriodMs ?? '?'} ms`);
      for (const a of m.assumptions.filter((x) => x.source.startsWith('assumed'))) {
        lines.push(`${indent}${a.name}: ${a.value}${a.unit ? ` ${a.unit}` : ''} (${a.source})`);
      }
    }
    if (m.fix !== null) lines.push(`${indent}fix: ${m.fix}`);
  }
  return lines.join('\n');
}

/** Watts per working meter and domain between two snapshots. */
export function wattsBetween(a: EnergySnapshot, b: EnergySnapshot): string {
  const parts: string[] = [];
  for (const mb of b.meters) {
    if (mb.state !== 'working') continue;
    const ma = a.meters.find((m) => m.meter === mb.meter);
    const dt = ma?.asOf && mb.asOf ? (Date.parse(mb.asOf) - Date.parse(ma.asOf)) / 1000 : 0;
    const domains = mb.domains.map((d) => {
      const before = ma?.domains.find((x) => x.domain === d.domain)?.joules ?? null;
      const watts =
        d.joules === null || before === null || !(dt > 0) ? null : (d.joules - before) / dt;
      return `${d.domain} ${watts === null ? '-' : watts.toFixed(1)} W`;
    });
    const tag = mb.meter === 'estimate' ? ' (estimated)' : '';
    parts.push(`${LABELS[mb.meter] ?? mb.meter} ${domains.join(' ')}${tag}`);
  }
  return parts.length === 0 ? 'no working meter' : parts.join('  |  ');
}

export function registerEnergyCommand(program: Command): void {
  const energy = program
    .command('energy')
    .description('energy meters on this machine: what they can do, and live watts');

  addMeterOptions(
    energy
      .command('probe')
      .description(
        'print what each meter (RAPL, nvidia-smi, estimate, external) can do here, and why not',
      )
      .option('--json', 'print JSON instead of text'),
  ).action(async (flags: MeterFlags & { json?: boolean }) => {
    const meters = await probeMeters(monitorOptions(flags));
    console.log(flags.json ? JSON.stringify(meters, null, 2) : formatProbe(meters));
  });

  addMeterOptions(
    energy
      .command('watch')
      .description('print live watts per meter and domain until Ctrl-C')
      .option('--interval-ms <ms>', 'time between lines (default 1000)', positive('--interval-ms'))
      .option('--count <n>', 'stop after this many lines', positive('--count')),
  ).action(async (flags: MeterFlags & { intervalMs?: number; count?: number }) => {
    const intervalMs = flags.intervalMs ?? 1000;
    const monitor = createEnergyMonitor({
      ...monitorOptions(flags),
      pollMs: Math.min(1000, intervalMs),
    });
    const started = await monitor.start();
    for (const { meter, status } of started) {
      if (status.state !== 'working')
        console.log(`# ${LABELS[meter] ?? meter}: ${status.state} — ${status.reason}`);
    }
    let stopped = false;
    const onSignal = (): void => {
      stopped = true;
    };
    process.once('SIGINT', onSignal);
    try {
      let previous = monitor.snapshot();
      for (let line = 0; !stopped && (flags.count === undefined || line < flags.count); line++) {
        const until = Date.now() + intervalMs;
        while (!stopped && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(100, until - Date.now())));
        }
        if (stopped) break;
        const current = monitor.snapshot();
        console.log(`${current.timestamp.slice(11, 19)}  ${wattsBetween(previous, current)}`);
        previous = current;
      }
    } finally {
      process.removeListener('SIGINT', onSignal);
      await monitor.stop();
    }
  });

  addMeterOptions(
    energy
      .command('agent')
      .description(
        "run the machine's energy agent: one set of meters shared by every node on this machine, each node's share of the CPU package attributed by its CPU time",
      )
      .option(
        '--host <host>',
        `address to bind (default ${ENERGY_DEFAULTS.agent.host}; non-loopback needs a token)`,
      )
      .option('--port <port>', `port to bind (default ${ENERGY_DEFAULTS.agent.port})`, port)
      .option(
        '--token <token>',
        'require "Authorization: Bearer <token>" (default: $EDGESHIFT_TOKEN)',
      )
      .addHelpText(
        'after',
        `
Endpoints: GET /energy[?pid=N], GET|POST /energy/processes, DELETE /energy/processes/<pid>,
GET /metrics, GET /v2/health/live|ready (docs/energy.md, "The machine's energy agent").

Examples:
  $ edgeshift energy agent
  $ edgeshift energy agent --port 8009 --nvidia-smi-period-ms 100
  $ edgeshift node --tier edge --model cnn --energy-agent http://127.0.0.1:8009
  $ curl -s 'http://127.0.0.1:8009/energy?pid=4242'
  $ EDGESHIFT_TOKEN=secret edgeshift energy agent --host 0.0.0.0
`,
      ),
  ).action(async (flags: MeterFlags & { host?: string; port?: number; token?: string }) => {
    const token = flags.token ?? tokenFromEnv();
    const agent = await createEnergyAgent({
      ...(flags.host !== undefined ? { host: flags.host } : {}),
      ...(flags.port !== undefined ? { port: flags.port } : {}),
      ...(token !== undefined ? { token } : {}),
      energy: monitorOptions(flags),
    });
    const address = await agent.listen();
    installSignalHandlers(agent);
    for (const m of agent.monitor.snapshot({ pid: null }).meters) {
      console.error(`# ${LABELS[m.meter] ?? m.meter}: ${m.state} — ${m.reason}`);
    }
    console.error(`edgeshift energy agent: serving GET /energy at ${address.url} (Ctrl-C to stop)`);
  });
}
