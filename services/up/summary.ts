/**
 * What `edgeshift up` prints once everything is ready: where each part listens, the link
 * in front of each tier, each tier's compute, and what the tiers share.
 */
import type { TopologyNode } from '../router/types.ts';
import type { UpDescription } from './start.ts';

type Tier = UpDescription['tiers'][number];

export function describeLink(link: Tier['link']): string {
  if (link === null) return 'no link: same machine, no network';
  const rate = (mbps: number | null) => (mbps === null ? 'unlimited' : `${mbps}`);
  const jitter = link.jitterMs > 0 ? ` ±${link.jitterMs} ms` : '';
  return `link ${link.profile ?? 'inline'}: ${link.rttMs} ms RTT${jitter}, ${rate(link.uplinkMbps)} up / ${rate(link.downlinkMbps)} down Mbit/s`;
}

export function describeCompute(c: Tier['compute']): string {
  const ep = c.runtime === 'onnxruntime-web' ? 'wasm' : c.ep;
  const batch = c.maxBatch === 1 ? 'batch 1' : `batches up to ${c.maxBatch}`;
  const cpus = c.cpus === null ? 'shared CPUs' : `CPU ${c.cpus}`;
  return `${c.runtime} ${ep}, ${c.threads} thread${c.threads === 1 ? '' : 's'}, ${batch}, ${cpus}`;
}

export function describeUp(d: UpDescription, remote: readonly TopologyNode[]): string[] {
  const rows: string[][] = [
    ['router', d.router.url, `pid ${d.router.pid}`, ''],
    ...d.tiers.map((t) => [
      t.name,
      t.url,
      t.link === null
        ? `node pid ${t.pid}`
        : `${describeLink(t.link)} -> node ${t.nodeUrl} (pid ${t.pid})`,
      `${describeCompute(t.compute)}; ${t.models.join(', ')}`,
    ]),
    ...remote.map((n) => [n.name, n.url, 'remote: not started here, used as it is', '']),
    ['energy agent', d.agent.url, `pid ${d.agent.pid}`, ''],
  ];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => {
    const head = `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`;
    return r[3] === '' ? head : `${head}\n  ${''.padEnd(widths[0]! + widths[1]! + 2)}  ${r[3]}`;
  });
  return [...lines, `  note: ${d.cpus}`];
}
