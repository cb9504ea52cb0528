import type { Command } from 'commander';
import { Option } from 'commander';
import { PRETRAINED, ZOO_NAMES } from '../../models/registry.ts';
import { tokenFromEnv } from '../../services/common/http/bind.ts';
import { assertPortFree, bindError } from '../../services/common/http/port.ts';
import { loadConfigFile, mergeConfig } from '../../services/node/config.ts';
import { createNode, installSignalHandlers } from '../../services/node/server.ts';
import { integer, NODE_DEFAULTS, number, showConfigDefaults } from '../options.ts';

/** The energy agent's bearer token, where the node's config does not give one. */
const AGENT_TOKEN_ENV = 'EDGESHIFT_ENERGY_AGENT_TOKEN';

interface NodeFlags {
  config?: string;
  tier?: string;
  name?: string;
  model?: string[];
  runtime?: string;
  ep?: string;
  threads?: number;
  tiersOnMachine?: number;
  maxBatch?: number;
  maxQueueDelayMs?: number;
  maxQueue?: number;
  maxInFlight?: number;
  maxQueueMs?: number;
  maxRequestElements?: number;
  maxQueueElements?: number;
  cpuMemArena?: 'on' | 'off';
  sessionMode?: string;
  host?: string;
  port?: number;
  token?: string;
  bodyLimitBytes?: number;
  maxBodyBytesInFlight?: number;
  maxConnections?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  shutdownTimeoutMs?: number;
  drainDelayMs?: number;
  energyAgent?: string;
}

export function registerNodeCommand(program: Command): void {
  const command = program
    .command('node')
    .description('run an inference node: Open Inference Protocol over HTTP for one or more models')
    .option('-c, --config <file>', 'JSON config file with the same fields (flags win)')
    .addOption(
      new Option('--tier <tier>', 'tier this node plays').choices(['hyperscale', 'edge', 'device']),
    )
    .option('--name <name>', 'node name reported in x-edgeshift-node (default: the tier)')
    .option(
      '-m, --model <model>',
      `zoo name (${ZOO_NAMES.join(', ')}), pretrained name (${Object.keys(PRETRAINED).join(', ')}) or path to an .onnx file; repeatable`,
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .addOption(
      new Option('--runtime <runtime>', 'inference runtime').choices([
        'onnxruntime-node',
        'onnxruntime-web',
      ]),
    )
    .addOption(
      new Option('--ep <provider>', 'execution provider').choices(['cpu', 'webgpu', 'cuda']),
    )
    .option(
      '--threads <n>',
      "intra-op threads per model; 0: onnxruntime's default, a thread per core (default: the node's share of the CPUs less one for the event loop, at least 1)",
      integer('--threads'),
    )
    .option(
      '--tiers-on-machine <n>',
      'tiers (nodes) sharing this machine, this one included: divides the CPUs the default thread count is chosen from',
      integer('--tiers-on-machine'),
    )
    .option('--max-batch <n>', 'largest dynamic batch, in items', integer('--max-batch'))
    .option(
      '--max-queue-delay-ms <ms>',
      'longest wait to fill a batch',
      number('--max-queue-delay-ms'),
    )
    .option('--max-queue <n>', 'queued requests per model before 429', integer('--max-queue'))
    .option(
      '--max-in-flight <n>',
      'runtime calls per model handed over at once',
      integer('--max-in-flight'),
    )
    .option(
      '--max-queue-ms <ms>',
      'longest a request may wait in the queue before 503',
      number('--max-queue-ms'),
    )
    .option(
      '--max-request-elements <n>',
      'most tensor elements in one request before 413 (default: body limit / 4)',
      integer('--max-request-elements'),
    )
    .option(
      '--max-queue-elements <n>',
      'most tensor elements queued per model before 429 (default: 4 x the request limit)',
      integer('--max-queue-elements'),
    )
    .addOption(
      new Option(
        '--cpu-mem-arena <on|off>',
        `onnxruntime-node's CPU memory arena (default: ${NODE_DEFAULTS.cpuMemArena ? 'on' : 'off'})`,
      ).choices(['on', 'off']),
    )
    .addOption(
      new Option(
        '--session-mode <mode>',
        'run each session in a worker thread or on the event loop',
      ).choices(['worker', 'inline']),
    )
    .option('--host <host>', 'address to bind (non-loopback needs a token)')
    .option('--port <port>', 'port to bind', integer('--port'))
    .option(
      '--token <token>',
      'require "Authorization: Bearer <token>" (default: $EDGESHIFT_TOKEN)',
    )
    .option(
      '--body-limit-bytes <n>',
      'largest request body accepted',
      integer('--body-limit-bytes'),
    )
    .option(
      '--max-body-bytes-in-flight <n>',
      'request body bytes received at once over all requests before 429 (default: 4 bodies at the limit)',
      integer('--max-body-bytes-in-flight'),
    )
    .option(
      '--max-connections <n>',
      'open connections; at the cap the oldest one outside a request is closed',
      integer('--max-connections'),
    )
    .option(
      '--headers-timeout-ms <ms>',
      'time a client has to send its request headers (408 after)',
      integer('--headers-timeout-ms'),
    )
    .option(
      '--request-timeout-ms <ms>',
      'time a client has to send its whole request, body included (408 after)',
      integer('--request-timeout-ms'),
    )
    .option(
      '--shutdown-timeout-ms <ms>',
      'on SIGTERM, time to answer the requests received before connections are closed',
      integer('--shutdown-timeout-ms'),
    )
    .option(
      '--drain-delay-ms <ms>',
      'on SIGTERM, time to keep listening (readiness 503) so balancers notice; e.g. 5000 behind a Kubernetes Service',
      integer('--drain-delay-ms'),
    )
    .option(
      '--energy-agent <url>',
      "use the machine's energy agent (edgeshift energy agent) instead of meters of its own; its token: energy.agentToken in --config, else $EDGESHIFT_ENERGY_AGENT_TOKEN",
    )
    .addHelpText(
      'after',
      `
Examples:
  $ edgeshift node --tier edge --model cnn
  $ edgeshift node --tier hyperscale --model cnn --model gpt --max-batch 32 --port 8001
  $ edgeshift node --tier device --runtime onnxruntime-web --model mlp --port 8003
  $ edgeshift node --model ./resnet.onnx --ep webgpu
  $ EDGESHIFT_TOKEN=secret edgeshift node --host 0.0.0.0 --model cnn
  $ edgeshift node --tier edge --model cnn --energy-agent http://127.0.0.1:8009
  $ EDGESHIFT_ENERGY_AGENT_TOKEN=secret edgeshift node --model cnn --energy-agent http://agent:8009
`,
    )
    .action(async (flags: NodeFlags) => {
      const fileConfig = flags.config ? await loadConfigFile(flags.config) : {};
      const { config: _configPath, model, name, energyAgent, cpuMemArena, ...rest } = flags;
      const fromFlags: Record<string, unknown> = { ...rest };
      if (cpuMemArena) fromFlags.cpuMemArena = cpuMemArena === 'on';
      if (energyAgent) fromFlags.energy = { ...fileConfig.energy, agent: energyAgent };
      const energy = (fromFlags.energy ?? fileConfig.energy) as Record<string, unknown> | undefined;
      const agentToken = process.env[AGENT_TOKEN_ENV];
      if (energy?.agent !== undefined && energy.agentToken === undefined && agentToken) {
        fromFlags.energy = { ...energy, agentToken };
      }
      if (model) fromFlags.models = model;
      if (name) fromFlags.nodeName = name;
      fromFlags.token ??= tokenFromEnv();
      const options = mergeConfig(fileConfig, fromFlags);
      await assertPortFree(options.host, options.port);
      console.error(
        `edgeshift node: loading ${options.models.join(', ')} on ${options.runtime} (${options.ep})...`,
      );
      const node = await createNode(options);
      const address = await node.listen().catch(async (error: unknown) => {
        await node.close();
        throw bindError(error, options.host, options.port) ?? error;
      });
      installSignalHandlers(node);
      const first = node.models.values().next().value;
      if (first !== undefined) {
        console.error(
          `edgeshift node: ${first.threads.intraOpThreads} intra-op thread(s) per model, session ${node.config.sessionMode} (${first.threads.reason})`,
        );
      }
      console.error(
        `edgeshift node: ${options.tier} node serving ${options.models.join(', ')} at ${address.url} (Ctrl-C to stop)`,
      );
    });
  showConfigDefaults(command);
}
