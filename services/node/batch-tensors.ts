/**
 * Merging requests along the first dimension and splitting the outputs back.
 * Pure functions over Tensor; the batcher decides when they apply.
 */
import {
  type Datatype,
  elementCount,
  type ModelSignature,
  type Tensor,
  type TensorData,
} from '../common/tensor.ts';

type TypedData = Exclude<TensorData, Uint8Array[]>;
type TypedCtor = new (length: number) => TypedData;

/**
 * True when every input has a dynamic first dimension that means the same thing across
 * inputs (one input, or one shared symbolic name such as "batch"), and every output has
 * a dynamic first dimension too (or an unknown rank). Only such models can merge requests.
 */
export function hasBatchDimension(signature: ModelSignature): boolean {
  const { inputs, outputs } = signature;
  if (inputs.length === 0 || outputs.length === 0) return false;
  if (!inputs.every((spec) => spec.shape.length > 0 && spec.shape[0] === -1)) return false;
  // onnxruntime reports an output of unknown rank as []; splitOutputs checks those per run.
  if (!outputs.every((spec) => spec.shape.length === 0 || spec.shape[0] === -1)) return false;
  if (inputs.length === 1) return true;
  const name = inputs[0]?.dimNames?.[0] ?? null;
  return name !== null && inputs.every((spec) => (spec.dimNames?.[0] ?? null) === name);
}

/**
 * A request's batch items (its shared first dimension) and the key that requests must
 * share to merge, or null when the request cannot merge with others.
 */
export function batchKey(
  inputs: readonly Tensor[],
  outputNames: readonly string[] | undefined,
): { items: number; key: string } | null {
  const first = inputs[0];
  if (first === undefined || first.shape.length === 0) return null;
  const items = first.shape[0]!;
  if (items < 1) return null;
  const parts: string[] = [];
  for (const t of inputs) {
    if (t.shape.length === 0 || t.shape[0] !== items) return null;
    parts.push(`${t.datatype}[${t.shape.slice(1).join(',')}]`);
  }
  parts.push(outputNames === undefined ? '*' : [...outputNames].sort().join(','));
  return { items, key: parts.join('|') };
}

/** Makes the array a merged input is written into (e.g. from a session's pool). */
export type AllocateInput = (datatype: Exclude<Datatype, 'BYTES'>, length: number) => TypedData;

function concatData(
  datatype: Datatype,
  parts: readonly TensorData[],
  allocate: AllocateInput | undefined,
): TensorData {
  const first = parts[0]!;
  if (Array.isArray(first)) return (parts as Uint8Array[][]).flat();
  let total = 0;
  for (const p of parts) total += p.length;
  const out =
    allocate !== undefined && datatype !== 'BYTES'
      ? allocate(datatype, total)
      : new (first.constructor as TypedCtor)(total);
  let offset = 0;
  for (const p of parts) {
    (out as { set(source: TypedData, offset: number): void }).set(p as TypedData, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Concatenate several requests' inputs (same order, same non-batch shapes) along dim 0,
 * each into one array from `allocate` (fresh arrays without it), which every element
 * of is then written.
 */
export function concatInputs(
  requests: readonly (readonly Tensor[])[],
  allocate?: AllocateInput,
): Tensor[] {
  const first = requests[0]!;
  return first.map((spec, i) => {
    const tensors = requests.map((inputs) => inputs[i]!);
    let rows = 0;
    for (const t of tensors) rows += t.shape[0]!;
    return {
      name: spec.name,
      datatype: spec.datatype,
      shape: [rows, ...spec.shape.slice(1)],
      data: concatData(
        spec.datatype,
        tensors.map((t) => t.data),
        allocate,
      ),
    };
  });
}

/**
 * Split merged outputs back into one list per request, by each request's item count.
 * Returns null when an output's first dimension is not the merged total (not splittable).
 */
export function splitOutputs(
  outputs: readonly Tensor[],
  items: readonly number[],
): Tensor[][] | null {
  let total = 0;
  for (const n of items) total += n;
  if (!outputs.every((t) => t.shape.length > 0 && t.shape[0] === total)) return null;
  const perRequest: Tensor[][] = items.map(() => []);
  for (const t of outputs) {
    const rest = t.shape.slice(1);
    const rowSize = elementCount(rest);
    let row = 0;
    items.forEach((n, r) => {
      const start = row * rowSize;
      const end = (row + n) * rowSize;
      const data = Array.isArray(t.data) ? t.data.slice(start, end) : t.data.subarray(start, end);
      perRequest[r]!.push({ name: t.name, datatype: t.datatype, shape: [n, ...rest], data });
      row += n;
    });
  }
  return perRequest;
}
