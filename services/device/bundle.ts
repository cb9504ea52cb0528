/**
 * The device page's bundle, built by esbuild in memory the first time it is asked for
 * (about a second) and kept: the page (page.ts, with the router's policy code, the codec
 * and the runtime's browser-safe core) and its Web Worker (worker.ts, with onnxruntime-
 * web). Built for the browser platform, so a `node:` import anywhere in what the page
 * uses fails the build, with esbuild's message naming the file.
 */
import { build } from 'esbuild';

export interface DeviceBundle {
  /** ES modules: the page's script and the worker's. */
  page: string;
  worker: string;
  /** The source files in them, relative to the working directory (esbuild's metafile). */
  inputs: string[];
}

const ENTRIES = {
  page: new URL('./page.ts', import.meta.url),
  worker: new URL('./worker.ts', import.meta.url),
} as const;

async function buildOne(entry: URL): Promise<{ text: string; inputs: string[] }> {
  const result = await build({
    entryPoints: [decodeURIComponent(entry.pathname)],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    // The page states its own license in the repository; keep bundles lean.
    legalComments: 'none',
    logLevel: 'silent',
    metafile: true,
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error(`esbuild produced nothing for ${entry.pathname}`);
  return { text: file.text, inputs: Object.keys(result.metafile.inputs) };
}

let cached: Promise<DeviceBundle> | undefined;

/**
 * @example
 * const { page, worker } = await deviceBundle();
 */
export function deviceBundle(): Promise<DeviceBundle> {
  cached ??= (async () => {
    const [page, worker] = await Promise.all([buildOne(ENTRIES.page), buildOne(ENTRIES.worker)]);
    return {
      page: page.text,
      worker: worker.text,
      inputs: [...new Set([...page.inputs, ...worker.inputs])].sort(),
    };
  })();
  // A failed build is not kept: the next request tries again.
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
