/** What the report says, in order: the run, the machine, notes, tables, charts, phases. */
import type { Manifest, Summary } from '../summary/types.ts';
import { type Block, facts, heading, keyValues, listOr, paragraph, table } from './document.ts';
import { formatFraction, formatNumber, na } from './format.ts';
import { generationTable } from './generation.ts';
import { phaseBlocks } from './phase-details.ts';
import { comparisonBlocks, LATENCY_BASIS, summaryTable } from './tables.ts';

export interface ReportDocument {
  title: string;
  blocks: Block[];
}

function runBlocks(summary: Summary, manifest: Manifest): Block[] {
  const { scenario } = manifest;
  return [
    facts([
      ['scenario', scenario.file ? `${summary.scenario} (${scenario.file})` : summary.scenario],
      ['scenario sha256', scenario.sha256 ?? na('not from a file')],
      ['run', summary.runId],
      ['started', summary.startedAt],
      ['ended', summary.endedAt ?? na('the run did not finish')],
      ['outcome', summary.outcome],
      ['seed', String(manifest.seed)],
      ['command', manifest.command.join(' ')],
    ]),
  ];
}

function machineBlocks(manifest: Manifest): Block[] {
  const { machine, software, git } = manifest;
  const gpus = machine.gpus.map((g) => (g.driver ? `${g.name} (driver ${g.driver})` : g.name));
  const commit =
    git.commit === null
      ? na('not a git checkout')
      : git.dirty
        ? `${git.commit} (uncommitted changes)`
        : git.commit;
  return [
    heading(2, 'Machine'),
    facts([
      ['CPU', machine.cpuModel],
      ['cores', String(machine.cpus)],
      ['memory', `${formatNumber(machine.memoryGiB)} GiB`],
      ['GPUs', gpus.length > 0 ? gpus.join('; ') : 'none'],
      ['OS', `${machine.os}, kernel ${machine.kernel}, ${machine.arch}`],
      ['host', machine.hostname],
      [
        'busy before the run',
        machine.busyBefore === null
          ? na('not sampled')
          : `${formatFraction(machine.busyBefore)} of all cores (sampled just before the run)`,
      ],
      [
        'CPU time stolen by the hypervisor',
        machine.stealDuring === undefined || machine.stealDuring === null
          ? na('not measured')
          : `${formatFraction(machine.stealDuring)} of all CPU time during the run (steal, /proc/stat)`,
      ],
      ['Node.js', software.node],
      ['onnxruntime-node', software.onnxruntimeNode],
      ['onnxruntime-web', software.onnxruntimeWeb],
      ['edgeshift', software.edgeshift],
      ['git commit', commit],
    ]),
  ];
}

function topologyBlocks(manifest: Manifest): Block[] {
  const blocks: Block[] = [heading(2, 'Topology and meters')];
  blocks.push(
    manifest.tiers.length === 0
      ? paragraph(na('the manifest lists no tiers'))
      : table(
          ['Node', 'Tier', 'URL', 'Site', 'Compute', 'Link'],
          manifest.tiers.map((t) => [
            t.name,
            t.tier,
            t.url,
            t.site ?? na(),
            keyValues(t.compute),
            keyValues(t.link),
          ]),
        ),
  );
  blocks.push(
    manifest.meters.length === 0
      ? paragraph(na('no meter was read in this run'))
      : table(
          ['Node', 'Meter', 'State', 'Reason'],
          manifest.meters.map((m) => [m.node, m.meter, m.state, m.reason]),
        ),
  );
  return blocks;
}

function constantBlocks(manifest: Manifest): Block[] {
  return [
    heading(2, 'Constants used'),
    manifest.constants.length === 0
      ? paragraph(na('the footprint used no constants'))
      : table(
          ['Constant', 'Value', 'Unit', 'From', 'Source'],
          manifest.constants.map((c) => [c.key, String(c.value), c.unit, c.from, c.source]),
          [1],
        ),
  ];
}

export function buildDocument(summary: Summary, manifest: Manifest): ReportDocument {
  const notes = [...new Set([...summary.notes, ...manifest.notes])];
  const blocks: Block[] = [
    ...runBlocks(summary, manifest),
    ...machineBlocks(manifest),
    heading(2, 'Notes'),
    listOr(notes, 'None.'),
    heading(2, 'Per tier'),
    paragraph(LATENCY_BASIS),
    ...summaryTable(summary, 'tier'),
    heading(2, 'Per policy'),
    ...summaryTable(summary, 'policy'),
    heading(2, 'Generation per tier'),
    ...generationTable(summary),
    heading(2, 'Cloud to edge and device'),
    ...comparisonBlocks(summary),
    { kind: 'charts' },
    ...topologyBlocks(manifest),
    ...constantBlocks(manifest),
    heading(2, 'Phases'),
    ...(summary.phases.length === 0
      ? [paragraph(na('no phase was measured'))]
      : summary.phases.flatMap(phaseBlocks)),
  ];
  return { title: `edgeshift run ${summary.runId}: ${summary.scenario}`, blocks };
}
