/**
 * JSON as it was sent, for the few cases where JSON.parse loses information: 64-bit
 * integers beyond 2^53 (JSON.parse rounds them), the literal text of a number an error
 * message quotes (1e20 and 100000000000000000000 parse alike), and the bare NaN and
 * Infinity tokens Triton writes. The fast path is always JSON.parse; these run only when
 * a decoder finds it needs them.
 */
import { parse as parseLossless } from 'lossless-json';
import { describe, isPlainObject } from './codec-body.ts';
import { EdgeshiftError, type ErrorCode } from './errors.ts';

/** A JSON integer literal: no fraction, no exponent. */
const INTEGER_LITERAL = /^-?\d+$/;

/** A key given twice keeps its last value, as JSON.parse does. */
const lastWins = (info: { newValue: unknown }): unknown => info.newValue;

/** The number JSON.parse gives, except that an integer literal beyond ±(2^53-1) becomes an exact BigInt. */
function numberOrBigInt(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) || !INTEGER_LITERAL.test(text) ? n : BigInt(text);
}

/** Thrown by a tensor reader that met a number JSON.parse may have rounded: parse exactly, decode again. */
export const NEEDS_EXACT_PARSE: unique symbol = Symbol('needs exact parse');

/**
 * Parses `text` as JSON.parse does, except that the elements of every tensor's `data`
 * under `root[listKey]` keep integer literals beyond ±(2^53-1) as exact BigInts. Everywhere
 * else (shapes, parameters) numbers stay what JSON.parse makes of them, so the decoder
 * sees the same request apart from those elements. Throws ES_INVALID_JSON when `text`
 * nests too deeply for this (recursive) parser.
 */
export function parseExactly(text: string, listKey: 'inputs' | 'outputs'): unknown {
  let root: unknown;
  try {
    root = parseLossless(text, null, { parseNumber: numberOrBigInt, onDuplicateKey: lastWins });
  } catch (err) {
    const reason =
      err instanceof RangeError
        ? 'it nests too deeply'
        : err instanceof Error
          ? err.message.slice(0, 100)
          : String(err);
    throw new EdgeshiftError(
      'ES_INVALID_JSON',
      `the body holds 64-bit integers beyond 2^53, which need an exact parse, and that failed: ${reason}`,
    );
  }
  if (!isPlainObject(root)) return toNumbers(root);
  for (const key of Object.keys(root)) {
    const value = root[key];
    if (key === listKey && Array.isArray(value)) {
      for (const tensor of value) {
        if (!isPlainObject(tensor)) continue;
        for (const field of Object.keys(tensor)) {
          if (field !== 'data') tensor[field] = toNumbers(tensor[field]);
        }
      }
    } else {
      root[key] = toNumbers(value);
    }
  }
  return root;
}

/** BigInts back to the numbers JSON.parse would have made of them, in place. */
function toNumbers(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = toNumbers(value[i]);
  } else if (isPlainObject(value)) {
    for (const key of Object.keys(value)) value[key] = toNumbers(value[key]);
  }
  return value;
}

export type JsonPath = readonly (string | number)[];

/**
 * The JSON text of a body, to quote a number exactly as it was sent. The text is valid
 * JSON (JSON.parse read it); a lookup walks it along the path, skipping every other value
 * without building it, so an error in a large body costs one scan and no memory.
 */
export class SentJson {
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  /** The number literal at `path`, character for character; undefined when there is none. */
  numberAt(path: JsonPath): string | undefined {
    const text = this.#text;
    let i = skipSpace(text, 0);
    for (const key of path) {
      const at = typeof key === 'string' ? memberAt(text, i, key) : elementAt(text, i, key);
      if (at === undefined) return undefined;
      i = at;
    }
    const match = NUMBER_AT.exec(text.slice(i, i + MAX_NUMBER_TEXT));
    return match === null ? undefined : match[0];
  }
}

/** A JSON number at the start of the text (RFC 8259 §6). */
const NUMBER_AT = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?(?![\d.eE+-])/;
/** Longer literals are not quoted (the message would cut them at 60 characters anyway). */
const MAX_NUMBER_TEXT = 4096;

function skipSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** The index just after the string that starts at `i` (a quote). */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x5c) j++;
    else if (c === 0x22) return j + 1;
  }
  return text.length;
}

/** The index just after the value that starts at `i`. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return skipString(text, i);
  if (c !== 0x5b && c !== 0x7b) {
    let j = i;
    while (j < text.length && !',]} \n\r\t'.includes(text[j]!)) j++;
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const d = text.charCodeAt(j);
    if (d === 0x22) j = skipString(text, j) - 1;
    else if (d === 0x5b || d === 0x7b) depth++;
    else if (d === 0x5d || d === 0x7d) {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return text.length;
}

/** Where the value of member `key` of the object at `i` starts (the last one, as JSON.parse keeps). */
function memberAt(text: string, i: number, key: string): number | undefined {
  if (text.charCodeAt(i) !== 0x7b) return undefined;
  let found: number | undefined;
  let j = skipSpace(text, i + 1);
  while (j < text.length && text.charCodeAt(j) === 0x22) {
    const end = skipString(text, j);
    const name = JSON.parse(text.slice(j, end)) as string;
    j = skipSpace(text, skipSpace(text, end) + 1);
    if (name === key) found = j;
    j = skipSpace(text, skipValue(text, j));
    if (text.charCodeAt(j) !== 0x2c) break;
    j = skipSpace(text, j + 1);
  }
  return found;
}

/** Where element `index` of the array at `i` starts. */
function elementAt(text: string, i: number, index: number): number | undefined {
  if (text.charCodeAt(i) !== 0x5b) return undefined;
  let j = skipSpace(text, i + 1);
  if (text.charCodeAt(j) === 0x5d) return undefined;
  for (let k = 0; k < index; k++) {
    j = skipSpace(text, skipValue(text, j));
    if (text.charCodeAt(j) !== 0x2c) return undefined;
    j = skipSpace(text, j + 1);
  }
  return j;
}

/**
 * Quotes `value` for an error message: a number as the client wrote it when `sent` can
 * find it at `path`, otherwise as describe() does. Never a different number: one
 * that cannot be found is marked as the value it was parsed into.
 */
export function describeSent(value: unknown, sent: SentJson, path: JsonPath): string {
  if (typeof value !== 'number') return describe(value);
  const text = sent.numberAt(path);
  if (text !== undefined) return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return `${describe(value)} (as parsed)`;
}

/**
 * A rejected value (a tensor element, a shape dimension). Its message quotes the value
 * as describe() spells it; quoteAt() swaps in the literal the client sent.
 */
export class ElementError extends EdgeshiftError {
  /** Position in its list: the flat element index, or the dimension. */
  readonly index: number;
  readonly value: unknown;
  readonly #render: (shown: string) => string;

  constructor(code: ErrorCode, index: number, value: unknown, render: (shown: string) => string) {
    super(code, render(describe(value)));
    this.index = index;
    this.value = value;
    this.#render = render;
  }

  withQuote(shown: string): EdgeshiftError {
    return new EdgeshiftError(this.code, this.#render(shown));
  }
}

/** `err` quoting its number as sent at `path`, when it is an ElementError about a number. */
export function quoteAt(err: unknown, sent: SentJson, path: JsonPath): unknown {
  if (!(err instanceof ElementError) || typeof err.value !== 'number') return err;
  return err.withQuote(describeSent(err.value, sent, path));
}

/**
 * Quotes the bare `NaN`, `Infinity` and `-Infinity` tokens outside strings, which
 * Triton's JSON writer emits for non-finite floats (rapidjson's kWriteNanAndInfFlag) and
 * JSON.parse refuses. Returns undefined when the text holds none.
 */
export function quoteNonFiniteTokens(text: string): string | undefined {
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    let token: string | undefined;
    if (c === 0x4e && text.startsWith('NaN', i)) token = 'NaN';
    else if (c === 0x49 && text.startsWith('Infinity', i)) token = 'Infinity';
    else if (c === 0x2d && text.startsWith('-Infinity', i)) token = '-Infinity';
    if (token === undefined) continue;
    out += `${text.slice(from, i)}"${token}"`;
    i += token.length - 1;
    from = i + 1;
  }
  return from === 0 ? undefined : out + text.slice(from);
}
