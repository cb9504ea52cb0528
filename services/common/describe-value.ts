/**
 * A short JSON-like spelling of any value for an error message, whatever its depth or
 * size: the walk is iterative and stops once `maxChars` are written, so a body nesting
 * objects 100,000 levels deep, or holding a million numbers, costs a few dozen steps
 * rather than a stack overflow or a copy of the body.
 */

/** Characters an error message quotes of a value the client sent. */
export const DESCRIBED_CHARS = 60;

type Frame =
  | { kind: 'array'; items: ArrayLike<unknown>; next: number }
  | { kind: 'object'; entries: [string, unknown][]; next: number };

function scalar(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (value === null || typeof value === 'boolean') return String(value);
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    return 'null';
  }
  return String(value);
}

/**
 * @example
 * describeValue({ a: [1, 2n] })       // '{"a":[1,2]}'
 * describeValue('x'.repeat(100), 10)  // '"xxxxxx...'
 */
export function describeValue(value: unknown, maxChars = DESCRIBED_CHARS): string {
  if (value === undefined) return 'missing';
  // One character past the limit says the text was cut; the walk stops there.
  const limit = maxChars + 1;
  let text = '';
  const stack: Frame[] = [];
  const open = (v: unknown): void => {
    if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
      text += '[';
      stack.push({ kind: 'array', items: v as ArrayLike<unknown>, next: 0 });
    } else if (typeof v === 'object' && v !== null) {
      text += '{';
      // Object.entries copies only as many keys as the object has; the limit on text
      // bounds how many are visited.
      stack.push({ kind: 'object', entries: Object.entries(v), next: 0 });
    } else {
      // Long strings are cut before quoting, so a 60 MB string is not copied.
      text += typeof v === 'string' && v.length > limit ? scalar(v.slice(0, limit)) : scalar(v);
    }
  };
  open(value);
  while (stack.length > 0 && text.length < limit) {
    const frame = stack[stack.length - 1]!;
    if (frame.kind === 'array') {
      if (frame.next === frame.items.length) {
        text += ']';
        stack.pop();
        continue;
      }
      if (frame.next > 0) text += ',';
      open(frame.items[frame.next++]);
    } else {
      if (frame.next === frame.entries.length) {
        text += '}';
        stack.pop();
        continue;
      }
      const [key, v] = frame.entries[frame.next++]!;
      if (frame.next > 1) text += ',';
      text += `${JSON.stringify(key.length > limit ? key.slice(0, limit) : key)}:`;
      open(v);
    }
  }
  return text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text;
}
