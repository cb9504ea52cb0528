/**
 * Triton's classification extension: an output requested with
 * `"parameters": {"classification": k}` comes back as a BYTES tensor holding, for each
 * batch item, its k largest elements as "<value>:<index>", largest first.
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_classification.md
 *
 * What the spec leaves open follows Triton's code (src/classification.cc and the response
 * writer in src/http_server.cc): the result has shape [batch, k] when the model batches
 * along dimension 0 and [k] otherwise, k never more than the elements per item; values
 * are printed by std::to_string, which is printf's "%f" for floats (6 decimals: "3.300000")
 * and plain digits for integers. edgeshift has no label files, so no ":<label>" suffix.
 */
import { utf8Bytes } from './codec-utf8.ts';
import { EdgeshiftError } from './errors.ts';
import { DATATYPES, type Datatype, type Tensor } from './tensor.ts';

export const CLASSIFICATION_PARAMETER = 'classification';

/**
 * The datatypes Triton ranks (TopkClassifications): every numeric type but the 16-bit
 * floats; BOOL, BYTES, FP16 and BF16 are a 400 there and here.
 */
const UNRANKED: ReadonlySet<Datatype> = new Set(['BOOL', 'BYTES', 'FP16', 'BF16']);
export const CLASSIFICATION_DATATYPES: ReadonlySet<string> = new Set(
  DATATYPES.filter((d) => !UNRANKED.has(d)),
);

/** Triton's kMaxClassificationElements (src/classification.cc): most elements ranked per item. */
export const MAX_CLASSIFICATION_ELEMENTS = 1_000_000;

/** Below this many classes a bounded insertion beats sorting every index. */
const INSERTION_LIMIT = 32;

type Ranked = ArrayLike<number | bigint>;

/**
 * The classification result for `tensor`: `count` classes per batch item. `batched` is
 * whether the model batches along dimension 0 (Triton's max_batch_size > 0).
 *
 * @example
 * classify({ name: 'y', datatype: 'FP32', shape: [1, 4], data: new Float32Array([1.1, 3.3, 0.5, 2.4]) }, 2, true)
 * // BYTES, shape [1, 2]: "3.300000:1", "2.400000:3"
 */
export function classify(tensor: Tensor, count: number, batched: boolean): Tensor {
  if (!CLASSIFICATION_DATATYPES.has(tensor.datatype)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `output '${tensor.name}' is ${tensor.datatype}, which cannot be ranked for classification`,
    );
  }
  const { shape } = tensor;
  // As Triton: an empty batch counts as no batch dimension at all.
  const batch = batched && shape.length > 0 && shape[0]! > 0 ? shape[0]! : 0;
  let perItem = 1;
  for (let d = batch === 0 ? 0 : 1; d < shape.length; d++) perItem *= shape[d]!;
  if (perItem > MAX_CLASSIFICATION_ELEMENTS) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `output '${tensor.name}' has ${perItem} elements per item, more than the ${MAX_CLASSIFICATION_ELEMENTS} classification ranks`,
    );
  }
  const k = Math.min(count, perItem);
  const values = tensor.data as Ranked;
  const format = tensor.datatype === 'FP32' || tensor.datatype === 'FP64' ? fixed6(tensor) : String;
  const out: Uint8Array[] = [];
  for (let item = 0; item < Math.max(1, batch); item++) {
    const start = item * perItem;
    for (const i of topK(values, start, perItem, k)) {
      out.push(utf8Bytes(`${format(values[start + i]!, start + i)}:${i}`));
    }
  }
  return {
    name: tensor.name,
    datatype: 'BYTES',
    shape: batch === 0 ? [k] : [batch, k],
    data: out,
  };
}

/**
 * Whether element `a` ranks above `b`: the larger value, the lower index on a tie (Triton's
 * std::sort leaves ties in no particular order), NaN below every number.
 */
function above(values: Ranked, start: number, a: number, b: number): boolean {
  const va = values[start + a]!;
  const vb = values[start + b]!;
  if (va > vb) return true;
  if (va < vb) return false;
  if (va === vb) return a < b;
  // At least one is NaN.
  const aNaN = Number.isNaN(va);
  const bNaN = Number.isNaN(vb);
  return aNaN === bNaN ? a < b : bNaN;
}

/** Indices (within the item) of the k top-ranked of `n` elements from `start`, best first. */
function topK(values: Ranked, start: number, n: number, k: number): number[] {
  if (k === 0) return [];
  if (k > INSERTION_LIMIT) {
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => (above(values, start, a, b) ? -1 : above(values, start, b, a) ? 1 : 0));
    return order.slice(0, k);
  }
  const best: number[] = [];
  for (let i = 0; i < n; i++) {
    if (best.length === k && !above(values, start, i, best[k - 1]!)) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && above(values, start, i, best[at - 1]!)) {
      best[at] = best[at - 1]!;
      at--;
    }
    best[at] = i;
  }
  return best;
}

/**
 * printf's "%f" as glibc prints a double: exactly rounded to 6 decimals (ties to even),
 * "inf", "-inf", "nan" and "-nan" (the sign bit of a NaN, read from the tensor's bytes).
 */
function fixed6(tensor: Tensor): (value: number | bigint, index: number) => string {
  const data = tensor.data as Float32Array | Float64Array;
  const bytes = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const size = data.BYTES_PER_ELEMENT;
  return (value, index) => {
    const x = value as number;
    if (Number.isNaN(x)) {
      const signed = (bytes.getUint8(index * size + (size - 1)) & 0x80) !== 0;
      return signed ? '-nan' : 'nan';
    }
    if (x === Number.POSITIVE_INFINITY) return 'inf';
    if (x === Number.NEGATIVE_INFINITY) return '-inf';
    return formatFixed6(x);
  };
}

const DOUBLE = new DataView(new ArrayBuffer(8));

/** A finite double to 6 decimals, exactly rounded, ties to even (glibc's "%f"). */
export function formatFixed6(x: number): string {
  const negative = x < 0 || (x === 0 && 1 / x < 0);
  DOUBLE.setFloat64(0, Math.abs(x));
  const high = DOUBLE.getUint32(0);
  const low = DOUBLE.getUint32(4);
  const biased = high >>> 20;
  const fraction = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  // |x| = mantissa * 2^exponent exactly (IEEE 754 binary64 layout).
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  const scaled = mantissa * 1_000_000n;
  let q: bigint;
  if (exponent >= 0) {
    q = scaled << BigInt(exponent);
  } else {
    const denominator = 1n << BigInt(-exponent);
    q = scaled / denominator;
    const twice = 2n * (scaled - q * denominator);
    if (twice > denominator || (twice === denominator && (q & 1n) === 1n)) q += 1n;
  }
  const digits = q.toString().padStart(7, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}
