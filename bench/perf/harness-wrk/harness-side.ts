/**
 * The harness's side of the cross-check: `edgeshift bench` itself (runBench), attached
 * (`topology.start: false`) to the targets through a topology of them written to a temp
 * folder, one tier phase per measurement with the load given; its latency percentiles
 * are read from the run's summary, as a user would read them from summary.json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createOipClient } from '../../../services/common/client/index.ts';
import { encodedRequest, runBench } from '../../harness/run.ts';
import type { LoadSpec } from '../../load/index.ts';
import { parseScenario } from '../../scenario/load.ts';
import type { HttpPayload } from '../serving/payloads.ts';
import type { LatencyPercentiles } from './wrk-latency.ts';

export interface HarnessLatency extends LatencyPercentiles {
  requestsPerSecond: number;
  errors: number;
  pattern: string;
}

const SITE = {
  carbonIntensity: { gco2ePerKwh: 480, source: 'not used: the cross-check reads latency only' },
  pue: { value: 1, source: 'not used: the cross-check reads latency only' },
  wue: { litersPerKwh: 0, source: 'not used: the cross-check reads latency only' },
  gridWater: { litersPerKwh: 0, source: 'not used: the cross-check reads latency only' },
};

/** Where requests go: a tier's address (through its link, if it has one) or a node's own. */
export interface Target {
  /** A node name: letters, digits and `. _ : @ -`. */
  name: string;
  tier: 'hyperscale' | 'edge' | 'device';
  url: string;
  /** In words, for the tables. */
  label: string;
  /**
   * Measured and shown, not judged: a node's bare loopback address, where a request
   * takes well under a millisecond and a JavaScript client's own CPU per request (which
   * wrk, in C, does not pay) is a visible share of it. No tier a study measures is there.
   */
  reference?: true;
}

export class HarnessSide {
  private constructor(
    private readonly dir: string,
    private readonly topologyFile: string,
    private readonly targets: readonly Target[],
    private readonly model: string,
    private readonly seed: number,
  ) {}

  static async create(
    targets: readonly Target[],
    model: string,
    seed: number,
  ): Promise<HarnessSide> {
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-harness-wrk-'));
    const topologyFile = join(dir, 'topology.yaml');
    const topology = {
      sites: { lab: SITE },
      nodes: targets.map((target) => ({
        name: target.name,
        tier: target.tier,
        url: target.url,
        models: [model],
        site: 'lab',
        // Only a label here: the harness sends to `url`, whatever is in front of it.
        link: { profile: 'on-device' },
        // The harness would read GET /energy at each phase's edges; latency is all this needs.
        energy: { source: 'none' },
      })),
    };
    await writeFile(topologyFile, stringify(topology));
    return new HarnessSide(dir, topologyFile, targets, model, seed);
  }

  private scenarioText(
    name: string,
    only: string,
    load: LoadSpec,
    seconds: number,
    warmupS: number,
  ): string {
    return stringify({
      name,
      seed: this.seed,
      topology: { file: this.topologyFile, start: false },
      model: this.model,
      idleS: 0,
      warmupS,
      durationS: seconds,
      minQueries: 1,
      maxDurationS: seconds,
      tiers: { only: [only], load },
      routed: null,
    });
  }

  /** The body and headers the harness sends, for wrk to send the same bytes. */
  async payload(): Promise<HttpPayload> {
    const loaded = parseScenario(
      this.scenarioText('payload', this.targets[0]!.name, { pattern: 'single-stream' }, 1, 0),
      join(this.dir, 'payload.yaml'),
    );
    const client = createOipClient({ url: this.targets[0]!.url, connections: 1 });
    try {
      const request = await encodedRequest(client, this.model, loaded);
      return {
        protocol: request.headerLength === null ? 'json' : 'binary',
        body: request.body,
        headers: {
          'content-type': request.contentType,
          ...(request.headerLength === null
            ? {}
            : { 'inference-header-content-length': String(request.headerLength) }),
        },
      };
    } finally {
      await client.close();
    }
  }

  /** One `edgeshift bench` run of one tier phase; its summary's latency percentiles. */
  async measure(
    runId: string,
    target: string,
    load: LoadSpec,
    seconds: number,
    warmupS: number,
  ): Promise<HarnessLatency> {
    const file = join(this.dir, `${runId}.yaml`);
    const text = this.scenarioText(runId, target, load, seconds, warmupS);
    await writeFile(file, text);
    const result = await runBench({
      loaded: parseScenario(text, file),
      resultsDir: join(this.dir, 'results'),
      runId,
      command: ['bench', file],
      signal: new AbortController().signal,
      log: () => {},
    });
    const phase = result.summary.phases[0];
    const latency = phase?.latencyMs;
    if (phase === undefined || latency?.p50 == null || latency.p90 == null || latency.p99 == null) {
      throw new Error(`the harness run ${runId} measured no latency`);
    }
    const errors = Object.values(phase.errorsByKind).reduce((a, b) => a + b, 0);
    return {
      count: latency.count,
      p50: latency.p50,
      p90: latency.p90,
      p99: latency.p99,
      requestsPerSecond: phase.throughputPerS,
      errors,
      pattern: phase.pattern,
    };
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
