/**
 * The GPU energy check without a GPU: built as an esbuild bundle and run under plain
 * node, on the CPU provider, with the fake nvidia-smi replaying an H200 capture and, when
 * python3 is present, a fake pynvml whose energy counter integrates the same samples.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type FakeNvidiaSmi,
  installFakeNvidiaSmi,
} from '../test/energy/test-support/fake-nvidia-smi.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./gpu-energy-check.ts', import.meta.url));
const FAKE_PYNVML = fileURLToPath(
  new URL('../test/energy/test-support/fake-pynvml', import.meta.url),
);
const run = promisify(execFile);

async function hasPython(): Promise<boolean> {
  try {
    await run('python3', ['-c', 'import calendar, time']);
    return true;
  } catch {
    return false;
  }
}

describe('bench/gpu-energy-check.ts', () => {
  let fake: FakeNvidiaSmi;
  let dir: string;
  before(async () => {
    fake = await installFakeNvidiaSmi();
    // Inside the repository, so the bundle finds node_modules for its externals.
    await mkdir(join(ROOT, '.tmp'), { recursive: true });
    dir = await mkdtemp(join(ROOT, '.tmp', 'gpu-energy-check-'));
  });
  after(async () => {
    await fake.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs as an ESM bundle under plain node and compares with the NVML counter', async () => {
    const bundle = join(dir, 'gpu-energy-check.mjs');
    await run(join(ROOT, 'node_modules', '.bin', 'esbuild'), [
      SCRIPT,
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--external:onnxruntime-node',
      '--external:onnxruntime-web',
      `--outfile=${bundle}`,
      '--log-level=warning',
    ]);
    const python = await hasPython();
    const json = join(dir, 'result.json');
    const { stdout } = await run(
      process.execPath,
      [
        bundle,
        ...[
          '--ep',
          'cpu',
          '--model',
          'mlp',
          '--batch',
          '8',
          '--seconds',
          '2',
          '--idle-seconds',
          '1',
        ],
        ...[
          '--nvidia-smi',
          fake.path,
          '--built-dir',
          join(ROOT, 'models', 'built'),
          '--json',
          json,
        ],
        ...(python ? [] : ['--python', join(dir, 'no-python')]),
      ],
      {
        env: {
          ...process.env,
          PYTHONPATH: FAKE_PYNVML,
          FAKE_PYNVML_LOG: join(fake.dir, 'printed.csv'),
        },
      },
    );
    assert.match(
      stdout,
      /^meter: nvidia-smi: 1 GPU, sampled every 100 ms and integrated, whole-device; gpu0: power\.draw\.instant$/m,
    );
    assert.match(
      stdout,
      /^gpu-energy-check: model=mlp ep=cpu batch=8 seconds=2\.\d\d inferences=\d+ /m,
    );
    assert.match(stdout, /^gpu0 idle \d+\.\d W \(spread \d+\.\d\d W over 8 intervals\)$/m);
    assert.match(
      stdout,
      /^gpu0 nvidia-smi \(integrated\) gross \d+\.\d J active -?\d+\.\d J {2}per inference: gross \d+\.\d{3} mJ/m,
    );
    const result = JSON.parse(await readFile(json, 'utf8'));
    assert.equal(result.rows[0].domain, 'gpu0');
    assert.ok(result.rows[0].grossJoules > 0);
    if (python) {
      assert.match(stdout, /^gpu0 NVML \(counter\) +gross \d+\.\d J/m);
      assert.match(stdout, /^gpu0 ratio integrated\/NVML \d\.\d{4}: within 1%$/m);
      assert.ok(Math.abs(result.rows[0].ratio - 1) < 0.01);
    } else {
      assert.match(stdout, /NVML comparison skipped/);
    }
  });

  it('says so and exits 2 where there is no GPU meter', async () => {
    await assert.rejects(
      run(
        process.execPath,
        ['--import', 'tsx', SCRIPT, '--nvidia-smi', join(dir, 'no-nvidia-smi')],
        { cwd: ROOT },
      ),
      (error: { code?: number; stdout?: string }) => {
        assert.equal(error.code, 2);
        assert.match(
          error.stdout ?? '',
          /^gpu-energy-check: no GPU meter: nvidia-smi: .* not found$/m,
        );
        assert.match(error.stdout ?? '', /^fix: install the NVIDIA driver/m);
        return true;
      },
    );
  });
});
