/**
 * The `edgeshift` command end to end, as a user runs it: real child processes, real
 * sockets on 127.0.0.1, outputs compared with onnxruntime-node run in this process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveModel } from '../models/registry.ts';
import { decodeInferResponse, encodeInferRequest } from '../services/common/codec.ts';
import { makeSampleInputs } from '../services/common/sample-inputs.ts';
import { OnnxruntimeNodeRuntime } from '../services/node/runtimes/onnxruntime-node.ts';

const CLI = fileURLToPath(new URL('./edgeshift.js', import.meta.url));
const children: ChildProcess[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    async exit(): Promise<number | null> {
      if (child.exitCode !== null) return child.exitCode;
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

async function waitFor(
  read: () => string,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got: ${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('edgeshift CLI', () => {
  it('--help lists every subcommand with examples', async () => {
    const run = start(['--help']);
    assert.equal(await run.exit(), 0);
    const { stdout } = run.output();
    for (const command of ['start', 'node', 'models', 'infer']) {
      assert.match(stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `${command} missing from --help`);
    }
    assert.match(stdout, /Examples:/);
  });

  it('`node --model cnn` serves inferences equal to in-process onnxruntime, and exits 0 on SIGTERM', async () => {
    const run = start(['node', '--model', 'cnn', '--port', '0', '--tier', 'hyperscale']);
    const [, url] = await waitFor(
      () => run.output().stderr,
      /serving cnn at (http:\/\/127\.0\.0\.1:\d+)/,
    );
    const entry = await resolveModel('cnn');
    const local = await new OnnxruntimeNodeRuntime().load(entry.file, { worker: false });
    const inputs = makeSampleInputs(local.signature, { batch: 2, seed: 99 });
    const expected = await local.run(inputs);
    await local.close();

    for (const binary of [false, true]) {
      const request = encodeInferRequest(inputs, { binary, outputs: [{ name: 'logits', binary }] });
      const headers: Record<string, string> = { 'content-type': request.contentType };
      if (request.headerLength !== undefined) {
        headers['inference-header-content-length'] = String(request.headerLength);
      }
      const response = await fetch(`${url}/v2/models/cnn/infer`, {
        method: 'POST',
        headers,
        body: request.body,
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-edgeshift-tier'), 'hyperscale');
      const hl = response.headers.get('inference-header-content-length');
      const decoded = decodeInferResponse(
        Buffer.from(await response.arrayBuffer()),
        hl === null ? undefined : Number(hl),
      );
      const got = decoded.outputs[0]!;
      assert.deepEqual(got.shape, expected[0]!.shape);
      const want = expected[0]!.data as Float32Array;
      const have = got.data as Float32Array;
      for (let i = 0; i < want.length; i++) {
        assert.ok(
          Math.abs(want[i]! - have[i]!) <= 1e-5,
          `logit ${i}: ${have[i]} vs ${want[i]} (binary=${binary})`,
        );
      }
    }

    const client = start(['infer', 'cnn', '--url', url!, '--binary']);
    assert.equal(await client.exit(), 0, client.output().stderr);
    assert.match(client.output().stdout, /model cnn on node hyperscale \(tier hyperscale\)/);
    assert.match(client.output().stdout, /logits FP32\[1,10\]/);

    run.child.kill('SIGTERM');
    assert.equal(await run.exit(), 0);
  });

  it('refuses a non-loopback host without a token, with a message and no stack trace', async () => {
    const env = { EDGESHIFT_TOKEN: '' };
    const run = start(['node', '--model', 'mlp', '--host', '0.0.0.0', '--port', '0'], env);
    assert.equal(await run.exit(), 1);
    const { stderr } = run.output();
    assert.match(stderr, /ES_CONFIG/);
    assert.match(stderr, /token/i);
    assert.doesNotMatch(stderr, /\n\s+at /);
  });

  it('names the known models when asked for an unknown one', async () => {
    const run = start(['node', '--model', 'no-such-model', '--port', '0']);
    assert.equal(await run.exit(), 1);
    const { stderr } = run.output();
    assert.match(stderr, /ES_MODEL_NOT_FOUND/);
    for (const name of ['mlp', 'cnn', 'gpt', 'ppocr-cls']) assert.match(stderr, new RegExp(name));
  });

  it('rejects a malformed flag value before loading anything', async () => {
    const run = start(['node', '--max-batch', 'lots']);
    assert.notEqual(await run.exit(), 0);
    assert.match(run.output().stderr, /--max-batch expects a non-negative integer/);
  });

  it('`models list --json` reports parameters and FLOPs computed from each graph', async () => {
    const run = start(['models', 'list', '--json']);
    assert.equal(await run.exit(), 0);
    const infos = JSON.parse(run.output().stdout) as {
      name: string;
      parameters: number;
      flops: number | null;
    }[];
    const byName = new Map(infos.map((i) => [i.name, i]));
    for (const name of ['mlp', 'cnn', 'gpt', 'ppocr-cls']) {
      const info = byName.get(name);
      assert.ok(info, `${name} missing`);
      assert.ok(info.parameters > 0);
      assert.ok(info.flops !== null && info.flops > 0, `${name} has no FLOPs`);
    }
    // mlp 784-256-256-10: weights and biases, counted by hand.
    assert.equal(byName.get('mlp')?.parameters, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  });

  it('`start --no-serve` self-checks the zoo against in-process onnxruntime and exits 0', async () => {
    const run = start(['start', '--port', '0', '--no-serve']);
    assert.equal(await run.exit(), 0, run.output().stderr);
    const { stdout } = run.output();
    for (const name of ['mlp', 'cnn', 'gpt']) {
      assert.match(
        stdout,
        new RegExp(`^${name}\\s.*\\smatch \\(max`, 'm'),
        `${name} self-check line`,
      );
    }
  });
});
