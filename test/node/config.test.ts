import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { isLoopbackHost, tokenFromEnv } from '../../services/common/http/bind.ts';
import { loadConfigFile, mergeConfig, resolveNodeConfig } from '../../services/node/config.ts';

function configError(error: unknown): boolean {
  return error instanceof EdgeshiftError && error.code === 'ES_CONFIG';
}

describe('node config', () => {
  it('fills every default and freezes the result', () => {
    const config = resolveNodeConfig();
    assert.equal(config.tier, 'edge');
    assert.equal(config.nodeName, 'edge');
    assert.deepEqual(config.models, ['cnn']);
    assert.equal(config.runtime, 'onnxruntime-node');
    assert.equal(config.ep, 'cpu');
    assert.equal(config.threads, undefined, 'chosen from the machine');
    assert.equal(config.tiersOnMachine, 1);
    assert.equal(config.maxBatch, 8);
    assert.equal(config.maxQueue, 256);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8001);
    assert.equal(config.token, undefined);
    assert.equal(config.bodyLimitBytes, 64 * 1024 * 1024);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.models));
  });

  it('rejects unknown keys and out-of-range values', () => {
    assert.throws(() => resolveNodeConfig({ colour: 'blue' } as never), configError);
    assert.throws(() => resolveNodeConfig({ maxBatch: 0 }), configError);
    assert.throws(() => resolveNodeConfig({ threads: 1.5 }), configError);
    assert.throws(() => resolveNodeConfig({ port: 70_000 }), configError);
    assert.throws(() => resolveNodeConfig({ tier: 'cloud' as never }), configError);
    assert.throws(() => resolveNodeConfig({ nodeName: 'has space' }), configError);
    assert.throws(() => resolveNodeConfig({ models: [] }), configError);
  });

  it('refuses a non-loopback host without a token, and says how to pass one', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'edge.example.org']) {
      assert.throws(
        () => resolveNodeConfig({ host }),
        (e: unknown) =>
          configError(e) &&
          /EDGESHIFT_TOKEN/.test((e as Error).message) &&
          /--token/.test((e as Error).message),
      );
      assert.equal(resolveNodeConfig({ host, token: 's3cret-token' }).host, host);
    }
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
      assert.equal(isLoopbackHost(host), true, host);
      assert.equal(resolveNodeConfig({ host }).host, host);
    }
  });

  it('merges a config file with flags, flags winning, unset flags ignored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-config-'));
    try {
      const path = join(dir, 'node.json');
      await writeFile(
        path,
        JSON.stringify({ tier: 'hyperscale', maxBatch: 32, models: ['mlp', 'local/model.onnx'] }),
      );
      const file = await loadConfigFile(path);
      assert.deepEqual(file.models, ['mlp', join(dir, 'local/model.onnx')]);
      const config = mergeConfig(file, { maxBatch: 4, port: undefined, nodeName: 'hs-1' });
      assert.equal(config.tier, 'hyperscale');
      assert.equal(config.maxBatch, 4);
      assert.equal(config.port, 8001);
      assert.equal(config.nodeName, 'hs-1');
      assert.ok(Object.isFrozen(config));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a config file with unknown keys, bad JSON or that cannot be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-config-'));
    try {
      const unknown = join(dir, 'unknown.json');
      await writeFile(unknown, JSON.stringify({ tier: 'edge', maxbatch: 4 }));
      await assert.rejects(loadConfigFile(unknown), configError);
      const broken = join(dir, 'broken.json');
      await writeFile(broken, '{"tier": ');
      await assert.rejects(loadConfigFile(broken), configError);
      await assert.rejects(loadConfigFile(join(dir, 'missing.json')), configError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fills the overload limits: queue deadline, element caps derived from the body limit, arena', () => {
    const config = resolveNodeConfig();
    assert.equal(config.maxQueueMs, 5_000);
    assert.equal(config.maxRequestElements, (64 * 1024 * 1024) / 4);
    assert.equal(config.maxQueueElements, 4 * config.maxRequestElements);
    assert.equal(config.cpuMemArena, true);
    const small = resolveNodeConfig({ bodyLimitBytes: 1024 * 1024 });
    assert.equal(small.maxRequestElements, 262_144, 'follows bodyLimitBytes');
    assert.equal(small.maxQueueElements, 4 * 262_144);
    const given = resolveNodeConfig({
      maxQueueMs: 250,
      maxRequestElements: 1_000,
      maxQueueElements: 1_000,
      cpuMemArena: false,
    });
    assert.equal(given.maxQueueMs, 250);
    assert.equal(given.maxRequestElements, 1_000);
    assert.equal(given.maxQueueElements, 1_000);
    assert.equal(given.cpuMemArena, false);
    assert.deepEqual(
      resolveNodeConfig({ ...given, models: [...given.models] }),
      given,
      'a resolved config resolves to itself',
    );
  });

  it('refuses overload limits that are out of range or contradict each other, saying which', () => {
    for (const bad of [
      { maxQueueMs: 0 },
      { maxQueueMs: -5 },
      { maxQueueMs: 3_600_001 },
      { maxQueueMs: '100' },
      { maxRequestElements: 0 },
      { maxRequestElements: 1.5 },
      { maxQueueElements: 0 },
      { cpuMemArena: 'off' },
    ]) {
      assert.throws(() => resolveNodeConfig(bad as never), configError, JSON.stringify(bad));
    }
    assert.throws(
      () => resolveNodeConfig({ maxRequestElements: 100, maxQueueElements: 99 }),
      (e: unknown) =>
        configError(e) &&
        /maxQueueElements \(99\).*maxRequestElements \(100\)/.test((e as Error).message),
    );
    assert.throws(
      () => resolveNodeConfig({ maxQueueDelayMs: 100, maxQueueMs: 100 }),
      (e: unknown) =>
        configError(e) && /maxQueueDelayMs \(100\).*maxQueueMs \(100\)/.test((e as Error).message),
    );
    assert.equal(resolveNodeConfig({ maxQueueDelayMs: 99, maxQueueMs: 100 }).maxQueueMs, 100);
  });

  it('reads the token from EDGESHIFT_TOKEN, ignoring an empty value', () => {
    assert.equal(tokenFromEnv({ EDGESHIFT_TOKEN: 'abc' }), 'abc');
    assert.equal(tokenFromEnv({ EDGESHIFT_TOKEN: '' }), undefined);
    assert.equal(tokenFromEnv({}), undefined);
  });
});
