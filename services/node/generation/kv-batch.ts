/**
 * The key/value caches of the sequences that decode together, kept as the batched
 * tensors the model takes: one [rows, heads, length, head_dim] array per past input.
 *
 * Rows are left-padded to a common length. Row r's first `pad` columns are padding,
 * masked out (attention_mask 0); its real tokens fill the rest. By the decoder's mask
 * rule (key j is visible to query i iff j <= past + i and attention_mask[j] == 1) a
 * padded row attends to exactly its own tokens, and position_ids carry its real
 * positions, so it computes what it would alone.
 *
 * While the rows stay the same, a step's `present` outputs simply become the next
 * step's pasts: no copy here. Only when rows join or leave are the arrays rebuilt, and
 * columns that are padding in every remaining row are dropped then.
 */
import type { Tensor } from '../../common/tensor.ts';
import type { DecoderLayout } from './decoder-layout.ts';

/** Where one row's cache currently lives. */
export interface RowSource {
  caches: readonly Float32Array[];
  /** Columns in `caches`. */
  length: number;
  rows: number;
  row: number;
  /** Leading padding columns of this row in `caches`. */
  pad: number;
}

/**
 * Copy rows, each from its own source, into fresh arrays of `length` columns, each row
 * right-aligned (new leading columns are zero padding). Returns the arrays and each
 * row's padding in them.
 */
export function gatherRows(
  layout: DecoderLayout,
  sources: readonly RowSource[],
  length: number,
): { caches: Float32Array[]; pads: number[] } {
  const { heads, headDim } = layout;
  const rows = sources.length;
  const caches = layout.pastNames.map(() => new Float32Array(rows * heads * length * headDim));
  const pads = sources.map((s) => length - (s.length - s.pad));
  for (let k = 0; k < caches.length; k++) {
    const out = caches[k]!;
    sources.forEach((s, r) => {
      const src = s.caches[k]!;
      const real = s.length - s.pad;
      for (let h = 0; h < heads; h++) {
        const from = ((s.row * heads + h) * s.length + s.pad) * headDim;
        const to = ((r * heads + h) * length + (length - real)) * headDim;
        out.set(src.subarray(from, from + real * headDim), to);
      }
    });
  }
  return { caches, pads };
}

export class KvBatch<Row> {
  rows: Row[] = [];
  /** Leading padding columns per row. */
  pads: number[] = [];
  /** Columns (the padded past length). */
  length = 0;
  caches: Float32Array[] = [];

  constructor(private readonly layout: DecoderLayout) {}

  get size(): number {
    return this.rows.length;
  }

  /** Bytes the caches hold. */
  get bytes(): number {
    let n = 0;
    for (const c of this.caches) n += c.byteLength;
    return n;
  }

  private source(r: number): RowSource {
    return {
      caches: this.caches,
      length: this.length,
      rows: this.rows.length,
      row: r,
      pad: this.pads[r]!,
    };
  }

  /** Add rows whose caches are in `source` (e.g. a prefill's present outputs). */
  join(rows: readonly Row[], sources: readonly RowSource[]): void {
    const all = [...this.rows.map((_, r) => this.source(r)), ...sources];
    const length = Math.max(...all.map((s) => s.length - s.pad));
    const gathered = gatherRows(this.layout, all, length);
    this.rows = [...this.rows, ...rows];
    this.pads = gathered.pads;
    this.caches = gathered.caches;
    this.length = length;
  }

  /** Keep only the rows `keep` accepts; drops columns that become padding everywhere. */
  retain(keep: (row: Row) => boolean): Row[] {
    const kept: number[] = [];
    const dropped: Row[] = [];
    this.rows.forEach((row, r) => {
      if (keep(row)) kept.push(r);
      else dropped.push(row);
    });
    if (dropped.length === 0) return dropped;
    if (kept.length === 0) {
      this.rows = [];
      this.pads = [];
      this.caches = [];
      this.length = 0;
      return dropped;
    }
    const sources = kept.map((r) => this.source(r));
    const length = Math.max(...sources.map((s) => s.length - s.pad));
    const gathered = gatherRows(this.layout, sources, length);
    this.rows = kept.map((r) => this.rows[r]!);
    this.pads = gathered.pads;
    this.caches = gathered.caches;
    this.length = length;
    return dropped;
  }

  /** The inputs of one decoding step: each row's `next` token after its cache. */
  stepInputs(next: readonly number[]): Tensor[] {
    const rows = this.rows.length;
    const total = this.length + 1;
    const ids = indexArray(this.layout, rows);
    const mask = indexArray(this.layout, rows * total);
    const positions = indexArray(this.layout, rows);
    for (let r = 0; r < rows; r++) {
      const pad = this.pads[r]!;
      setIndex(ids, r, next[r]!);
      fillIndex(mask, 1, r * total + pad, (r + 1) * total);
      setIndex(positions, r, this.length - pad);
    }
    const type = this.layout.indexType;
    const inputs: Tensor[] = [
      { name: 'input_ids', datatype: type, shape: [rows, 1], data: ids },
      { name: 'attention_mask', datatype: type, shape: [rows, total], data: mask },
    ];
    if (this.layout.hasPositionIds) {
      inputs.push({ name: 'position_ids', datatype: type, shape: [rows, 1], data: positions });
    }
    return [...inputs, ...pastTensors(this.layout, this.caches, rows, this.length)];
  }

  /** A step's present outputs become the caches (one column longer). */
  advance(presents: readonly Tensor[]): void {
    this.caches = presents.map((t) => t.data as Float32Array);
    this.length += 1;
  }
}

export type IndexArray = BigInt64Array | Int32Array;

export function indexArray(layout: DecoderLayout, length: number): IndexArray {
  return layout.indexType === 'INT64' ? new BigInt64Array(length) : new Int32Array(length);
}

export function setIndex(array: IndexArray, i: number, value: number): void {
  if (array instanceof BigInt64Array) array[i] = BigInt(value);
  else array[i] = value;
}

export function fillIndex(array: IndexArray, value: number, start: number, end: number): void {
  if (array instanceof BigInt64Array) array.fill(BigInt(value), start, end);
  else array.fill(value, start, end);
}

export function pastTensors(
  layout: DecoderLayout,
  caches: readonly Float32Array[],
  rows: number,
  length: number,
): Tensor[] {
  return layout.pastNames.map((name, k) => ({
    name,
    datatype: 'FP32' as const,
    shape: [rows, layout.heads, length, layout.headDim],
    data: caches[k] ?? new Float32Array(0),
  }));
}

/**
 * Inputs of a prefill pass over several prompts at once: left-padded to the longest,
 * padding masked out, real tokens at positions 0, 1, ...; empty pasts.
 */
export function prefillInputs(layout: DecoderLayout, prompts: readonly number[][]): Tensor[] {
  const rows = prompts.length;
  const length = Math.max(...prompts.map((p) => p.length));
  const ids = indexArray(layout, rows * length);
  const mask = indexArray(layout, rows * length);
  const positions = indexArray(layout, rows * length);
  prompts.forEach((prompt, r) => {
    const pad = length - prompt.length;
    prompt.forEach((id, i) => {
      const at = r * length + pad + i;
      setIndex(ids, at, id);
      setIndex(mask, at, 1);
      setIndex(positions, at, i);
    });
  });
  const type = layout.indexType;
  const inputs: Tensor[] = [
    { name: 'input_ids', datatype: type, shape: [rows, length], data: ids },
    { name: 'attention_mask', datatype: type, shape: [rows, length], data: mask },
  ];
  if (layout.hasPositionIds) {
    inputs.push({ name: 'position_ids', datatype: type, shape: [rows, length], data: positions });
  }
  return [...inputs, ...pastTensors(layout, [], rows, 0)];
}
