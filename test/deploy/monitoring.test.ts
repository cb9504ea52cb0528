/**
 * deploy/prometheus and deploy/grafana: `promtool check config` on the scrape configs,
 * their targets against the compose services, `promtool check metrics` on a live node's,
 * router's and energy agent's /metrics, and every metric a dashboard queries present in
 * those live outputs (its PromQL parsed by `promtool check rules`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { createOipClient } from '../../services/common/client/index.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { createEnergyAgent, type EnergyAgent } from '../../services/energy/index.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { createRouter, type Router } from '../../services/router/server.ts';
import {
  buildPowercapTree,
  INTEL_LAPTOP,
  type PowercapTree,
} from '../energy/test-support/powercap-tree.ts';
import { PROMTOOL_MISSING, promtoolCheck, promtoolPath } from '../support/promtool.ts';
import { LOOPBACK_LINK, labTopology, testSite } from '../support/topology.ts';
import { loadCompose, mounts, publishedPorts, REPO } from './compose.ts';

const promtool = promtoolPath();
const skip = promtool === undefined ? PROMTOOL_MISSING : false;
const run = promisify(execFile);

type ScrapeConfig = {
  job_name: string;
  authorization?: { credentials_file?: string };
  static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>;
  kubernetes_sd_configs?: unknown;
};

/** promtool check config on a copy whose credentials files exist (promtool opens them). */
async function checkConfig(file: string): Promise<{ output: string; note: string | null }> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-prometheus-'));
  try {
    const config = parse(await readFile(resolve(REPO, file), 'utf8')) as {
      scrape_configs: ScrapeConfig[];
    };
    const token = join(dir, 'token');
    await writeFile(token, 'test-token');
    for (const job of config.scrape_configs) {
      if (job.authorization?.credentials_file) job.authorization.credentials_file = token;
    }
    const copy = join(dir, 'prometheus.yml');
    await writeFile(copy, stringify(config));
    const attempt = async () =>
      run(promtool!, ['check', 'config', copy]).then(
        ({ stdout, stderr }) => ({ ok: true, text: `${stdout}${stderr}` }),
        (error: { stdout?: string; stderr?: string }) => ({
          ok: false,
          text: `${error.stdout ?? ''}${error.stderr ?? ''}`,
        }),
      );
    let result = await attempt();
    let note: string | null = null;
    if (!result.ok && /field kubernetes_sd_configs not found/.test(result.text)) {
      // Debian builds Prometheus without Kubernetes discovery: check the rest of the file
      // with the discovery swapped for a static target.
      note =
        'this promtool has no Kubernetes discovery (Debian build): kubernetes_sd_configs checked as static targets';
      for (const job of config.scrape_configs) {
        if (job.kubernetes_sd_configs !== undefined) {
          delete job.kubernetes_sd_configs;
          job.static_configs = [{ targets: ['pod.example:8001'] }];
        }
      }
      await writeFile(copy, stringify(config));
      result = await attempt();
    }
    assert.ok(result.ok, result.text);
    return { output: result.text, note };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('Prometheus configs', { skip }, () => {
  it('promtool check config deploy/prometheus/prometheus.yml', async () => {
    const { output } = await checkConfig('deploy/prometheus/prometheus.yml');
    assert.match(output, /SUCCESS/);
  });

  it('promtool check config deploy/prometheus/prometheus-k8s.yml', async (t) => {
    const { output, note } = await checkConfig('deploy/prometheus/prometheus-k8s.yml');
    if (note !== null) t.diagnostic(note);
    assert.match(output, /SUCCESS/);
  });
});

describe('the compose scrape config agrees with docker-compose.yml', () => {
  it('scrapes the router, every node and the agent at their service ports, with the token file the compose service writes', async () => {
    const config = parse(
      await readFile(resolve(REPO, 'deploy/prometheus/prometheus.yml'), 'utf8'),
    ) as {
      scrape_configs: ScrapeConfig[];
    };
    const { services } = await loadCompose(['docker-compose.yml'], { EDGESHIFT_TOKEN: 't' });
    const targets = new Map<string, string>();
    for (const job of config.scrape_configs) {
      assert.ok(job.authorization?.credentials_file, `${job.job_name} sends the token`);
      const script = services.prometheus!.command!.join(' ');
      assert.ok(script.includes(`> ${job.authorization.credentials_file}`), script);
      for (const group of job.static_configs ?? []) {
        for (const target of group.targets) targets.set(target, group.labels?.tier ?? '');
      }
    }
    for (const name of ['router', 'hyperscale', 'edge', 'device', 'energy']) {
      const [, , port] = publishedPorts(services[name]!)[0]!;
      assert.ok(targets.has(`${name}:${port}`), `${name}:${port} is scraped`);
      if (['hyperscale', 'edge', 'device'].includes(name))
        assert.equal(targets.get(`${name}:${port}`), name);
    }
    assert.equal(targets.size, 5);
    const mounted = mounts(services.prometheus!).map(([source, target]) => [source, target]);
    assert.ok(
      mounted.some(
        ([s, t]) =>
          s === resolve(REPO, 'deploy/prometheus/prometheus.yml') &&
          t === '/etc/prometheus/prometheus.yml',
      ),
    );
    const grafana = mounts(services.grafana!).map(([source]) => source);
    assert.ok(grafana.includes(resolve(REPO, 'deploy/grafana/provisioning')));
    assert.ok(grafana.includes(resolve(REPO, 'deploy/grafana/dashboards')));
  });
});

/** Every expression of every dashboard, with the file it is in. */
async function dashboardExpressions(): Promise<
  Array<{ file: string; title: string; expr: string }>
> {
  const dir = resolve(REPO, 'deploy/grafana/dashboards');
  const out: Array<{ file: string; title: string; expr: string }> = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(await readFile(join(dir, file), 'utf8')) as {
      panels: Array<{
        title: string;
        datasource?: { uid: string };
        targets?: Array<{ expr: string; datasource?: { uid: string } }>;
      }>;
    };
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? [])
        out.push({ file, title: panel.title, expr: target.expr });
    }
  }
  return out;
}

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const KEYWORDS = new Set([
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'and',
    'or',
    'unless',
    'bool',
    'offset',
  ]);
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names: string[] = [];
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = match[0];
    const next = text.slice(match.index! + name.length).trimStart();
    if (KEYWORDS.has(name) || next.startsWith('(')) continue;
    names.push(name);
  }
  return names;
}

describe('Grafana dashboards', () => {
  it('query the provisioned data source', async () => {
    const provisioned = parse(
      await readFile(
        resolve(REPO, 'deploy/grafana/provisioning/datasources/prometheus.yaml'),
        'utf8',
      ),
    ) as { datasources: Array<{ uid: string; url: string }> };
    const uid = provisioned.datasources[0]!.uid;
    const dir = resolve(REPO, 'deploy/grafana/dashboards');
    for (const file of await readdir(dir)) {
      const text = await readFile(join(dir, file), 'utf8');
      for (const m of text.matchAll(/"uid": "([^"]+)"/g)) {
        if (m[1] !== 'edgeshift') assert.equal(m[1], uid, `${file}: data source ${m[1]}`);
      }
    }
    assert.equal(provisioned.datasources[0]!.url, 'http://prometheus:9090');
  });

  it('cover what the issue asks: latency percentiles, throughput, queue, batches, watts, joules per inference with provenance, routing outcomes', async () => {
    const all = (await dashboardExpressions()).map((e) => e.expr).join('\n');
    for (const needle of [
      'histogram_quantile(0.99, sum by (tier, le) (rate(edgeshift_request_duration_seconds_bucket',
      'edgeshift_inference_requests_total',
      'edgeshift_queue_depth',
      'edgeshift_batch_size_bucket',
      'sum by (tier, meter, domain, provenance) (rate(edgeshift_energy_joules_total',
      'group_left (provenance)',
      'sum by (policy, tier, outcome) (rate(edgeshift_router_decisions_total',
    ]) {
      assert.ok(all.includes(needle), needle);
    }
  });

  it('promtool parses every expression', { skip }, async () => {
    const expressions = await dashboardExpressions();
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-rules-'));
    try {
      const rules = {
        groups: [
          {
            name: 'dashboards',
            rules: expressions.map((e, i) => ({
              record: `dashboard:expr_${i}`,
              expr: e.expr.replaceAll('$__rate_interval', '1m'),
            })),
          },
        ],
      };
      await writeFile(join(dir, 'rules.yml'), stringify(rules));
      const { stdout } = await run(promtool!, ['check', 'rules', join(dir, 'rules.yml')]);
      assert.match(stdout, new RegExp(`SUCCESS: ${expressions.length} rules found`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('live /metrics of a node, a router and an energy agent', () => {
  let tree: PowercapTree;
  let agent: EnergyAgent;
  let node: InferenceNode;
  let router: Router;
  const pages = new Map<string, string>();

  before(async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    agent = await createEnergyAgent({
      port: 0,
      logLevel: 'silent',
      energy: { powercapRoot: tree.root, meters: ['rapl'] },
    });
    const { url: agentUrl } = await agent.listen();
    node = await createNode({
      tier: 'edge',
      nodeName: 'edge',
      models: ['mlp', 'gpt'],
      threads: 1,
      port: 0,
      logLevel: 'silent',
      energy: { agent: agentUrl },
    });
    const { url: nodeUrl } = await node.listen();
    const topology = await labTopology(
      [
        {
          name: 'edge',
          tier: 'edge',
          url: nodeUrl,
          site: 'lab',
          link: LOOPBACK_LINK,
          models: ['mlp'],
        },
      ],
      testSite(400),
      REPO,
    );
    router = await createRouter({
      topology,
      policy: 'energy',
      port: 0,
      logLevel: 'silent',
      refreshAfterMs: 0,
      warmupRequests: 0,
    });
    const { url: routerUrl } = await router.listen();
    const client = createOipClient({ url: routerUrl });
    try {
      const inputs = makeSampleInputs(await client.modelSignature('mlp'));
      for (let i = 0; i < 8; i++) await client.infer('mlp', inputs, { binary: true });
    } finally {
      await client.close();
    }
    for (const [name, url] of [
      ['node', nodeUrl],
      ['router', routerUrl],
      ['agent', agentUrl],
    ] as const) {
      const response = await fetch(`${url}/metrics`);
      assert.equal(response.status, 200, name);
      pages.set(name, await response.text());
    }
  });

  after(async () => {
    await router?.close();
    await node?.close();
    await agent?.close();
    await tree?.remove();
  });

  for (const name of ['node', 'router', 'agent']) {
    it(`promtool check metrics on the ${name}'s /metrics`, { skip }, async () => {
      assert.equal(await promtoolCheck(promtool!, pages.get(name)!), '');
    });
  }

  const types = new Map<string, string>();
  /** A name of a live metric: as its TYPE line has it, or a histogram's _bucket/_sum/_count. */
  const exists = (name: string): boolean => {
    if (types.size === 0) {
      for (const page of pages.values()) {
        for (const m of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
      }
    }
    if (types.has(name)) return true;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const type = types.get(base);
    if (type === 'summary' && name.endsWith('_bucket')) return false;
    return base !== name && (type === 'histogram' || type === 'summary');
  };

  it('the check reads metric names out of PromQL and knows one that is not there', () => {
    assert.deepEqual(
      metricNames(
        'sum by (tier) (rate(a_total{x="y"}[1m])) / on (tier) group_left () histogram_quantile(0.9, b_bucket) * on (m) group_left (p) (0 * max by (m, p) (c_total) + 1)',
      ),
      ['a_total', 'b_bucket', 'c_total'],
    );
    assert.ok(exists('edgeshift_request_duration_seconds_bucket'));
    assert.ok(!exists('edgeshift_request_duration_seconds_total'));
    assert.ok(!exists('edgeshift_no_such_metric'));
  });

  it('every metric a dashboard queries is in them', async () => {
    const expressions = await dashboardExpressions();
    assert.ok(expressions.length > 10);
    for (const { file, title, expr } of expressions) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${file} "${title}": ${expr}`);
      for (const name of names)
        assert.ok(exists(name), `${file} "${title}": ${name} is not in the live /metrics`);
    }
  });
});
