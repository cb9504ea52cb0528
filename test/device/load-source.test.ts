/**
 * Every runtime's load() takes a path, the bytes of an .onnx file or a URL (file:,
 * http:, https:), and runs the same model the same way from each; a source it cannot
 * read is ES_MODEL_LOAD naming the source.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { resolveModel } from '../../models/registry.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { createRuntime, RUNTIME_NAMES } from '../../services/node/runtimes/index.ts';
import type { ModelSource } from '../../services/node/runtimes/runtime.ts';

describe('runtime load() sources', () => {
  let file: string;
  let bytes: Uint8Array;
  let server: Server;
  let base: string;

  before(async () => {
    file = (await resolveModel('mlp')).file;
    bytes = new Uint8Array(await readFile(file));
    server = createServer((request, response) => {
      if (request.url === '/mlp.onnx') response.end(bytes);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  for (const name of RUNTIME_NAMES) {
    it(`${name}: a path, bytes, a file: URL and an http: URL give the same outputs`, async () => {
      const runtime = createRuntime(name);
      const sources: ModelSource[] = [file, bytes, pathToFileURL(file), new URL('/mlp.onnx', base)];
      let first: number[] | undefined;
      for (const source of sources) {
        const session = await runtime.load(source, { threads: 1 });
        try {
          const [output] = await session.run(makeSampleInputs(session.signature, { seed: 5 }));
          const values = Array.from(output!.data as Float32Array);
          first ??= values;
          assert.deepEqual(values, first, `${String(source).slice(0, 40)}`);
        } finally {
          await session.close();
        }
      }
    });

    it(`${name}: an unreadable source is ES_MODEL_LOAD naming it`, async () => {
      const runtime = createRuntime(name);
      await assert.rejects(runtime.load(new URL('/missing.onnx', base)), (error: Error) => {
        assert.equal((error as { code?: string }).code, 'ES_MODEL_LOAD');
        assert.match(error.message, /missing\.onnx: HTTP 404/);
        return true;
      });
      await assert.rejects(runtime.load(new URL('ftp://example.invalid/m.onnx')), {
        code: 'ES_MODEL_LOAD',
      });
      await assert.rejects(runtime.load(new Uint8Array(0)), { code: 'ES_MODEL_LOAD' });
      await assert.rejects(runtime.load(new Uint8Array([1, 2, 3])), { code: 'ES_MODEL_LOAD' });
    });
  }
});
