/**
 * One generation as a client sees it: the scheduler's token ids turned into text pieces
 * and timed from the request's arrival (time to first token, time per output token,
 * total), delivered to a sink as events. Pure bookkeeping; no I/O.
 */
import type { EdgeshiftError } from '../../common/errors.ts';
import { TextStream } from './byte-tokenizer.ts';
import type { FinishReason, SequenceListener } from './scheduler.ts';

export interface TokenEvent {
  id: number;
  /** 0 for the first generated token. */
  index: number;
  /** The text this token completes (possibly ''; the last one includes any leftover). */
  text: string;
}

export interface GenerationSummary {
  finishReason: FinishReason;
  promptTokens: number;
  generatedTokens: number;
  timeToFirstTokenMs: number;
  /** (total - time to first token) / (generated - 1); null with a single token. */
  timePerOutputTokenMs: number | null;
  totalTimeMs: number;
}

export interface GenerationSink {
  /** `summary` comes with the last token only. */
  token(event: TokenEvent, summary?: GenerationSummary): void;
  error(error: EdgeshiftError): void;
}

export class TrackedGeneration implements SequenceListener {
  private readonly text = new TextStream();
  private firstAt: number | undefined;

  constructor(
    private readonly arrivedAt: number,
    private readonly promptTokens: number,
    private readonly sink: GenerationSink,
  ) {}

  /** performance.now() of the first token, once there is one. */
  get firstTokenAt(): number | undefined {
    return this.firstAt;
  }

  token(id: number, index: number, at: number, finish: FinishReason | undefined): void {
    this.firstAt ??= at;
    let text = this.text.push(id);
    if (finish === undefined) {
      this.sink.token({ id, index, text });
      return;
    }
    text += this.text.flush();
    const generated = index + 1;
    this.sink.token(
      { id, index, text },
      {
        finishReason: finish,
        promptTokens: this.promptTokens,
        generatedTokens: generated,
        timeToFirstTokenMs: this.firstAt - this.arrivedAt,
        timePerOutputTokenMs: generated > 1 ? (at - this.firstAt) / (generated - 1) : null,
        totalTimeMs: at - this.arrivedAt,
      },
    );
  }

  error(error: EdgeshiftError): void {
    this.sink.error(error);
  }
}
