/**
 * How many tokens a decoder can attend to, read from its ONNX file without decoding the
 * weights: a walk over the protobuf wire format (field numbers from onnx/onnx.proto,
 * https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) that skips everything else.
 *
 * Sources, in order:
 * 1. `metadata_props` (ModelProto field 14): `max_position_embeddings` (the Hugging Face
 *    config name), `n_positions` / `n_ctx` (GPT-2's config names), `context_length`, or
 *    `edgeshift.gpt.max_context` (the zoo gpt).
 * 2. The rows of a learned position table: a `Gather` whose indices are the graph input
 *    `position_ids` and whose data is an initializer [positions, d_model].
 * Neither found (e.g. rotary embeddings without metadata): undefined, and the caller
 * chooses a limit.
 */
import { readFile } from 'node:fs/promises';

export const CONTEXT_METADATA_KEYS = [
  'max_position_embeddings',
  'n_positions',
  'n_ctx',
  'context_length',
  'edgeshift.gpt.max_context',
] as const;

export interface ContextLength {
  tokens: number;
  /** Where the figure came from, e.g. "metadata n_positions" or "position table 'wpe'". */
  source: string;
}

// Wire types (protobuf encoding guide): 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
interface Field {
  number: number;
  wireType: number;
  /** Varint value (wire type 0). */
  value: number;
  /** Payload bounds (wire type 2). */
  start: number;
  end: number;
}

class WireReader {
  constructor(
    private readonly bytes: Uint8Array,
    private pos: number,
    private readonly end: number,
  ) {}

  private varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const byte = this.bytes[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
  }

  *fields(): Generator<Field> {
    while (this.pos < this.end) {
      const key = this.varint();
      const wireType = key % 8;
      const number = Math.floor(key / 8);
      if (wireType === 0) {
        yield { number, wireType, value: this.varint(), start: 0, end: 0 };
        continue;
      }
      let length: number;
      if (wireType === 1) length = 8;
      else if (wireType === 5) length = 4;
      else if (wireType === 2) length = this.varint();
      else throw new RangeError(`unsupported wire type ${wireType}`);
      const start = this.pos;
      this.pos += length;
      if (this.pos > this.end) throw new RangeError('truncated field');
      yield { number, wireType, value: 0, start, end: this.pos };
    }
  }

  /** Values of a repeated varint field, packed (wire type 2) or not. */
  static varints(bytes: Uint8Array, field: Field): number[] {
    if (field.wireType === 0) return [field.value];
    const reader = new WireReader(bytes, field.start, field.end);
    const values: number[] = [];
    while (reader.pos < reader.end) values.push(reader.varint());
    return values;
  }
}

const utf8 = new TextDecoder('utf-8');

function text(bytes: Uint8Array, field: Field): string {
  return utf8.decode(bytes.subarray(field.start, field.end));
}

function fieldsOf(bytes: Uint8Array, field: Field): Generator<Field> {
  return new WireReader(bytes, field.start, field.end).fields();
}

function fromMetadata(bytes: Uint8Array, entries: Field[]): ContextLength | undefined {
  const found = new Map<string, string>();
  for (const entry of entries) {
    let key = '';
    let value = '';
    for (const f of fieldsOf(bytes, entry)) {
      if (f.number === 1 && f.wireType === 2) key = text(bytes, f);
      if (f.number === 2 && f.wireType === 2) value = text(bytes, f);
    }
    found.set(key, value);
  }
  for (const key of CONTEXT_METADATA_KEYS) {
    const tokens = Number(found.get(key));
    if (Number.isInteger(tokens) && tokens > 0) return { tokens, source: `metadata ${key}` };
  }
  return undefined;
}

function fromPositionTable(bytes: Uint8Array, graph: Field): ContextLength | undefined {
  // GraphProto: node = 1, initializer = 5. NodeProto: input = 1, op_type = 4.
  // TensorProto: dims = 1, name = 8.
  const tables = new Set<string>();
  const initializers: Field[] = [];
  for (const f of fieldsOf(bytes, graph)) {
    if (f.number === 5 && f.wireType === 2) initializers.push(f);
    if (f.number !== 1 || f.wireType !== 2) continue;
    const inputs: string[] = [];
    let opType = '';
    for (const n of fieldsOf(bytes, f)) {
      if (n.number === 1 && n.wireType === 2) inputs.push(text(bytes, n));
      if (n.number === 4 && n.wireType === 2) opType = text(bytes, n);
    }
    if (opType === 'Gather' && inputs[1] === 'position_ids' && inputs[0] !== undefined) {
      tables.add(inputs[0]);
    }
  }
  if (tables.size === 0) return undefined;
  for (const init of initializers) {
    let name = '';
    const dims: number[] = [];
    for (const t of fieldsOf(bytes, init)) {
      if (t.number === 1) dims.push(...WireReader.varints(bytes, t));
      if (t.number === 8 && t.wireType === 2) name = text(bytes, t);
    }
    if (tables.has(name) && dims.length === 2 && dims[0]! > 0) {
      return { tokens: dims[0]!, source: `position table '${name}'` };
    }
  }
  return undefined;
}

/** The context length stated by or evident in ONNX bytes; undefined when neither. */
export function contextLengthOf(bytes: Uint8Array): ContextLength | undefined {
  const metadata: Field[] = [];
  let graph: Field | undefined;
  for (const f of new WireReader(bytes, 0, bytes.length).fields()) {
    if (f.number === 14 && f.wireType === 2) metadata.push(f);
    if (f.number === 7 && f.wireType === 2) graph = f;
  }
  return (
    fromMetadata(bytes, metadata) ??
    (graph === undefined ? undefined : fromPositionTable(bytes, graph))
  );
}

export async function readContextLength(file: string): Promise<ContextLength | undefined> {
  return contextLengthOf(await readFile(file));
}
