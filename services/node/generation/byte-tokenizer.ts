/**
 * A byte-level tokenizer that needs no vocabulary file: text is its UTF-8 bytes, byte b
 * is token id b (0..255). Two special ids follow the bytes: BOS = 256 and EOS = 257.
 * Any other id (≥ 258, e.g. most of the zoo gpt's 1024) decodes to the placeholder
 * `<|id|>`, so every id has a visible, reversible spelling.
 *
 * Decoding is incremental: a multi-byte UTF-8 character split over several tokens comes
 * out whole, with the token that completes it, never as replacement characters.
 *
 * @example
 * const ids = encodeText('héllo');   // [104, 195, 169, 108, 108, 111]
 * const text = new TextStream();
 * ids.map((id) => text.push(id)).join('');   // 'h', '', 'é', 'l', 'l', 'o' → 'héllo'
 */

/** Ids 0..255 are the bytes themselves. */
export const BYTE_TOKENS = 256;
export const BOS_ID = 256;
export const EOS_ID = 257;
/** Smallest vocabulary that holds every byte and both specials. */
export const MIN_TEXT_VOCAB = EOS_ID + 1;

const encoder = new TextEncoder();

export function encodeText(text: string): number[] {
  return Array.from(encoder.encode(text));
}

/** The text of one non-byte id: '' for BOS and EOS, `<|id|>` for any other. */
export function specialText(id: number): string {
  return id === BOS_ID || id === EOS_ID ? '' : `<|${id}|>`;
}

/** Turns ids into text one at a time; concatenating the pieces gives `decodeIds(all)`. */
export class TextStream {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly one = new Uint8Array(1);

  /** The text this id completes ('' while a multi-byte character is unfinished). */
  push(id: number): string {
    if (id >= 0 && id < BYTE_TOKENS) {
      this.one[0] = id;
      return this.decoder.decode(this.one, { stream: true });
    }
    // An unfinished character interrupted by a special token is malformed: U+FFFD.
    return this.flush() + specialText(id);
  }

  /** What is left at the end: U+FFFD for an unfinished character, else ''. */
  flush(): string {
    return this.decoder.decode();
  }
}

export function decodeIds(ids: readonly number[]): string {
  const stream = new TextStream();
  let text = '';
  for (const id of ids) text += stream.push(id);
  return text + stream.flush();
}
