/**
 * The `edgeshift` command end to end, as a user runs it: real child processes, real
 * sockets on 127.0.0.1, outputs compared with onnxruntime-node run in this process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveModel } from '../models/registry.ts';
import { createOipClient } from '../services/common/client/index.ts';
import { makeSampleInputs } from '../services/common/sample-inputs.ts';
import { resolveNodeConfig } from '../services/node/config.ts';
import { OnnxruntimeNodeRuntime } from '../services/node/runtimes/onnxruntime-node.ts';
import { createNode, type InferenceNode } from '../services/node/server.ts';
import { closedPortUrl } from '../test/support/misbehaving-servers.ts';

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
    for (const command of ['start', 'bench', 'check', 'node', 'models', 'infer']) {
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

    const oip = createOipClient({ url: url! });
    for (const binary of [false, true]) {
      const result = await oip.infer('cnn', inputs, {
        binary,
        outputs: [{ name: 'logits', binary }],
      });
      assert.equal(result.tier, 'hyperscale');
      const got = result.outputs[0]!;
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
    await oip.close();

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

  it('README, `node --help` and `models list` name the same models', async () => {
    const list = start(['models', 'list', '--json']);
    assert.equal(await list.exit(), 0);
    const listed = (JSON.parse(list.output().stdout) as { name: string }[]).map((m) => m.name);
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('## Models'), readme.indexOf('## Install notes'));
    const inReadme = [...table.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]);
    assert.deepEqual(inReadme, listed, 'README models table');
    const help = start(['node', '--help']);
    assert.equal(await help.exit(), 0);
    const modelHelp = /--model <model>([\s\S]*?)repeatable/.exec(help.output().stdout)?.[1] ?? '';
    const inHelp = [...modelHelp.matchAll(/[a-z][a-z0-9-]+(?=[,)])/g)].map((m) => m[0]);
    assert.deepEqual(inHelp, listed, '`node --help` --model');
  });

  it("`node --help` shows the defaults of the node's option schema", async () => {
    const defaults = resolveNodeConfig({});
    const run = start(['node', '--help']);
    assert.equal(await run.exit(), 0);
    // commander wraps long lines: compare with the whitespace collapsed.
    const help = run.output().stdout.replace(/\s+/g, ' ');
    const expect: [string, unknown][] = [
      ['--tier <tier>', defaults.tier],
      ['--runtime <runtime>', defaults.runtime],
      ['--ep <provider>', defaults.ep],
      ['--threads <n>', "the node's share of the CPUs less one for the event loop, at least 1"],
      ['--tiers-on-machine <n>', defaults.tiersOnMachine],
      ['--max-batch <n>', defaults.maxBatch],
      ['--max-queue-delay-ms <ms>', defaults.maxQueueDelayMs],
      ['--max-queue <n>', defaults.maxQueue],
      ['--max-in-flight <n>', defaults.maxInFlight],
      ['--max-queue-ms <ms>', defaults.maxQueueMs],
      ['--max-request-elements <n>', 'body limit / 4'],
      ['--max-queue-elements <n>', '4 x the request limit'],
      ['--cpu-mem-arena <on|off>', defaults.cpuMemArena ? 'on' : 'off'],
      ['--session-mode <mode>', defaults.sessionMode],
      ['--host <host>', defaults.host],
      ['--port <port>', defaults.port],
      ['--body-limit-bytes <n>', defaults.bodyLimitBytes],
      ['--model <model>', defaults.models.join(', ')],
    ];
    for (const [flag, value] of expect) {
      const at = help.indexOf(flag);
      assert.ok(at >= 0, `${flag} missing`);
      const next = help.indexOf(' --', at + flag.length);
      const text = help.slice(at, next < 0 ? undefined : next);
      assert.ok(text.includes(`(default: ${value})`), `${flag}: ${text}`);
    }
  });

  it('`check --no-serve` self-checks the zoo against in-process onnxruntime and exits 0', async () => {
    const run = start(['check', '--port', '0', '--no-serve']);
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

/** A port something else holds on 127.0.0.1, for the duration of `work`. */
async function withBusyPort(work: (port: number) => Promise<void>): Promise<void> {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  try {
    await work((holder.address() as net.AddressInfo).port);
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
}

function assertUsageError(stderr: string, code: string): void {
  assert.match(stderr, new RegExp(`\\[${code}\\]`));
  assert.doesNotMatch(stderr, /unexpected/);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('edgeshift CLI errors a newcomer can act on', () => {
  it('stops quietly when its reader closes the pipe (edgeshift --help | head)', async () => {
    const run = start(['--help']);
    run.child.stdout!.destroy(); // closed before the CLI writes: its first write fails with EPIPE
    assert.equal(await run.exit(), 0);
    assert.doesNotMatch(run.output().stderr, /EPIPE|at \w/);
  });

  let guarded: InferenceNode;
  let guardedUrl: string;
  const noToken = { EDGESHIFT_TOKEN: '' };

  before(async () => {
    guarded = await createNode({
      models: ['mlp'],
      port: 0,
      token: 'cli-token',
      logLevel: 'silent',
    });
    ({ url: guardedUrl } = await guarded.listen());
  });
  after(async () => {
    await guarded?.close();
  });

  for (const command of [
    ['node', '--model', 'mlp'],
    ['check', '--no-serve'],
  ]) {
    it(`\`${command[0]}\` on a port in use says so before loading any model, and suggests --port`, async () => {
      await withBusyPort(async (port) => {
        const run = start([...command, '--port', String(port)]);
        assert.equal(await run.exit(), 1);
        const { stdout, stderr } = run.output();
        assertUsageError(stderr, 'ES_CONFIG');
        assert.match(stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
        assert.match(stderr, /--port <n>/);
        assert.doesNotMatch(`${stdout}${stderr}`, /loading/, 'it stopped before loading');
      });
    });
  }

  it('`infer` against nothing names the URL and how to start a node', async () => {
    const url = await closedPortUrl();
    const run = start(['infer', 'cnn', '--url', url], noToken);
    assert.equal(await run.exit(), 1);
    const { stderr } = run.output();
    assertUsageError(stderr, 'ES_UNREACHABLE');
    assert.ok(stderr.includes(url), stderr);
    assert.match(stderr, /edgeshift check/);
    assert.match(stderr, /edgeshift node/);
  });

  it('`infer` without the token a node wants mentions --token and EDGESHIFT_TOKEN', async () => {
    const run = start(['infer', 'mlp', '--url', guardedUrl], noToken);
    assert.equal(await run.exit(), 1);
    const { stderr } = run.output();
    assertUsageError(stderr, 'ES_UNAUTHORIZED');
    assert.match(stderr, /--token/);
    assert.match(stderr, /EDGESHIFT_TOKEN/);
    const withToken = start(['infer', 'mlp', '--url', guardedUrl, '--token', 'cli-token'], noToken);
    assert.equal(await withToken.exit(), 0, withToken.output().stderr);
    assert.match(withToken.output().stdout, /probabilities FP32\[1,10\]/);
  });

  it('`infer` of a model the node does not serve lists the ones it serves', async () => {
    const run = start(['infer', 'resnet', '--url', guardedUrl, '--token', 'cli-token'], noToken);
    assert.equal(await run.exit(), 1);
    const { stderr } = run.output();
    assertUsageError(stderr, 'ES_MODEL_NOT_FOUND');
    assert.match(stderr, /unknown model 'resnet'; this node serves mlp/);
  });

  it('a malformed flag value is a usage error, not an unexpected one', async () => {
    for (const args of [
      ['infer', 'cnn', '--batch', 'two'],
      ['check', '--port', 'eighty'],
    ]) {
      const run = start(args);
      assert.notEqual(await run.exit(), 0);
      const { stderr } = run.output();
      assert.match(stderr, /expects a (non-negative|positive) integer/);
      assert.doesNotMatch(stderr, /unexpected/);
    }
  });
});
