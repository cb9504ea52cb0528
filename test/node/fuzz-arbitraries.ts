/**
 * Everything the node fuzz test (fuzz.test.ts) sends: valid inference requests, broken
 * ones (fuzz-mutations.ts), corrupted bytes, wrong routes and methods, requests the HTTP
 * parser refuses, and requests to a node that wants a bearer token. Each case says what
 * the node must answer. Nothing here opens a socket.
 */
import fc from 'fast-check';
import { brokenCase } from './fuzz-mutations.ts';
import {
  assemble,
  BAD_400,
  bad,
  buildWire,
  type Expectation,
  type FuzzCase,
  type FuzzEnv,
  type FuzzModel,
  IHCL,
  inferPath,
  rawPlaceholder,
  requestHeaders,
  safeName,
  serialise,
  type ValidRequest,
  validArbitrary,
  validCase,
} from './fuzz-wire.ts';

export type { Expectation, FuzzCase, FuzzEnv, FuzzModel, SentInference } from './fuzz-wire.ts';

// ---------------------------------------------------------------------------------------
// Corrupted bytes: the outcome may be a valid request by chance, so 200 is allowed.

const CORRUPTED: Expectation = { kind: 'either', statuses: [400, 413] };

function corruptedCase(model: FuzzModel): fc.Arbitrary<FuzzCase> {
  // Without classification, so that a corrupted body that still decodes has the model's outputs.
  const base = validArbitrary(model).map((r) => ({
    ...r,
    budget: 'none' as const,
    outputs: r.outputs?.map(({ classification: _, ...o }) => o),
  }));
  const finish = (
    label: string,
    req: ValidRequest,
    body: Buffer,
    headers: Record<string, string>,
    expect: Expectation,
  ): FuzzCase => ({
    label,
    node: 'open',
    method: 'POST',
    path: inferPath(model.name, req.versioned),
    headers,
    body,
    expect,
    counted: model.name,
  });
  return fc.oneof(
    fc.tuple(base, fc.nat()).map(([req, cut]) => {
      const a = assemble(buildWire(req), req.explicitHeaderLength);
      // Any strict prefix: the JSON loses its closing brace, or the binary section falls short.
      const body = a.body.subarray(0, cut % a.body.length);
      return finish('bytes: truncated', req, body, requestHeaders(req, a), BAD_400);
    }),
    fc
      .tuple(
        base,
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
      )
      .map(([req, flips]) => {
        const a = assemble(buildWire(req), req.explicitHeaderLength);
        const body = Buffer.from(a.body);
        for (const { at, byte } of flips) body[at % body.length] = byte;
        return finish('bytes: flipped', req, body, requestHeaders(req, a), CORRUPTED);
      }),
    fc
      .tuple(
        base,
        fc.nat(),
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 16 }),
          fc.constantFrom(
            ...['NaN', ']', '}', '"', ',', '\\', '\u0000', '{"a":', '\ud800'].map(
              (s) => new Uint8Array(Buffer.from(s)),
            ),
          ),
        ),
      )
      .map(([req, at, garbage]) => {
        const a = assemble(buildWire(req), req.explicitHeaderLength);
        const p = at % (a.body.length + 1);
        const body = Buffer.concat([a.body.subarray(0, p), garbage, a.body.subarray(p)]);
        return finish('bytes: garbage inserted', req, body, requestHeaders(req, a), CORRUPTED);
      }),
    fc
      .tuple(
        base,
        fc.uint8Array({ maxLength: 256 }),
        fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
      )
      .map(([req, bytes, length]) => {
        const headers: Record<string, string> =
          length === undefined ? {} : { [IHCL]: String(length) };
        return finish('bytes: random', req, Buffer.from(bytes), headers, BAD_400);
      }),
    fc
      .tuple(base, fc.jsonValue({ maxDepth: 3 }))
      .map(([req, value]) =>
        finish('json: arbitrary value', req, Buffer.from(serialise(value)), {}, BAD_400),
      ),
    fc
      .tuple(base, fc.nat(), fc.constantFrom('replace', 'delete', 'insert'), nastyValue)
      .map(([req, pickPath, kind, value]) => {
        const wire = buildWire(req);
        const root = { ...wire.top, inputs: wire.inputs.map((i) => i.obj) };
        const paths = allPaths(root);
        const mutated = mutateAt(root, paths[pickPath % paths.length]!, kind, value);
        const json = Buffer.from(serialise(mutated), 'utf8');
        const parts = wire.inputs.flatMap((i) => (i.binary === undefined ? [] : [i.binary]));
        const headers: Record<string, string> =
          parts.length > 0 ? { [IHCL]: String(json.length) } : {};
        return finish(
          'json: a value replaced, deleted or inserted',
          req,
          Buffer.concat([json, ...parts]),
          headers,
          CORRUPTED,
        );
      }),
  );
}

const nastyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(
    -1,
    0,
    1.5,
    2 ** 31,
    2 ** 53,
    1e39,
    'NaN',
    'Infinity',
    '12',
    '',
    null,
    true,
    [],
    {},
    [[1, 2], [3]],
    [[[]]],
    'FP16',
    'BYTES',
    'INT64',
    { binary_data_size: 4 },
    { binary_data_size: -1 },
    { binary_data: 'yes' },
    rawPlaceholder('NaN'),
    rawPlaceholder('1e400'),
  ),
);

type Path = (string | number)[];

function allPaths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) {
    // Long data arrays: a few elements stand for all of them.
    const step = Math.max(1, Math.floor(value.length / 8));
    for (let i = 0; i < value.length; i += step) allPaths(value[i], [...prefix, i], out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) allPaths(v, [...prefix, k], out);
  }
  return out;
}

function mutateAt(root: unknown, path: Path, kind: string, value: unknown): unknown {
  const copy: unknown = structuredClone(root);
  if (path.length === 0) return kind === 'replace' ? value : copy;
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (kind === 'replace') parent[last] = value;
  else if (kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (Array.isArray(parent)) parent.splice(last as number, 0, value);
  else parent[`${String(last)}_x`] = value;
  return copy;
}

// ---------------------------------------------------------------------------------------
// Routes, methods, auth

const ROUTE_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'TRACE',
  'QUERY',
] as const;

/** A path segment that names no model (URL-encoded). */
function unknownSegment(known: readonly string[]): fc.Arbitrary<string> {
  return fc
    .oneof(
      safeName,
      fc.constantFrom(
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        'MLP',
        'mlp ',
        ' ',
        '%',
        'é',
        '..',
      ),
      // At most 8 graphemes: URL-encoded they stay under the router's 100-character limit.
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
    )
    .filter((s) => !known.includes(s) && s !== '.' && s !== '..')
    .map((s) => encodeURIComponent(s));
}

function routeCases(env: FuzzEnv): fc.Arbitrary<FuzzCase> {
  const names = env.models.map((m) => m.name);
  const known = fc.constantFrom(...names);
  const version = fc
    .oneof(safeName, fc.constantFrom('2', '01', '1.0', ' 1', '0', '-1', 'latest', '１'))
    .filter((v) => v !== '1')
    .map((v) => encodeURIComponent(v));
  const get = (label: string, path: string, expect: Expectation): FuzzCase => ({
    label,
    node: 'open',
    method: 'GET',
    path,
    headers: {},
    expect,
  });
  const post = (label: string, path: string, expect: Expectation): FuzzCase => ({
    label,
    node: 'open',
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from('{"inputs":[]}'),
    expect,
  });
  const metadataPaths = (m: string) => [
    `/v2/models/${m}`,
    `/v2/models/${m}/versions/1`,
    `/v2/models/${m}/ready`,
    `/v2/models/${m}/versions/1/ready`,
  ];
  const getPaths = (m: string) => [
    '/v2/health/live',
    '/v2/health/ready',
    '/v2',
    '/v2/',
    '/metrics',
    ...metadataPaths(m),
  ];
  return fc.oneof(
    fc
      .tuple(unknownSegment(names), fc.boolean())
      .map(([name, versioned]) =>
        post('route: unknown model (infer)', inferPath(name, versioned), bad(404)),
      ),
    fc
      .tuple(
        unknownSegment(names),
        fc.constantFrom('', '/ready', '/versions/1', '/versions/1/ready'),
      )
      .map(([name, tail]) =>
        get('route: unknown model (metadata)', `/v2/models/${name}${tail}`, bad(404)),
      ),
    fc
      .tuple(known, version, fc.constantFrom('', '/ready', '/infer'))
      .map(([name, v, tail]) =>
        tail === '/infer'
          ? post('route: unknown version', `/v2/models/${name}/versions/${v}${tail}`, bad(404))
          : get('route: unknown version', `/v2/models/${name}/versions/${v}${tail}`, bad(404)),
      ),
    fc
      .tuple(
        fc.constantFrom('GET', 'POST', 'PROPFIND', 'SEARCH', 'LOCK'),
        fc.oneof(
          fc.constantFrom(
            '/',
            '/v1/models',
            '/v2/models',
            '/v2/health',
            '/v2/repository/index',
            '/v2/health/live/',
            '/v2/models/x/y/z',
            '/metrics/',
            '/v2/models/mlp/infer/',
            '/v2/models/mlp/infer/x',
            '/favicon.ico',
            '//v2',
          ),
          fc
            .array(safeName, { minLength: 1, maxLength: 4 })
            .map((parts) => `/x-${parts.join('/')}`),
        ),
      )
      .map(([method, path]) => ({
        ...(method === 'POST' ? post('', path, bad(404)) : get('', path, bad(404))),
        label: 'route: unknown path',
        method,
      })),
    fc.tuple(known, fc.constantFrom(...ROUTE_METHODS)).chain(([name, method]) => {
      // POST is wrong on the read-only routes; every other method is wrong on infer.
      const paths =
        method === 'POST' ? getPaths(name) : [inferPath(name, false), inferPath(name, true)];
      return fc.constantFrom(...paths).map(
        (path): FuzzCase => ({
          label: 'route: method not allowed',
          node: 'open',
          method,
          path,
          headers: { 'content-type': 'application/json' },
          ...(method === 'HEAD' || method === 'GET' || method === 'TRACE'
            ? {}
            : { body: Buffer.from('{}') }),
          expect: bad(405),
        }),
      );
    }),
    fc
      .constantFrom(
        '/v2/models/%zz/infer',
        '/v2/models/mlp/versions/%E0%A4%A/infer',
        '/v2/models/%/ready',
        '/v2/models/%C3%28',
      )
      .map((path) => post('route: malformed percent-encoding', path, bad(400))),
    fc
      .integer({ min: 101, max: 2000 })
      .map((length) =>
        get(
          'route: path segment over the router limit',
          `/v2/models/${'m'.repeat(length)}`,
          bad(414),
        ),
      ),
    fc
      .tuple(known, fc.constantFrom(...getPaths(names[0]!)))
      .map(([name, path]) =>
        get('valid: read-only route', path.replace(names[0]!, name), { kind: 'ok' }),
      ),
  );
}

/**
 * Requests refused or cut short below fastify: methods llhttp does not know, headers over
 * Node's 16 KiB limit, and clients that hang up halfway through an inference body.
 */
function transportCases(env: FuzzEnv): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    fc.constantFrom('FOO', 'GETT', 'BREW', 'X').map(
      (method): FuzzCase => ({
        label: 'http: unknown method',
        node: 'open',
        method,
        path: '/v2/health/live',
        headers: {},
        expect: bad(400),
      }),
    ),
    fc.integer({ min: 17 * 1024, max: 20 * 1024 }).map(
      (size): FuzzCase => ({
        label: 'http: headers over the size limit',
        node: 'open',
        method: 'GET',
        path: '/v2/health/live',
        headers: { 'x-padding': 'p'.repeat(size) },
        expect: bad(431),
      }),
    ),
    fc
      .constantFrom(...env.models)
      .chain((m) => validArbitrary(m))
      .map((req): FuzzCase => {
        const c = validCase(req);
        const { sent: _sent, ...rest } = c;
        return {
          ...rest,
          label: 'http: client hangs up mid-body',
          hangUp: true,
          expect: { kind: 'none' },
        };
      }),
  );
}

function authCases(env: FuzzEnv): fc.Arbitrary<FuzzCase> {
  const token = env.token;
  const wrong = fc
    .oneof(
      fc.constant(undefined),
      fc.constantFrom(
        '',
        'Bearer',
        'Bearer ',
        `Basic ${token}`,
        token,
        `Bearer ${token}x`,
        `Bearer x${token}`,
        `Bearer ${token.slice(1)}`,
        `Bearer ${token} extra`,
        `Token ${token}`,
        `Bearer\t${token}`,
        `Bearer"${token}"`,
      ),
      fc.stringMatching(/^[\x21-\x7e]{1,40}$/).map((s) => `Bearer ${s}`),
    )
    .filter((v) => v !== `Bearer ${token}`);
  const right = fc.constantFrom(
    `Bearer ${token}`,
    `bearer ${token}`,
    `BEARER  ${token}`,
    `Bearer ${token}  `,
  );
  const model = env.guarded;
  const paths = [inferPath(model.name, false), `/v2/models/${model.name}`, '/v2', '/metrics'];
  return fc.oneof(
    fc
      .tuple(wrong, fc.constantFrom(...paths), validArbitrary(model))
      .map(([authorization, path, req]): FuzzCase => {
        const infer = path.endsWith('/infer');
        const a = assemble(buildWire({ ...req, budget: 'none' }), false);
        return {
          label: 'auth: missing or wrong bearer token',
          node: 'guarded',
          method: infer ? 'POST' : 'GET',
          path,
          headers: {
            ...(authorization === undefined ? {} : { authorization }),
            ...(infer ? requestHeaders(req, a) : {}),
          },
          ...(infer ? { body: a.body } : {}),
          expect: bad(401),
        };
      }),
    fc.tuple(right, validArbitrary(model)).map(([authorization, req]): FuzzCase => {
      const c = validCase(req, 'auth: right token');
      return { ...c, node: 'guarded', headers: { ...c.headers, authorization } };
    }),
    fc.tuple(right, brokenCase(model, env)).map(
      ([authorization, c]): FuzzCase => ({
        ...c,
        label: `auth: right token, ${c.label}`,
        node: 'guarded',
        headers: { ...c.headers, authorization },
      }),
    ),
    fc.constantFrom('/v2/health/live', '/v2/health/ready').map(
      (path): FuzzCase => ({
        label: 'auth: health probes need no token',
        node: 'guarded',
        method: 'GET',
        path,
        headers: {},
        expect: { kind: 'ok' },
      }),
    ),
  );
}

/**
 * Every kind of request the fuzz test sends, weighted so that broken inference requests
 * dominate and valid ones stay frequent enough to exercise batching alongside them.
 */
export function fuzzCaseArbitrary(env: FuzzEnv): fc.Arbitrary<FuzzCase> {
  const model = fc.constantFrom(...env.models);
  return fc
    .oneof(
      { weight: 12, arbitrary: model.chain((m) => validArbitrary(m)).map((r) => validCase(r)) },
      { weight: 50, arbitrary: model.chain((m) => brokenCase(m, env)) },
      { weight: 14, arbitrary: model.chain((m) => corruptedCase(m)) },
      { weight: 10, arbitrary: routeCases(env) },
      { weight: 2, arbitrary: transportCases(env) },
      { weight: 8, arbitrary: authCases(env) },
    )
    .map(summarised);
}

/** Counterexamples print as one line per request instead of every body byte. */
function summarised(c: FuzzCase): FuzzCase {
  const body = c.body === undefined ? '' : ` ${c.body.length} bytes: ${preview(c.body)}`;
  const text = `[${c.label}] ${c.node} ${c.method} ${c.path} ${JSON.stringify(c.headers)}${body}`;
  return Object.defineProperty(c, fc.toStringMethod, { value: () => text, enumerable: false });
}

function preview(body: Uint8Array): string {
  const text = Buffer.from(body.subarray(0, 400)).toString('utf8');
  return JSON.stringify(body.length > 400 ? `${text}...` : text);
}
