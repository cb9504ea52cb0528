/**
 * The body of a generate request (Triton's generate extension,
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_generate.md):
 * `text_input` plus parameters, either inside `"parameters"` or at the top level. edgeshift
 * also takes `input_ids` (token ids) instead of `text_input`.
 *
 * As the extension says, keys it does not define are passed on as parameters: a string,
 * number or boolean is accepted whatever its name (Triton's HTTP server refuses other
 * types for a key that is not a model input, SetTritonParameterFromJsonParameter in
 * src/http_server.cc), and kept in `passthrough`. edgeshift's decoders take no
 * model-specific parameters, so nothing reads them. Decoding options that other servers
 * implement and edgeshift does not (UNSUPPORTED_OPTIONS) are the exception: ignoring
 * `top_p: 0.9` would silently change the result, so any value but the neutral one is a 400.
 */
import { isUtf8 } from 'node:buffer';
import { randomInt } from 'node:crypto';
import { EdgeshiftError } from '../../common/errors.ts';
import { EOS_ID, encodeText, MIN_TEXT_VOCAB } from './byte-tokenizer.ts';
import type { SamplingOptions } from './sampler.ts';

/** OpenAI's completions API generates 16 tokens when max_tokens is not given. */
export const DEFAULT_MAX_TOKENS = 16;
/** OpenAI's API reference bounds temperature to [0, 2]. */
export const MAX_TEMPERATURE = 2;

export const PARAMETER_NAMES = [
  'max_tokens',
  'temperature',
  'top_k',
  'seed',
  'end_id',
  'stream',
] as const;
type ParameterName = (typeof PARAMETER_NAMES)[number];
const TOP_LEVEL_NAMES = ['text_input', 'input_ids', 'parameters', 'id'] as const;

/** A value the extension lets a parameter have (`$parameter`: string, number or boolean). */
export type PassthroughValue = string | number | boolean;

const isEmpty = (v: unknown) => v === '' || (Array.isArray(v) && v.length === 0);

/**
 * Decoding options edgeshift does not implement, by the names of the servers that do:
 * the OIP generate API (`top_p`, `stop`: kserve/open-inference-protocol
 * specification/protocol/generate_rest.yaml), vLLM's SamplingParams (what Triton's vLLM
 * backend takes as generate parameters) and the TensorRT-LLM backend's request inputs.
 * Each lists the values that leave generation as edgeshift does it, which are accepted;
 * any other is refused, naming the option.
 */
export const UNSUPPORTED_OPTIONS: Readonly<
  Record<string, { neutral: (value: unknown) => boolean; instead: string }>
> = {
  top_p: { neutral: (v) => v === 1, instead: 'nucleus sampling is not implemented; use top_k' },
  min_p: { neutral: (v) => v === 0, instead: 'min-p sampling is not implemented; use top_k' },
  beam_width: { neutral: (v) => v === 1, instead: 'beam search is not implemented' },
  use_beam_search: { neutral: (v) => v === false, instead: 'beam search is not implemented' },
  n: { neutral: (v) => v === 1, instead: 'one sequence per request' },
  best_of: { neutral: (v) => v === 1, instead: 'one sequence per request' },
  length_penalty: { neutral: (v) => v === 1, instead: 'no length penalty is applied' },
  repetition_penalty: { neutral: (v) => v === 1, instead: 'no repetition penalty is applied' },
  presence_penalty: { neutral: (v) => v === 0, instead: 'no presence penalty is applied' },
  frequency_penalty: { neutral: (v) => v === 0, instead: 'no frequency penalty is applied' },
  // Every generation has at least one token, so a minimum of 0 or 1 changes nothing.
  min_tokens: { neutral: (v) => v === 0 || v === 1, instead: 'no minimum length is enforced' },
  min_length: { neutral: (v) => v === 0 || v === 1, instead: 'no minimum length is enforced' },
  stop: { neutral: isEmpty, instead: 'stop sequences are not implemented; use end_id' },
  stop_words: { neutral: isEmpty, instead: 'stop sequences are not implemented; use end_id' },
  stop_token_ids: { neutral: isEmpty, instead: 'only one stop token; use end_id' },
  bad_words: { neutral: isEmpty, instead: 'no tokens can be banned' },
  ignore_eos: { neutral: (v) => v === false, instead: 'use end_id: -1 to never stop early' },
  random_seed: { neutral: () => false, instead: "edgeshift's name for it is seed" },
  // edgeshift's text_output never repeats the prompt.
  exclude_input_in_output: {
    neutral: (v) => v === true,
    instead: 'the output never includes the prompt',
  },
};

export interface GenerateBody {
  id?: string;
  prompt: { text: string } | { ids: number[] };
  parameters: Partial<Record<ParameterName, number | boolean>>;
  /** Keys the extension passes on as parameters, which no edgeshift decoder reads. */
  passthrough: Record<string, PassthroughValue>;
}

/** What the model imposes on a request. */
export interface GenerateLimits {
  vocab: number;
  /** Most tokens (prompt + generated) the model can attend to. */
  contextLength: number;
  /** Where contextLength came from, for error messages. */
  contextSource?: string;
}

export interface ResolvedGenerate {
  id?: string;
  promptIds: number[];
  maxTokens: number;
  endId: number | undefined;
  sampling: SamplingOptions;
  /** The seed used, when sampling (so a client can reproduce a run it did not seed). */
  seed?: number;
}

function bad(message: string): EdgeshiftError {
  return new EdgeshiftError('ES_BAD_REQUEST', message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(key: string): string {
  return JSON.stringify(key.slice(0, 60));
}

/** Parse and check the shape of a request body (model limits come later). */
export function parseGenerateBody(body: Buffer | undefined): GenerateBody {
  const bytes = body ?? Buffer.alloc(0);
  // RFC 8259 §8.1: JSON is UTF-8; decoding anything else would swap in U+FFFD silently.
  if (!isUtf8(bytes)) throw new EdgeshiftError('ES_INVALID_JSON', 'the body is not valid UTF-8');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new EdgeshiftError('ES_INVALID_JSON', `the body is not valid JSON: ${reason}`);
  }
  if (!isPlainObject(json)) throw bad('the body must be a JSON object');

  const parameters: GenerateBody['parameters'] = {};
  // No prototype, so a key such as "__proto__" is kept like any other.
  const passthrough: GenerateBody['passthrough'] = Object.create(null);
  const refused: string[] = [];
  const nested = json.parameters;
  if (nested !== undefined && !isPlainObject(nested)) throw bad('"parameters" must be an object');
  const take = (key: string, value: unknown) => {
    if (Object.hasOwn(parameters, key) || Object.hasOwn(passthrough, key)) {
      throw bad(`${show(key)} is given twice`);
    }
    const unsupported = UNSUPPORTED_OPTIONS[key];
    if (Object.hasOwn(UNSUPPORTED_OPTIONS, key) && unsupported !== undefined) {
      if (!unsupported.neutral(value)) refused.push(`${show(key)} (${unsupported.instead})`);
      return;
    }
    if ((PARAMETER_NAMES as readonly string[]).includes(key)) {
      if (typeof value !== 'number' && typeof value !== 'boolean') {
        throw bad(`parameter ${show(key)} must be a number or a boolean`);
      }
      parameters[key as ParameterName] = value;
      return;
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw bad(
        `parameter ${show(key)} must be a string, a number or a boolean (edgeshift's own are ${PARAMETER_NAMES.join(', ')})`,
      );
    }
    passthrough[key] = value;
  };
  for (const [key, value] of Object.entries(nested ?? {})) take(key, value);
  for (const [key, value] of Object.entries(json)) {
    if (!(TOP_LEVEL_NAMES as readonly string[]).includes(key)) take(key, value);
  }
  if (refused.length > 0) {
    throw bad(
      `edgeshift does not implement ${refused.join('; ')}: leave ${refused.length === 1 ? 'it' : 'them'} out, or give the neutral value`,
    );
  }

  const id = json.id;
  if (id !== undefined && typeof id !== 'string') throw bad('"id" must be a string');
  const text = json.text_input;
  const ids = json.input_ids;
  if (text !== undefined && ids !== undefined) throw bad('give text_input or input_ids, not both');
  let prompt: GenerateBody['prompt'];
  if (text !== undefined) {
    if (typeof text !== 'string') throw bad('"text_input" must be a string');
    if (text.length === 0) throw bad('the prompt is empty');
    prompt = { text };
  } else if (ids !== undefined) {
    if (!Array.isArray(ids) || !ids.every((v) => Number.isSafeInteger(v))) {
      throw bad('"input_ids" must be an array of integers');
    }
    if (ids.length === 0) throw bad('the prompt is empty');
    prompt = { ids: ids as number[] };
  } else {
    throw bad('the request needs text_input (a string) or input_ids (token ids)');
  }
  return { ...(id === undefined ? {} : { id }), prompt, parameters, passthrough };
}

function integer(
  parameters: GenerateBody['parameters'],
  name: ParameterName,
  min: number,
  max: number,
): number | undefined {
  const value = parameters[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Apply the model's limits and defaults. `stream` is the endpoint's: a `stream`
 * parameter that contradicts it is a 400.
 */
export function resolveGenerate(
  body: GenerateBody,
  limits: GenerateLimits,
  stream: boolean,
): ResolvedGenerate {
  const { vocab, contextLength } = limits;
  const source = limits.contextSource === undefined ? '' : ` (${limits.contextSource})`;
  const p = body.parameters;
  let promptIds: number[];
  if ('text' in body.prompt) {
    if (vocab < MIN_TEXT_VOCAB) {
      throw bad(
        `text_input needs a vocabulary of at least ${MIN_TEXT_VOCAB} ids (bytes and specials); this model has ${vocab}: send input_ids`,
      );
    }
    promptIds = encodeText(body.prompt.text);
  } else {
    promptIds = body.prompt.ids;
    const outside = promptIds.findIndex((id) => id < 0 || id >= vocab);
    if (outside >= 0) {
      throw bad(
        `input_ids[${outside}] = ${promptIds[outside]} is outside the vocabulary 0..${vocab - 1}`,
      );
    }
  }
  if (promptIds.length >= contextLength) {
    throw bad(
      `the prompt has ${promptIds.length} tokens; the model's context holds ${contextLength}${source}, ` +
        'prompt and generated tokens together',
    );
  }
  const room = contextLength - promptIds.length;
  const explicitMax = integer(p, 'max_tokens', 1, contextLength);
  if (explicitMax !== undefined && explicitMax > room) {
    throw bad(
      `max_tokens ${explicitMax} and the ${promptIds.length}-token prompt exceed the model's context of ${contextLength} tokens${source} (at most ${room} here)`,
    );
  }
  const maxTokens = explicitMax ?? Math.min(DEFAULT_MAX_TOKENS, room);

  if (p.stream !== undefined) {
    if (typeof p.stream !== 'boolean') throw bad('stream must be a boolean');
    if (p.stream !== stream) {
      throw bad(
        `stream is ${p.stream} but this endpoint ${stream ? 'streams' : 'does not stream'}; use ${p.stream ? 'generate_stream' : 'generate'}`,
      );
    }
  }
  const temperature = p.temperature ?? 0;
  if (
    typeof temperature !== 'number' ||
    !Number.isFinite(temperature) ||
    temperature < 0 ||
    temperature > MAX_TEMPERATURE
  ) {
    throw bad(`temperature must be a number from 0 to ${MAX_TEMPERATURE}`);
  }
  const topK = integer(p, 'top_k', 0, vocab) ?? 0;
  const endParameter = integer(p, 'end_id', -1, vocab - 1);
  const endId =
    endParameter === undefined
      ? vocab > EOS_ID
        ? EOS_ID
        : undefined
      : endParameter === -1
        ? undefined
        : endParameter;
  const sampling = temperature > 0 && topK !== 1;
  const seed =
    integer(p, 'seed', 0, 0xffffffff) ?? (sampling ? randomInt(0, 2 ** 32 - 1) : undefined);
  return {
    ...(body.id === undefined ? {} : { id: body.id }),
    promptIds,
    maxTokens,
    endId,
    sampling: { temperature, topK, seed: seed ?? 0 },
    ...(sampling ? { seed } : {}),
  };
}
