/**
 * UTF-8 and byte helpers for the codec that run in Node and in a browser alike: the
 * codec's modules import no `node:` module, so the device page (services/device) bundles
 * the same code the servers run.
 *
 * In Node they use node:buffer (found through `process.getBuiltinModule`, not an import,
 * so a bundler for the browser never sees it): `isUtf8` and `Buffer` are what the codec
 * used before, on its hot path, and Node callers still get Buffers. In a browser they
 * fall back to TextDecoder / TextEncoder and plain Uint8Arrays.
 */

interface NodeBufferModule {
  isUtf8(input: ArrayBufferView): boolean;
  Buffer: typeof Buffer;
}

const nodeBuffer = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:buffer') as NodeBufferModule | undefined;

const NodeBuffer = nodeBuffer?.Buffer;
const STRICT_DECODER = new TextDecoder('utf-8', { fatal: true });
const DECODER = new TextDecoder('utf-8');
const ENCODER = new TextEncoder();

/** True when `bytes` are well-formed UTF-8 (RFC 3629). */
export function isUtf8(bytes: Uint8Array): boolean {
  if (nodeBuffer !== undefined) return nodeBuffer.isUtf8(bytes);
  try {
    STRICT_DECODER.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The text of UTF-8 bytes (ill-formed sequences become U+FFFD). */
export function utf8Text(bytes: Uint8Array): string {
  if (NodeBuffer !== undefined)
    return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  return DECODER.decode(bytes);
}

/**
 * The UTF-8 bytes of `text`, in a buffer of their own: a Buffer in Node, a Uint8Array in
 * a browser. Typed as Buffer because Node callers use it as one; browser code reads only
 * what a Uint8Array has.
 */
export function utf8Bytes(text: string): Buffer<ArrayBuffer> {
  if (NodeBuffer !== undefined) return NodeBuffer.from(text, 'utf8') as Buffer<ArrayBuffer>;
  return ENCODER.encode(text) as Buffer<ArrayBuffer>;
}

/** The parts one after another in a new buffer (a Buffer in Node, as utf8Bytes). */
export function concatBytes(parts: readonly Uint8Array[]): Buffer<ArrayBuffer> {
  if (NodeBuffer !== undefined) return NodeBuffer.concat(parts) as Buffer<ArrayBuffer>;
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out as Buffer<ArrayBuffer>;
}
