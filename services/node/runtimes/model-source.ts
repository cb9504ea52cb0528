/**
 * What a runtime's `load()` takes: a file path, the bytes of an .onnx file, or a URL
 * (`file:` anywhere; `http:`/`https:` fetched). Browser-safe: the device page names its
 * model the same way the Node runtimes do.
 */

export type ModelSource = string | Uint8Array | URL;

/** For messages: the path, the URL, or "<n> bytes of ONNX". */
export function describeModelSource(source: ModelSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  return `${source.length} bytes of ONNX`;
}
