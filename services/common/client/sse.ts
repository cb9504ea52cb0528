/**
 * An incremental parser of server-sent events (text/event-stream), as the HTML standard
 * interprets a stream (https://html.spec.whatwg.org/multipage/server-sent-events.html,
 * "Interpreting an event stream"): lines end in CRLF, LF or CR; a blank line dispatches
 * the event; `data:` lines join with LF; lines starting with ':' are comments; an event
 * left unfinished when the stream ends is discarded.
 */

export interface SseEvent {
  /** The `event:` field; "message" when absent. */
  event: string;
  data: string;
  /** The last `id:` field seen so far, if any. */
  id?: string;
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private line = '';
  private data: string[] = [];
  private dataLength = 0;
  private type = '';
  private lastId: string | undefined;
  private afterCr = false;
  private first = true;

  /**
   * @param maxEventLength most characters one event may hold before it is refused, so a
   *   server that never ends an event cannot take unbounded memory.
   */
  constructor(private readonly maxEventLength: number) {}

  /** Feeds bytes; returns the events they complete, in order. Throws past `maxEventLength`. */
  push(chunk: Uint8Array): SseEvent[] {
    let text = this.decoder.decode(chunk, { stream: true });
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 && this.afterCr) {
        // The LF of a CRLF, perhaps split across two chunks.
        this.afterCr = false;
        start = i + 1;
        continue;
      }
      this.afterCr = c === 13;
      if (c !== 10 && c !== 13) continue;
      this.line += text.slice(start, i);
      start = i + 1;
      const event = this.endLine();
      if (event !== undefined) events.push(event);
    }
    this.line += text.slice(start);
    if (this.line.length + this.dataLength > this.maxEventLength) {
      throw new RangeError(`an event is longer than ${this.maxEventLength} characters`);
    }
    return events;
  }

  private endLine(): SseEvent | undefined {
    const line = this.line;
    this.line = '';
    if (line === '') return this.dispatch();
    if (line.charCodeAt(0) === 58) return undefined; // ':' starts a comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.dataLength += value.length + 1;
    } else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const data = this.data;
    const type = this.type;
    this.data = [];
    this.dataLength = 0;
    this.type = '';
    if (data.length === 0) return undefined;
    return {
      event: type === '' ? 'message' : type,
      data: data.join('\n'),
      ...(this.lastId === undefined ? {} : { id: this.lastId }),
    };
  }
}
