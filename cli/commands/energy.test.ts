import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { EnergySnapshot } from '../../services/energy/index.ts';
import {
  type FakeNvidiaSmi,
  installFakeNvidiaSmi,
} from '../../test/energy/test-support/fake-nvidia-smi.ts';
import {
  buildPowercapTree,
  INTEL_TWO_SOCKETS,
  type PowercapTree,
} from '../../test/energy/test-support/powercap-tree.ts';
import { registerEnergyCommand } from './energy.ts';

/** Runs `edgeshift energy ...` in-process and returns what it printed. */
async function run(args: string[]): Promise<string[]> {
  const program = new Command().exitOverride();
  registerEnergyCommand(program);
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => {
    lines.push(parts.join(' '));
  };
  try {
    await program.parseAsync(['node', 'edgeshift', 'energy', ...args]);
  } finally {
    console.log = log;
  }
  return lines.join('\n').split('\n');
}

describe('edgeshift energy', () => {
  let tree: PowercapTree;
  let fake: FakeNvidiaSmi;
  before(async () => {
    tree = await buildPowercapTree(INTEL_TWO_SOCKETS);
    fake = await installFakeNvidiaSmi({ gpus: 2 });
  });
  after(async () => {
    await tree.remove();
    await fake.remove();
  });

  it('probe says what each meter cannot do here, and what to do about it', async () => {
    const root = join(tmpdir(), 'edgeshift-no-powercap');
    const lines = await run([
      'probe',
      '--powercap-root',
      root,
      '--nvidia-smi',
      join(tmpdir(), 'edgeshift-no-nvidia-smi'),
    ]);
    const text = lines.join('\n');
    assert.match(text, new RegExp(`^RAPL +absent +RAPL: ${root} absent — running in a VM\\?`, 'm'));
    assert.match(text, /^ +fix: on bare metal, load the driver/m);
    assert.match(text, /^nvidia-smi +absent +nvidia-smi: .* not found/m);
    assert.match(text, /^estimate +working +estimate \(not a measurement\): /m);
    assert.match(text, /^ +domains: cpu \[estimated\]; update period 10 ms$/m);
    assert.match(text, /^external +disabled +external: not configured/m);
  });

  it('probe --json reports working RAPL and nvidia-smi meters', async () => {
    const lines = await run([
      'probe',
      '--json',
      '--powercap-root',
      tree.root,
      '--nvidia-smi',
      fake.path,
      '--tdp',
      '65',
    ]);
    const meters = JSON.parse(lines.join('\n')) as Array<{
      meter: string;
      state: string;
      reason: string;
    }>;
    assert.deepEqual(
      meters.map((m) => [m.meter, m.state]),
      [
        ['rapl', 'working'],
        ['nvidia-smi', 'working'],
        ['estimate', 'working'],
        ['external', 'disabled'],
      ],
    );
    assert.match(meters[0]!.reason, /2 sockets/);
    assert.match(meters[2]!.reason, /TDP 65 W/);
  });

  it('watch prints live watts per meter and domain, --count lines', async () => {
    const lines = await run([
      'watch',
      '--interval-ms',
      '300',
      '--count',
      '2',
      '--powercap-root',
      tree.root,
      '--nvidia-smi',
      fake.path,
    ]);
    const comments = lines.filter((l) => l.startsWith('#'));
    assert.deepEqual(comments, [
      '# estimate: disabled — estimate: not needed, the RAPL counters work',
    ]);
    const readings = lines.filter((l) => !l.startsWith('#'));
    assert.equal(readings.length, 2, lines.join('\n'));
    for (const line of readings) {
      assert.match(
        line,
        /^\d\d:\d\d:\d\d {2}RAPL package 0\.0 W core 0\.0 W dram 0\.0 W {2}\| {2}nvidia-smi gpu0 \d+\.\d W gpu1 \d+\.\d W$/,
      );
    }
  });

  it('agent --help says what it serves, with examples', async () => {
    let help = '';
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeOut: (text) => (help += text) });
    registerEnergyCommand(program);
    await assert.rejects(program.parseAsync(['node', 'edgeshift', 'energy', 'agent', '--help']));
    assert.match(help, /--port <port> +port to bind \(default 8009\)/);
    assert.match(help, /--token <token>/);
    assert.match(help, /--powercap-root <dir>/);
    assert.match(help, /GET \/energy\[\?pid=N\]/);
    assert.match(
      help,
      /edgeshift node --tier edge --model cnn --energy-agent http:\/\/127\.0\.0\.1:8009/,
    );
  });

  it('agent serves the machine snapshot until SIGTERM, then exits 0', async () => {
    const cli = fileURLToPath(new URL('../edgeshift.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        cli,
        'energy',
        'agent',
        '--port',
        '0',
        '--powercap-root',
        tree.root,
        '--nvidia-smi',
        fake.path,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk;
          const match = /serving GET \/energy at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      assert.match(stderr, /^# RAPL: working — RAPL: 2 sockets/m);
      assert.match(stderr, /^# nvidia-smi: working/m);
      assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
      const snapshot = (await (await fetch(`${url}/energy`)).json()) as EnergySnapshot;
      assert.equal(snapshot.meteredBy.kind, 'agent');
      assert.equal(snapshot.meteredBy.pid, child.pid);
      assert.equal(snapshot.processes[0]?.name, 'energy-agent');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
