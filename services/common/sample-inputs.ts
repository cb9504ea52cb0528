import type { ModelSignature, Tensor, TensorData, TensorSpec } from './tensor.ts';
import { elementCount } from './tensor.ts';

export interface SampleOptions {
  /** Size of the batch dimension (the first dynamic dimension of each input). */
  batch?: number;
  /** Tokens in the current step for sequence models (dims named like "sequence_length"). */
  sequenceLength?: number;
  /** Tokens already in the key/value cache (dims named like "past_sequence_length"). */
  pastLength?: number;
  /** Upper bound (exclusive) for token ids; defaults to the last dim of a `logits` output, else 1000. */
  vocabSize?: number;
  seed?: number;
}

/** mulberry32: a small, well-known 32-bit seeded PRNG (public domain, Tommy Ettinger). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Deterministic synthetic inputs for any model signature: random values of the right
 * datatype and shape. Dimension names decide sequence-model sizes: "past" dims take
 * `pastLength`, "total" dims `pastLength + sequenceLength`, other "sequence" dims
 * `sequenceLength`; token-id, mask and position inputs get valid values.
 */
export function makeSampleInputs(signature: ModelSignature, options: SampleOptions = {}): Tensor[] {
  const batch = options.batch ?? 1;
  const seq = options.sequenceLength ?? 8;
  const past = options.pastLength ?? 0;
  const random = mulberry32(options.seed ?? 42);
  const logits = signature.outputs.find((o) => o.name === 'logits');
  const lastLogitDim = logits?.shape[logits.shape.length - 1];
  const vocab =
    options.vocabSize ?? (lastLogitDim !== undefined && lastLogitDim > 0 ? lastLogitDim : 1000);

  return signature.inputs.map((spec) => {
    const shape = resolveShape(spec, { batch, seq, past });
    return {
      name: spec.name,
      datatype: spec.datatype,
      shape,
      data: fill(spec, shape, { random, vocab, past, seq }),
    };
  });
}

function resolveShape(
  spec: TensorSpec,
  sizes: { batch: number; seq: number; past: number },
): number[] {
  return spec.shape.map((dim, i) => {
    if (dim >= 0) return dim;
    const name = (spec.dimNames?.[i] ?? '').toLowerCase();
    if (name.includes('past')) return sizes.past;
    if (name.includes('total')) return sizes.past + sizes.seq;
    if (name.includes('seq') || name.includes('token')) return sizes.seq;
    if (i === 0) return sizes.batch;
    if (/key|value|past/i.test(spec.name) && i === 2) return sizes.past;
    return 1;
  });
}

function fill(
  spec: TensorSpec,
  shape: number[],
  ctx: { random: () => number; vocab: number; past: number; seq: number },
): TensorData {
  const n = elementCount(shape);
  const lname = spec.name.toLowerCase();
  const last = shape[shape.length - 1] ?? 1;
  switch (spec.datatype) {
    case 'FP32':
    case 'FP64': {
      const data = spec.datatype === 'FP32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) data[i] = ctx.random() * 2 - 1;
      return data;
    }
    case 'INT64':
    case 'INT32': {
      const values: number[] = new Array(n);
      for (let i = 0; i < n; i++) {
        if (lname.includes('mask')) values[i] = 1;
        else if (lname.includes('position')) values[i] = ctx.past + (i % last);
        else values[i] = Math.floor(ctx.random() * ctx.vocab);
      }
      return spec.datatype === 'INT64'
        ? BigInt64Array.from(values, BigInt)
        : Int32Array.from(values);
    }
    case 'BOOL':
    case 'UINT8':
    case 'INT8':
    case 'UINT16':
    case 'INT16':
    case 'UINT32': {
      const Ctor = {
        BOOL: Uint8Array,
        UINT8: Uint8Array,
        INT8: Int8Array,
        UINT16: Uint16Array,
        INT16: Int16Array,
        UINT32: Uint32Array,
      }[spec.datatype];
      const data = new Ctor(n);
      const max = spec.datatype === 'BOOL' ? 2 : 100;
      for (let i = 0; i < n; i++) data[i] = Math.floor(ctx.random() * max);
      return data;
    }
    case 'UINT64': {
      const data = new BigUint64Array(n);
      for (let i = 0; i < n; i++) data[i] = BigInt(Math.floor(ctx.random() * 100));
      return data;
    }
    case 'FP16':
    case 'BF16': {
      // 0x3c00 is 1.0 in IEEE binary16; 0x3f80 is 1.0 in bfloat16.
      return new Uint16Array(n).fill(spec.datatype === 'FP16' ? 0x3c00 : 0x3f80);
    }
    case 'BYTES':
      return Array.from({ length: n }, (_, i) => new TextEncoder().encode(`sample-${i}`));
  }
}
