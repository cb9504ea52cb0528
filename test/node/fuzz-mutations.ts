/**
 * Broken inference requests for the fuzz test: a valid request with exactly one thing
 * wrong (a field's type, an input, a shape, a header, the budget, the size, the media
 * type), labelled with the answer the node owes.
 */
import fc from 'fast-check';
import { DATATYPES } from '../../services/common/tensor.ts';
import { binaryMutations, dataMutations } from './fuzz-tensor-mutations.ts';
import {
  assemble,
  BAD_400,
  BUDGET_HEADER,
  bad,
  buildWire,
  copyData,
  type Expectation,
  type FuzzCase,
  type FuzzEnv,
  type FuzzModel,
  IHCL,
  inferPath,
  isBinaryOnly,
  type Mutation,
  notABoolean,
  notAnArray,
  notAnObject,
  notAString,
  RANKABLE,
  rawPlaceholder,
  requestHeaders,
  safeName,
  serialise,
  type ValidRequest,
  validArbitrary,
  type Wire,
} from './fuzz-wire.ts';

function mutationArbitrary(req: ValidRequest, env: FuzzEnv): fc.Arbitrary<Mutation> {
  const sig = req.model.signature;
  const inputNames = new Set(sig.inputs.map((s) => s.name));
  const outputNames = sig.outputs.map((s) => s.name);
  const pick = fc.nat({ max: 1000 });
  const m = (label: string, expect: Expectation, rest: Omit<Mutation, 'label' | 'expect'>) =>
    ({ label, expect, ...rest }) as Mutation;
  const options: fc.Arbitrary<Mutation>[] = [
    // Top level
    fc.constantFrom<unknown>([], 'inputs', 42, true, null, [{ inputs: [] }]).map((value) =>
      m('body: not a JSON object', BAD_400, {
        apply: () => {},
        body: () => Buffer.from(serialise(value)),
      }),
    ),
    fc
      .oneof(
        fc.constant<'absent'>('absent'),
        notAnArray.map((value) => ({ value })),
      )
      .map((o) =>
        m('inputs: missing or not an array', BAD_400, {
          apply: (w) => {
            w.inputsOverride = o;
          },
        }),
      ),
    notAString
      .filter((v) => v !== null)
      .map((id) =>
        m('id: not a string', BAD_400, {
          apply: (w) => {
            w.top['id'] = id;
          },
        }),
      ),
    fc.constantFrom<unknown>([], 'p', 3, true, [{ binary_data_output: true }]).map((p) =>
      m('parameters: not an object', BAD_400, {
        apply: (w) => {
          w.top['parameters'] = p;
        },
      }),
    ),
    notABoolean.map((v) =>
      m('parameters: binary_data_output not a boolean', BAD_400, {
        apply: (w) => {
          w.top['parameters'] = { ...(w.top['parameters'] as object), binary_data_output: v };
        },
      }),
    ),
    notAnArray.map((v) =>
      m('outputs: not an array', BAD_400, {
        apply: (w) => {
          w.top['outputs'] = v;
        },
      }),
    ),
    fc.tuple(fc.constantFrom<unknown>(1, 'x', null, [], true), pick).map(([v, at]) =>
      m('outputs: element not an object', BAD_400, {
        apply: (w) => {
          w.top['outputs'] = insertAt(outputList(w), at, v);
        },
      }),
    ),
    fc.tuple(notAString, pick).map(([v, at]) =>
      m('outputs: name not a string', BAD_400, {
        apply: (w) => {
          w.top['outputs'] = insertAt(outputList(w), at, { name: v });
        },
      }),
    ),
    fc
      .tuple(
        safeName.filter((s) => !outputNames.includes(s)),
        pick,
      )
      .map(([name, at]) =>
        m('outputs: unknown output', BAD_400, {
          apply: (w) => {
            w.top['outputs'] = insertAt(outputList(w), at, { name });
          },
        }),
      ),
    fc.tuple(fc.constantFrom(...outputNames), pick).map(([name, at]) =>
      m('outputs: requested twice', BAD_400, {
        apply: (w) => {
          const list = outputList(w).filter((o) => (o as { name?: unknown }).name !== name);
          w.top['outputs'] = insertAt([...list, { name }], at, {
            name,
            parameters: { binary_data: true },
          });
        },
      }),
    ),
    fc
      .tuple(fc.constantFrom(...outputNames), fc.oneof(notABoolean, fc.constant('x')))
      .map(([name, v]) =>
        m('outputs: binary_data not a boolean or parameters not an object', BAD_400, {
          apply: (w) => {
            w.top['outputs'] = [{ name, parameters: v === 'x' ? 'x' : { binary_data: v } }];
          },
        }),
      ),
    // Triton's shared memory extension, which the node does not implement: 501, and only for it.
    fc.constantFrom(...outputNames).map((name) =>
      m('outputs: shared memory extension', bad(501), {
        apply: (w) => {
          w.top['outputs'] = [{ name, parameters: { shared_memory_region: 'region0' } }];
        },
      }),
    ),
    // Classification of an output Triton cannot rank, or a class count that is no count.
    fc
      .tuple(
        fc.constantFrom(...outputNames),
        fc.constantFrom<unknown>(-1, 1.5, '3', true, [2], {}, 2 ** 53),
      )
      .map(([name, count]) => {
        const datatype = sig.outputs.find((o) => o.name === name)!.datatype;
        const unrankable = sig.outputs.find((o) => !RANKABLE.has(o.datatype));
        return m('outputs: classification of an unrankable output or a bad count', BAD_400, {
          apply: (w) => {
            // Prefer an output that cannot be ranked, with a valid count.
            w.top['outputs'] =
              unrankable !== undefined
                ? [{ name: unrankable.name, parameters: { classification: 2 } }]
                : [{ name, parameters: { classification: RANKABLE.has(datatype) ? count : 2 } }];
          },
        });
      }),
    pick.map((a) =>
      m('input: shared memory extension', bad(501), {
        apply: (w) => {
          // The first input in wire order, so no earlier input fails first.
          const first = w.inputs[0];
          if (first !== undefined) {
            first.obj['parameters'] = {
              ...(first.obj['parameters'] as object),
              shared_memory_region: `r${a}`,
            };
          }
        },
      }),
    ),
    // Inputs
    fc
      .tuple(
        safeName.filter((s) => !inputNames.has(s)),
        pick,
      )
      .map(([name, at]) =>
        m('inputs: unknown input', BAD_400, {
          apply: (w) => {
            w.inputs.splice(at % (w.inputs.length + 1), 0, {
              obj: { name, datatype: 'FP32', shape: [1], data: [0] },
            });
          },
        }),
      ),
    pick.map((at) =>
      m('inputs: an input missing', BAD_400, {
        apply: (w) => {
          w.inputs.splice(at % w.inputs.length, 1);
        },
      }),
    ),
    fc.tuple(pick, pick).map(([at, to]) =>
      m('inputs: an input given twice', BAD_400, {
        apply: (w) => {
          const copy = w.inputs[at % w.inputs.length]!;
          w.inputs.splice(to % (w.inputs.length + 1), 0, {
            obj: structuredClone(copy.obj),
            ...(copy.binary === undefined ? {} : { binary: copy.binary }),
          });
        },
      }),
    ),
    fc.tuple(notAnObject, pick).map(([v, at]) =>
      m('input: not an object', BAD_400, {
        apply: (w) => {
          w.inputs[at % w.inputs.length] = { obj: v as Record<string, unknown> };
        },
      }),
    ),
    fc.tuple(fc.option(notAString, { nil: undefined }), pick).map(([v, at]) =>
      m('input: name missing or not a string', BAD_400, {
        apply: (w) => {
          setOrDelete(w.inputs[at % w.inputs.length]!.obj, 'name', v);
        },
      }),
    ),
    fc
      .tuple(
        fc.option(
          fc.oneof(
            notAString,
            fc.constantFrom('FLOAT32', 'fp32', 'FLOAT', 'STRING', '', 'INT', 'float16', 'BOOLEAN'),
          ),
          { nil: undefined },
        ),
        pick,
      )
      .map(([v, at]) =>
        m('input: datatype missing or not a datatype name', BAD_400, {
          apply: (w) => {
            setOrDelete(w.inputs[at % w.inputs.length]!.obj, 'datatype', v);
          },
        }),
      ),
    fc.tuple(fc.constantFrom(...DATATYPES), pick).map(([datatype, at]) =>
      m('input: a datatype the model does not expect', BAD_400, {
        apply: (w) => {
          const obj = w.inputs[at % w.inputs.length]!.obj;
          const spec = sig.inputs.find((s) => s.name === obj['name'])!;
          obj['datatype'] =
            datatype === spec.datatype
              ? DATATYPES[(DATATYPES.indexOf(datatype) + 1) % DATATYPES.length]
              : datatype;
        },
      }),
    ),
    fc
      .tuple(
        fc.option(fc.constantFrom<unknown>('1,784', 3, {}, true, '[]', [[1, 2]]), {
          nil: undefined,
        }),
        pick,
      )
      .map(([v, at]) =>
        m('input: shape missing or not an array', BAD_400, {
          apply: (w) => {
            setOrDelete(w.inputs[at % w.inputs.length]!.obj, 'shape', v);
          },
        }),
      ),
    fc
      .tuple(
        fc.constantFrom<unknown>(
          -1,
          -784,
          0.5,
          1.5,
          2 ** 53,
          1e300,
          '1',
          null,
          true,
          [1],
          {},
          rawPlaceholder('NaN'),
          rawPlaceholder('1e400'),
        ),
        pick,
        pick,
      )
      .map(([d, at, dim]) =>
        m('input: a dimension that is not a non-negative integer', BAD_400, {
          apply: (w) => {
            const shape = w.inputs[at % w.inputs.length]!.obj['shape'] as unknown[];
            if (shape.length === 0) shape.push(d);
            else shape[dim % shape.length] = d;
          },
        }),
      ),
    fc.tuple(fc.boolean(), pick, fc.integer({ min: 1, max: 3 })).map(([grow, at, size]) =>
      m('input: wrong rank', BAD_400, {
        apply: (w) => {
          const shape = w.inputs[at % w.inputs.length]!.obj['shape'] as number[];
          if (grow || shape.length === 0) shape.push(size);
          else shape.pop();
        },
      }),
    ),
    ...fixedDimMutation(req, pick),
    ...namedDimMutation(req, pick),
    ...hugeShapeMutation(req, env, pick),
    // JSON data
    ...dataMutations(req, pick),
    // Binary data
    ...binaryMutations(req, pick),
    // Headers
    fc
      .constantFrom(
        '',
        'abc',
        '-5',
        '-0',
        '1.5',
        '0x10',
        '1e3',
        '+5',
        '99999999999999999',
        '5, 5',
        '12abc',
        'NaN',
      )
      .map((text) =>
        m('header length: not a non-negative decimal integer', BAD_400, {
          apply: (w) => {
            w.headerLength = { text };
          },
        }),
      ),
    fc.constant(
      m('header length: zero (raw binary request)', BAD_400, {
        apply: (w) => {
          w.headerLength = { text: '0' };
        },
      }),
    ),
    fc.integer({ min: 1, max: 10_000 }).map(headerLengthBeyondBody),
    pick.map((cut) =>
      m('header length: inside the JSON header', BAD_400, {
        apply: (w) => {
          w.headerLength = { text: `@@json-minus:${1 + (cut % 50)}` };
        },
      }),
    ),
    fc
      .integer({ min: -3, max: 3 })
      .filter((d) => d !== 0)
      .map((delta) =>
        m('binary: section shorter or longer than the sizes add up to', BAD_400, {
          plan: (r) => {
            forceOneBinary(r);
          },
          apply: (w) => {
            w.tailDelta = delta < 0 && binaryTotal(w) === 0 ? -delta : delta;
          },
        }),
      ),
    fc.constant(
      m('binary: sizes given without Inference-Header-Content-Length', BAD_400, {
        plan: (r) => {
          forceOneBinary(r);
        },
        apply: (w) => {
          w.headerLength = 'omit';
        },
      }),
    ),
    // Latency budget
    fc
      .constantFrom(
        '',
        'abc',
        '0',
        '-1',
        '-0.5',
        'NaN',
        'Infinity',
        '1e400',
        '0x10',
        '1,5',
        '5ms',
        '1e',
        '.',
      )
      .map((value) =>
        m('budget: header not a positive number', BAD_400, {
          apply: () => {},
          headers: { [BUDGET_HEADER]: value },
          noBudget: true,
        }),
      ),
    fc
      .constantFrom<unknown>(
        0,
        -1,
        -0.001,
        'abc',
        '',
        '-5',
        true,
        null,
        {},
        [],
        [5],
        rawPlaceholder('1e400'),
        rawPlaceholder('NaN'),
      )
      .map((value) =>
        m('budget: parameter not a positive number', BAD_400, {
          noBudget: true,
          apply: (w) => {
            w.top['parameters'] = { ...(w.top['parameters'] as object), latency_budget_ms: value };
          },
        }),
      ),
    // A budget of a nanosecond is gone before the request reaches the batcher: 504, never computed.
    fc.constantFrom('header', 'parameter').map((where) =>
      m('budget: already spent on arrival', bad(504), {
        noBudget: true,
        ...(where === 'header'
          ? { apply: () => {}, headers: { [BUDGET_HEADER]: '0.000001' } }
          : {
              apply: (w: Wire) => {
                w.top['parameters'] = {
                  ...(w.top['parameters'] as object),
                  latency_budget_ms: 1e-6,
                };
              },
            }),
      }),
    ),
    // Size
    fc.integer({ min: 1, max: 4096 }).map((extra) =>
      m('body: over the size limit', bad(413), {
        apply: () => {},
        body: (b) => Buffer.concat([b, Buffer.alloc(env.bodyLimitBytes - b.length + extra, 0x20)]),
      }),
    ),
    fc.integer({ min: 1, max: 4096 }).map((extra) =>
      m('body: over the size limit, chunked', bad(413), {
        apply: () => {},
        chunked: true,
        body: (b) => Buffer.concat([b, Buffer.alloc(env.bodyLimitBytes - b.length + extra, 0x20)]),
      }),
    ),
    // Content type
    fc
      .constantFrom(
        '',
        ';',
        '/',
        '/;;',
        'application/',
        '/json',
        'a b',
        'text',
        'a/b/c',
        'application/json, text/plain',
      )
      .map((value) =>
        m('content type: not a media type', bad(415), {
          apply: () => {},
          headers: { 'content-type': value },
        }),
      ),
  ];
  const vocab = req.model.vocab;
  const tokens = req.tensors.find((t) => t.name === 'input_ids');
  if (vocab !== undefined && tokens !== undefined && tokens.data.length > 0) {
    options.push(
      fc
        .tuple(
          fc.oneof(
            fc.integer({ min: vocab, max: 2 ** 40 }),
            fc.integer({ min: -(2 ** 40), max: -vocab - 1 }),
          ),
          pick,
        )
        .map(([id, at]) =>
          m('runtime: token id outside the vocabulary', BAD_400, {
            plan: (r) => {
              const i = r.tensors.findIndex((t) => t.name === 'input_ids');
              const data = r.tensors[i]!.data as BigInt64Array;
              data[at % data.length] = BigInt(id);
            },
            apply: () => {},
          }),
        ),
    );
  }
  return fc.oneof(...options);
}

function headerLengthBeyondBody(extra: number): Mutation {
  return {
    label: 'header length: larger than the body',
    expect: BAD_400,
    apply: (w) => {
      w.headerLength = { text: `@@body-plus:${extra}` };
    },
  };
}

function outputList(w: Wire): unknown[] {
  const current = w.top['outputs'];
  return Array.isArray(current) ? [...current] : [];
}

function insertAt(list: unknown[], at: number, value: unknown): unknown[] {
  const copy = [...list];
  copy.splice(at % (copy.length + 1), 0, value);
  return copy;
}

function setOrDelete(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (value === undefined) delete obj[key];
  else obj[key] = value;
}

function binaryTotal(w: Wire): number {
  return w.inputs.reduce((sum, i) => sum + (i.binary?.length ?? 0), 0);
}

function forceOneBinary(req: ValidRequest): void {
  if (req.tensors.some((t, i) => req.plans[i]!.binary || isBinaryOnly(t))) return;
  req.plans[0] = { ...req.plans[0]!, binary: true };
}

function fixedDimMutation(req: ValidRequest, pick: fc.Arbitrary<number>): fc.Arbitrary<Mutation>[] {
  const specs = req.model.signature.inputs.filter((s) => s.shape.some((d) => d >= 0));
  if (specs.length === 0) return [];
  return [
    fc.tuple(pick, pick, fc.integer({ min: 1, max: 5 })).map(([which, dim, delta]) => ({
      label: 'input: wrong fixed dimension',
      expect: BAD_400,
      apply: (w: Wire) => {
        const spec = specs[which % specs.length]!;
        const input = w.inputs.find((i) => i.obj['name'] === spec.name)!;
        const fixed = spec.shape.map((d, i) => ({ d, i })).filter(({ d }) => d >= 0);
        const { d, i } = fixed[dim % fixed.length]!;
        (input.obj['shape'] as number[])[i] = d + delta;
      },
    })),
  ];
}

/** Two inputs that share a named dimension (e.g. "batch") but disagree on it. */
function namedDimMutation(req: ValidRequest, pick: fc.Arbitrary<number>): fc.Arbitrary<Mutation>[] {
  const names = new Map<string, { input: string; dim: number }[]>();
  for (const spec of req.model.signature.inputs) {
    spec.dimNames?.forEach((name, dim) => {
      if (typeof name === 'string' && name !== '' && (spec.shape[dim] ?? 0) < 0) {
        names.set(name, [...(names.get(name) ?? []), { input: spec.name, dim }]);
      }
    });
  }
  const shared = [...names.values()].filter((uses) => uses.length >= 2);
  if (shared.length === 0) return [];
  return [
    fc.tuple(pick, fc.integer({ min: 1, max: 3 })).map(([which, delta]) => ({
      label: 'inputs: disagree on a shared dimension',
      expect: BAD_400,
      apply: (w: Wire) => {
        const uses = shared[which % shared.length]!;
        // The later of the inputs in wire order, so the earlier one sets the size.
        const positions = uses
          .map((u) => ({ ...u, at: w.inputs.findIndex((i) => i.obj['name'] === u.input) }))
          .sort((a, b) => a.at - b.at);
        const later = positions[positions.length - 1]!;
        const shape = w.inputs[later.at]!.obj['shape'] as number[];
        shape[later.dim] = shape[later.dim]! + delta;
      },
    })),
  ];
}

/** A declared element count over the node's limit, in a small body: 413 before allocating. */
function hugeShapeMutation(
  req: ValidRequest,
  env: FuzzEnv,
  pick: fc.Arbitrary<number>,
): fc.Arbitrary<Mutation>[] {
  const dynamic = req.model.signature.inputs.filter((s) => s.shape.some((d) => d < 0));
  if (dynamic.length === 0) return [];
  return [
    fc.tuple(pick, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })).map(([which, huge]) => ({
      label: 'input: declared element count over the limit (small body)',
      expect: bad(413),
      apply: (w: Wire) => {
        const spec = dynamic[which % dynamic.length]!;
        const at = w.inputs.findIndex((i) => i.obj['name'] === spec.name);
        const [input] = w.inputs.splice(at, 1);
        w.inputs.unshift(input!);
        const first = spec.shape.findIndex((d) => d < 0);
        const shape = input!.obj['shape'] as number[];
        spec.shape.forEach((d, i) => {
          if (d < 0) shape[i] = Math.max(1, shape[i]!);
        });
        const others = shape.reduce((p, d, i) => (i === first ? p : p * d), 1);
        const floor = Math.floor(env.bodyLimitBytes / Math.max(1, others)) + 1;
        shape[first] = Math.min(Number.MAX_SAFE_INTEGER, Math.max(floor, huge));
      },
    })),
  ];
}

/** A broken inference request for `model`: a valid one with one mutation. */
export function brokenCase(model: FuzzModel, env: FuzzEnv): fc.Arbitrary<FuzzCase> {
  return validArbitrary(model).chain((base) =>
    mutationArbitrary(base, env).map((mutation) => {
      const req: ValidRequest = {
        ...base,
        tensors: base.tensors.map((t) => ({ ...t, shape: [...t.shape], data: copyData(t.data) })),
        plans: base.plans.map((p) => ({ ...p })),
        ...(mutation.noBudget ? { budget: 'none' as const } : {}),
      };
      mutation.plan?.(req);
      const wire = buildWire(req);
      mutation.apply(wire, req);
      const assembled = assemble(wire, req.explicitHeaderLength);
      let body = assembled.body;
      if (mutation.body !== undefined) body = mutation.body(body);
      const headers = { ...requestHeaders(req, assembled), ...mutation.headers };
      resolveHeaderLength(headers, body);
      return {
        label: mutation.label,
        node: 'open' as const,
        method: 'POST',
        path: inferPath(model.name, req.versioned),
        headers,
        body,
        ...(mutation.chunked ? { chunked: true } : {}),
        expect: mutation.expect,
        counted: model.name,
      };
    }),
  );
}

/** Turns the header-length placeholders (relative to the body) into numbers. */
function resolveHeaderLength(headers: Record<string, string>, body: Uint8Array): void {
  const text = headers[IHCL];
  if (text === undefined) return;
  const plus = /^@@body-plus:(\d+)$/.exec(text);
  if (plus) headers[IHCL] = String(body.length + Number(plus[1]));
  const minus = /^@@json-minus:(\d+)$/.exec(text);
  if (minus) {
    const jsonEnd = jsonLength(body);
    headers[IHCL] = String(Math.max(1, jsonEnd - Number(minus[1])));
  }
}

/** Byte length of the JSON object at the start of a body (up to its matching brace). */
function jsonLength(body: Uint8Array): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return body.length;
}
