/**
 * Mutations of a request's tensor contents for the fuzz test: JSON data of the wrong
 * length, nesting, element type or range, and binary sections of the wrong size or with
 * impossible bytes. Each says which 4xx the node owes.
 */
import fc from 'fast-check';
import { BYTES_LENGTH_PREFIX } from '../../services/common/codec.ts';
import type { Datatype, Tensor } from '../../services/common/tensor.ts';
import {
  BAD_400,
  fallbackBreak,
  forceBinary,
  forceJson,
  jsonCapable,
  type Mutation,
  nest,
  pickWire,
  type RawToken,
  rawPlaceholder,
  setFlat,
  type ValidRequest,
  type Wire,
  wireIndexOf,
} from './fuzz-wire.ts';

const INTEGER_OUT_OF_RANGE: Partial<Record<Datatype, unknown[]>> = {
  UINT8: [256, -1, 1000, 1.5],
  INT8: [128, -129, 0.5],
  UINT16: [65536, -1],
  INT16: [32768, -32769],
  UINT32: [2 ** 32, -1, 0.25],
  INT32: [2 ** 31, -(2 ** 31) - 1, 1.5, 1e20],
  // 1e19 and 2^64 are written with all their digits: exact integers beyond the range.
  INT64: [
    1e19,
    -1e19,
    2 ** 64,
    1e300,
    0.5,
    '9223372036854775808',
    '-9223372036854775809',
    '1e3',
    '0x10',
    ' 1',
    '1.0',
  ],
  UINT64: [-1, 2 ** 64, '18446744073709551616', '-1', '-5', 1.5],
  FP32: [1e39, -1e39, 3.5e38, rawPlaceholder('1e400')],
  FP64: [rawPlaceholder('1e400'), rawPlaceholder('-1e400')],
};

function wrongJsonElement(datatype: Datatype): unknown[] {
  switch (datatype) {
    case 'BOOL':
      return [0, 1, 'true', null, {}, 'false'];
    case 'BYTES':
      return [1, true, null, {}, 0.5];
    case 'INT64':
    case 'UINT64':
      return ['abc', '', true, null, {}, 'NaN'];
    default:
      return ['abc', '', '1', true, false, null, {}];
  }
}

export function dataMutations(
  req: ValidRequest,
  pick: fc.Arbitrary<number>,
): fc.Arbitrary<Mutation>[] {
  const out: fc.Arbitrary<Mutation>[] = [];
  const nonEmpty = (t: Tensor) => t.data.length > 0;
  // Length mismatch (flat data).
  out.push(
    fc
      .tuple(
        pick,
        fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
      )
      .map(([which, delta]) => {
        let target = -1;
        return {
          label: 'data: length not the shape product',
          expect: BAD_400,
          plan: (r: ValidRequest) => {
            target = forceJson(r, which, (t) => t.shape.length > 0) ?? -1;
          },
          apply: (w: Wire, r: ValidRequest) => {
            if (target < 0) return fallbackBreak(w);
            const obj = w.inputs[wireIndexOf(r, target)]!.obj;
            const data = obj['data'] as unknown[];
            if (delta > 0 || data.length === 0)
              data.push(...new Array(Math.abs(delta)).fill(data[0] ?? 0));
            else data.splice(0, Math.min(data.length, -delta));
          },
        };
      }),
  );
  // Nested one level too deep.
  out.push(
    pick.map((which) => {
      let target = -1;
      return {
        label: 'data: nested deeper than the shape',
        expect: BAD_400,
        plan: (r: ValidRequest) => {
          target = forceJson(r, which, nonEmpty) ?? -1;
        },
        apply: (w: Wire, r: ValidRequest) => {
          if (target < 0) return fallbackBreak(w);
          const t = r.tensors[target]!;
          const obj = w.inputs[wireIndexOf(r, target)]!.obj;
          const leaves = (obj['data'] as unknown[]).map((v) => [v]);
          obj['data'] = t.shape.length >= 2 ? nest(leaves, t.shape) : leaves;
        },
      };
    }),
  );
  // Ragged nesting.
  out.push(
    fc.tuple(pick, fc.boolean()).map(([which, grow]) => {
      let target = -1;
      return {
        label: 'data: ragged nesting',
        expect: BAD_400,
        plan: (r: ValidRequest) => {
          target = forceJson(r, which, (t) => t.shape.length >= 2 && nonEmpty(t)) ?? -1;
        },
        apply: (w: Wire, r: ValidRequest) => {
          if (target < 0) return fallbackBreak(w);
          const t = r.tensors[target]!;
          const obj = w.inputs[wireIndexOf(r, target)]!.obj;
          const nested = nest(obj['data'] as unknown[], t.shape);
          let row: unknown[] = nested;
          while (Array.isArray(row[row.length - 1])) row = row[row.length - 1] as unknown[];
          if (grow) row.push(row[0]);
          else row.pop();
          obj['data'] = nested;
        },
      };
    }),
  );
  // Elements of the wrong JSON type, NaN spelled as strings, out-of-range numbers.
  const withElements = req.tensors.filter((t) => jsonCapable(t) && nonEmpty(t));
  if (withElements.length > 0) {
    out.push(
      fc.tuple(pick, pick, pick).map(([which, at, choice]) => {
        let target = -1;
        let value: unknown;
        return {
          label: 'data: element of the wrong JSON type',
          expect: BAD_400,
          plan: (r: ValidRequest) => {
            target = forceJson(r, which, nonEmpty) ?? -1;
            const options = wrongJsonElement(r.tensors[target]!.datatype);
            value = options[choice % options.length];
          },
          apply: (w: Wire, r: ValidRequest) => setFlat(w, wireIndexOf(r, target), at, value),
        };
      }),
    );
  }
  const isFloat = (t: Tensor) => t.datatype === 'FP32' || t.datatype === 'FP64';
  const floats = req.tensors.filter((t) => isFloat(t) && jsonCapable(t) && nonEmpty(t));
  if (floats.length > 0) {
    out.push(
      fc
        .tuple(
          pick,
          pick,
          fc.constantFrom('NaN', 'nan', 'Infinity', '-Infinity', 'inf', '-inf', '+inf', 'INF'),
        )
        .map(([which, at, spelling]) => {
          let target = -1;
          return {
            label: 'data: NaN or Infinity spelled as a string',
            expect: BAD_400,
            plan: (r: ValidRequest) => {
              target = forceJson(r, which, (t) => isFloat(t) && nonEmpty(t))!;
            },
            apply: (w: Wire, r: ValidRequest) => setFlat(w, wireIndexOf(r, target), at, spelling),
          };
        }),
    );
  }
  const anyNonEmpty = req.tensors.some((t) => jsonCapable(t) && nonEmpty(t));
  if (anyNonEmpty) {
    out.push(
      fc
        .tuple(pick, pick, fc.constantFrom<RawToken>('NaN', 'Infinity', '-Infinity'))
        .map(([which, at, token]) => {
          let target = -1;
          return {
            label: 'data: bare NaN or Infinity token (invalid JSON)',
            expect: BAD_400,
            plan: (r: ValidRequest) => {
              target = forceJson(r, which, nonEmpty)!;
            },
            apply: (w: Wire, r: ValidRequest) =>
              setFlat(w, wireIndexOf(r, target), at, rawPlaceholder(token)),
          };
        }),
    );
  }
  const hasRange = (t: Tensor) => INTEGER_OUT_OF_RANGE[t.datatype] !== undefined;
  const ranged = req.tensors.filter((t) => hasRange(t) && jsonCapable(t) && nonEmpty(t));
  if (ranged.length > 0) {
    out.push(
      fc.tuple(pick, pick, pick).map(([which, at, choice]) => {
        let target = -1;
        let value: unknown;
        return {
          label: 'data: number out of range for the datatype',
          expect: BAD_400,
          plan: (r: ValidRequest) => {
            target = forceJson(r, which, (t) => hasRange(t) && nonEmpty(t))!;
            const options = INTEGER_OUT_OF_RANGE[r.tensors[target]!.datatype]!;
            value = options[choice % options.length];
          },
          apply: (w: Wire, r: ValidRequest) => setFlat(w, wireIndexOf(r, target), at, value),
        };
      }),
    );
  }
  if (req.tensors.some((t) => t.datatype === 'BYTES' && t.data.length > 0)) {
    out.push(
      fc
        .tuple(
          pick,
          fc.constantFrom(
            Uint8Array.from([0x61, 0x00, 0x62]),
            Uint8Array.from([0x00]),
            Uint8Array.from([0xff]),
            Uint8Array.from([0xc3, 0x28]),
            Uint8Array.from([0xed, 0xa0, 0x80]),
          ),
        )
        .map(([at, bytes]) => ({
          label: 'data: BYTES element with a NUL byte or not UTF-8',
          expect: BAD_400,
          plan: (r: ValidRequest) => {
            const t = r.tensors.find((x) => x.datatype === 'BYTES' && x.data.length > 0)!;
            const data = t.data as Uint8Array[];
            data[at % data.length] = bytes;
          },
          apply: () => {},
        })),
    );
  }
  const halves = req.tensors.filter((t) => t.datatype === 'FP16' || t.datatype === 'BF16');
  if (halves.length > 0) {
    out.push(
      pick.map((which) => ({
        label: 'data: FP16 as JSON',
        expect: BAD_400,
        apply: (w: Wire) => {
          const half = halves[which % halves.length]!;
          const input = w.inputs.find((i) => i.obj['name'] === half.name)!;
          delete input.binary;
          input.obj['parameters'] = {};
          input.obj['data'] = new Array(half.data.length).fill(1);
        },
      })),
    );
  }
  out.push(
    fc.tuple(pick, fc.boolean()).map(([at, both]) => ({
      label: both
        ? "data: both 'data' and binary_data_size"
        : "data: neither 'data' nor binary_data_size",
      expect: BAD_400,
      apply: (w: Wire) => {
        const input = w.inputs[at % w.inputs.length]!;
        if (both) {
          if (input.binary === undefined) input.obj['parameters'] = { binary_data_size: 0 };
          else input.obj['data'] = [];
        } else {
          delete input.obj['data'];
          delete input.binary;
          input.obj['parameters'] = {};
        }
      },
    })),
  );
  out.push(
    fc.tuple(pick, fc.constantFrom<unknown>('x', 7, true, {})).map(([at, v]) => ({
      label: "data: 'data' of the wrong kind",
      expect: BAD_400,
      apply: (w: Wire, r: ValidRequest) => {
        // A bare value is only a scalar's data; pick a tensor with a non-empty shape.
        const i = pickWire(r, at, (t) => t.shape.length > 0 && jsonCapable(t));
        if (i === undefined) return fallbackBreak(w);
        const input = w.inputs[i]!;
        delete input.binary;
        input.obj['parameters'] = {};
        input.obj['data'] = v;
      },
    })),
  );
  return out;
}

export function binaryMutations(
  req: ValidRequest,
  pick: fc.Arbitrary<number>,
): fc.Arbitrary<Mutation>[] {
  const out: fc.Arbitrary<Mutation>[] = [];
  out.push(
    fc
      .tuple(
        pick,
        fc.integer({ min: -16, max: 16 }).filter((d) => d !== 0),
      )
      .map(([which, delta]) => ({
        label: 'binary: binary_data_size not what the shape needs',
        expect: BAD_400,
        plan: (r: ValidRequest) => forceBinary(r, which),
        apply: (w: Wire) => {
          const input = w.inputs.find((i) => i.binary !== undefined)!;
          const size = input.binary!.length;
          const params = input.obj['parameters'] as Record<string, unknown>;
          params['binary_data_size'] = size + delta >= 0 ? size + delta : size + Math.abs(delta);
        },
      })),
  );
  out.push(
    fc
      .tuple(
        pick,
        fc.constantFrom<unknown>(
          -1,
          1.5,
          '16',
          true,
          false,
          {},
          [],
          2 ** 53,
          rawPlaceholder('1e400'),
        ),
      )
      .map(([which, v]) => ({
        label: 'binary: binary_data_size not a non-negative integer',
        expect: BAD_400,
        plan: (r: ValidRequest) => forceBinary(r, which),
        apply: (w: Wire) => {
          const input = w.inputs.find((i) => i.binary !== undefined)!;
          (input.obj['parameters'] as Record<string, unknown>)['binary_data_size'] = v;
        },
      })),
  );
  if (req.tensors.some((t) => t.datatype === 'BOOL' && t.data.length > 0)) {
    out.push(
      fc.tuple(pick, fc.integer({ min: 2, max: 255 })).map(([at, byte]) => ({
        label: 'binary: BOOL byte other than 0 or 1',
        expect: BAD_400,
        plan: (r: ValidRequest) => {
          const i = r.tensors.findIndex((t) => t.datatype === 'BOOL' && t.data.length > 0);
          r.plans[i] = { ...r.plans[i]!, binary: true };
        },
        apply: (w: Wire, r: ValidRequest) => {
          const t = r.tensors.find((x) => x.datatype === 'BOOL' && x.data.length > 0)!;
          const input = w.inputs.find((i) => i.obj['name'] === t.name)!;
          const bytes = Buffer.from(input.binary!);
          bytes[at % bytes.length] = byte;
          input.binary = bytes;
        },
      })),
    );
  }
  if (req.tensors.some((t) => t.datatype === 'BYTES' && t.data.length > 0)) {
    out.push(
      fc.integer({ min: 1, max: 2 ** 31 }).map((extra) => ({
        label: 'binary: BYTES length prefix past the end',
        expect: BAD_400,
        plan: (r: ValidRequest) => {
          const i = r.tensors.findIndex((t) => t.datatype === 'BYTES' && t.data.length > 0);
          r.plans[i] = { ...r.plans[i]!, binary: true };
        },
        apply: (w: Wire, r: ValidRequest) => {
          const t = r.tensors.find((x) => x.datatype === 'BYTES' && x.data.length > 0)!;
          const input = w.inputs.find((i) => i.obj['name'] === t.name)!;
          const bytes = Buffer.from(input.binary!);
          // The last element's prefix: it may claim more bytes than remain, never fewer.
          const elements = t.data as Uint8Array[];
          const last = elements[elements.length - 1]!;
          const at = bytes.length - last.length - BYTES_LENGTH_PREFIX;
          bytes.writeUInt32LE(Math.min(2 ** 32 - 1, last.length + extra), at);
          input.binary = bytes;
        },
      })),
    );
  }
  return out;
}
