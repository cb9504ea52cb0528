/**
 * A small ONNX graph builder so the zoo generators read like the architecture they
 * describe. Nodes are kept in insertion order, which must be topological (ONNX requires it).
 */
import {
  type AttributeProto,
  AttributeType,
  type ModelProto,
  type NodeProto,
  TensorDataType,
  type TensorProto,
  type ValueInfoProto,
} from './proto.ts';

/** ONNX IR version 8 is the one released with opset 17 (onnx/docs/Versioning.md). */
export const IR_VERSION = 8;
/** Opset 17 introduced LayerNormalization (onnx/docs/Operators.md). */
export const DEFAULT_OPSET = 17;

/** A dimension: a fixed size or a symbolic name such as "batch". */
export type Dim = number | string;

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] };

/** Typed attribute constructors: ONNX distinguishes int 1 from float 1.0. */
export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
  ints: (value: number[]): AttributeValue => ({ kind: 'ints', value }),
  floats: (value: number[]): AttributeValue => ({ kind: 'floats', value }),
};

function toAttributeProto(name: string, value: AttributeValue): AttributeProto {
  switch (value.kind) {
    case 'int':
      return { name, type: AttributeType.INT, i: value.value };
    case 'float':
      return { name, type: AttributeType.FLOAT, f: value.value };
    case 'string':
      return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.value) };
    case 'ints':
      return { name, type: AttributeType.INTS, ints: value.value };
    case 'floats':
      return { name, type: AttributeType.FLOATS, floats: value.value };
  }
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

/** Little-endian bytes whatever the host's byte order, so files are identical everywhere. */
function float32Bytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

function int64Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]!), true);
  return bytes;
}

export interface NodeOptions {
  /** Output names; default one generated name per output. */
  outputs?: string[];
  /** Number of outputs to generate names for when `outputs` is absent (default 1). */
  outputCount?: number;
  name?: string;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private readonly opCounters = new Map<string, number>();
  private readonly prefixes: string[] = [];

  constructor(private readonly graphName: string) {}

  /** Runs `body` with every generated name prefixed by `prefix/` (e.g. "layer0/attn"). */
  scope<T>(prefix: string, body: () => T): T {
    this.prefixes.push(prefix);
    try {
      return body();
    } finally {
      this.prefixes.pop();
    }
  }

  private qualify(name: string): string {
    return this.prefixes.length === 0 ? name : `${this.prefixes.join('/')}/${name}`;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`duplicate ONNX value name '${name}'`);
    this.names.add(name);
    return name;
  }

  private generatedName(opType: string): string {
    const key = this.qualify(opType);
    const n = this.opCounters.get(key) ?? 0;
    this.opCounters.set(key, n + 1);
    return this.qualify(`${opType}_${n}`);
  }

  input(name: string, elemType: number, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), elemType, dims));
    return name;
  }

  /** Declares `value` a graph output; when its name differs, an Identity renames it. */
  output(name: string, value: string, elemType: number, dims: readonly Dim[]): string {
    if (value !== name) this.node('Identity', [value], {}, { outputs: [name] });
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** A FLOAT initializer; the name is scoped. */
  floatTensor(name: string, dims: readonly number[], values: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (values.length !== expected) {
      throw new Error(`initializer '${name}': ${values.length} values for dims [${dims}]`);
    }
    const full = this.claim(this.qualify(name));
    this.initializers.push({
      name: full,
      dataType: TensorDataType.FLOAT,
      dims: [...dims],
      rawData: float32Bytes(values),
    });
    return full;
  }

  /** A FLOAT scalar constant (rank 0). */
  floatScalar(name: string, value: number): string {
    return this.floatTensor(name, [], Float32Array.of(value));
  }

  /** An INT64 initializer: rank 0 when `dims` is [], else rank 1 by default. */
  int64Tensor(
    name: string,
    values: readonly number[],
    dims: readonly number[] = [values.length],
  ): string {
    const full = this.claim(this.qualify(name));
    this.initializers.push({
      name: full,
      dataType: TensorDataType.INT64,
      dims: [...dims],
      rawData: int64Bytes(values),
    });
    return full;
  }

  /** Adds a node and returns its output names. */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    options: NodeOptions = {},
  ): string[] {
    const outputs =
      options.outputs ??
      Array.from({ length: options.outputCount ?? 1 }, () => this.generatedName(opType));
    for (const o of outputs) this.claim(o);
    const node: NodeProto = {
      input: [...inputs],
      output: outputs,
      name: options.name ?? outputs[0],
      opType,
    };
    const attributeNames = Object.keys(attributes);
    if (attributeNames.length > 0) {
      node.attribute = attributeNames.map((n) => toAttributeProto(n, attributes[n]!));
    }
    this.nodes.push(node);
    return outputs;
  }

  /** Adds a single-output node and returns the output name. */
  op(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
  ): string {
    return this.node(opType, inputs, attributes)[0]!;
  }

  build(
    options: { docString?: string; metadata?: Record<string, string>; opset?: number } = {},
  ): ModelProto {
    const model: ModelProto = {
      irVersion: IR_VERSION,
      producerName: 'edgeshift',
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      opsetImport: [{ domain: '', version: options.opset ?? DEFAULT_OPSET }],
    };
    if (options.docString !== undefined) model.docString = options.docString;
    if (options.metadata !== undefined) {
      model.metadataProps = Object.keys(options.metadata)
        .sort()
        .map((key) => ({ key, value: options.metadata![key]! }));
    }
    return model;
  }
}
