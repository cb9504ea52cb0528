/**
 * Recognising a decoder with a key/value cache from its signature alone, in the layout
 * of Hugging Face Optimum's "decoder with past" export (the zoo's `gpt` uses it too):
 *
 * inputs   input_ids [batch, seq], attention_mask [batch, past + seq],
 *          position_ids [batch, seq] (optional),
 *          past_key_values.{i}.key / .value [batch, heads, past, head_dim]
 * outputs  logits [batch, seq, vocab], present.{i}.key / .value [batch, heads, past + seq, head_dim]
 *
 * Layers, heads, head size and vocabulary come from the model's own declared shapes,
 * never from the zoo's constants.
 */
import type { Datatype, ModelSignature, TensorSpec } from '../../common/tensor.ts';

export interface DecoderLayout {
  layers: number;
  /** Key/value heads (the past inputs' dimension 1; fewer than query heads under GQA). */
  heads: number;
  headDim: number;
  vocab: number;
  /** Datatype of input_ids, attention_mask and position_ids. */
  indexType: 'INT64' | 'INT32';
  hasPositionIds: boolean;
  /** Past inputs in feed order: layer 0 key, layer 0 value, layer 1 key, ... */
  pastNames: string[];
  /** The matching present outputs, same order. */
  presentNames: string[];
}

export type DecoderDetection =
  | { decoder: true; layout: DecoderLayout }
  | { decoder: false; reason: string };

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const TOKEN_INPUTS = new Set(['input_ids', 'attention_mask', 'position_ids']);

function no(reason: string): DecoderDetection {
  return { decoder: false, reason };
}

function concrete(spec: TensorSpec, index: number): number | undefined {
  const d = spec.shape[index];
  return d !== undefined && d > 0 ? d : undefined;
}

function isIndexType(datatype: Datatype): datatype is 'INT64' | 'INT32' {
  return datatype === 'INT64' || datatype === 'INT32';
}

/**
 * @example
 * const found = detectDecoder(session.signature);
 * if (found.decoder) console.log(found.layout.layers, found.layout.heads);
 */
export function detectDecoder(signature: ModelSignature): DecoderDetection {
  const inputs = new Map(signature.inputs.map((s) => [s.name, s]));
  const outputs = new Map(signature.outputs.map((s) => [s.name, s]));
  const ids = inputs.get('input_ids');
  const mask = inputs.get('attention_mask');
  const positions = inputs.get('position_ids');
  const logits = outputs.get('logits');
  if (ids === undefined || mask === undefined || logits === undefined) {
    return no('it lacks input_ids, attention_mask or the logits output');
  }
  if (!isIndexType(ids.datatype)) return no(`input_ids is ${ids.datatype}, not INT64 or INT32`);
  for (const spec of [mask, positions]) {
    if (spec !== undefined && spec.datatype !== ids.datatype) {
      return no(`${spec.name} is ${spec.datatype} while input_ids is ${ids.datatype}`);
    }
  }
  if (ids.shape.length !== 2 || mask.shape.length !== 2) {
    return no('input_ids and attention_mask must be [batch, length]');
  }
  if (logits.datatype !== 'FP32' || logits.shape.length !== 3) {
    return no('logits must be FP32 [batch, sequence, vocab]');
  }
  const vocab = concrete(logits, 2);
  if (vocab === undefined) return no('the vocabulary size (logits dimension 2) is not fixed');

  const layerSet = new Set<number>();
  for (const name of inputs.keys()) {
    const match = PAST.exec(name);
    if (match !== null) layerSet.add(Number(match[1]));
    else if (!TOKEN_INPUTS.has(name)) return no(`it has an input '${name}' generation cannot fill`);
  }
  const layers = layerSet.size;
  if (layers === 0) return no('it has no past_key_values inputs (no key/value cache)');

  const pastNames: string[] = [];
  const presentNames: string[] = [];
  let heads: number | undefined;
  let headDim: number | undefined;
  for (let layer = 0; layer < layers; layer++) {
    for (const part of ['key', 'value']) {
      const past = inputs.get(`past_key_values.${layer}.${part}`);
      const present = outputs.get(`present.${layer}.${part}`);
      if (past === undefined) return no(`past_key_values.${layer}.${part} is missing`);
      if (present === undefined) return no(`output present.${layer}.${part} is missing`);
      if (past.datatype !== 'FP32' || present.datatype !== 'FP32') {
        return no(`the cache of layer ${layer} is not FP32`);
      }
      if (past.shape.length !== 4 || present.shape.length !== 4) {
        return no(`past_key_values.${layer}.${part} must be [batch, heads, past, head_dim]`);
      }
      const h = concrete(past, 1);
      const d = concrete(past, 3);
      if (h === undefined || d === undefined) {
        return no(`past_key_values.${layer}.${part} has no fixed heads and head size`);
      }
      if ((heads !== undefined && h !== heads) || (headDim !== undefined && d !== headDim)) {
        return no('the layers disagree on heads or head size');
      }
      heads = h;
      headDim = d;
      pastNames.push(past.name);
      presentNames.push(present.name);
    }
  }
  return {
    decoder: true,
    layout: {
      layers,
      heads: heads!,
      headDim: headDim!,
      vocab,
      indexType: ids.datatype,
      hasPositionIds: positions !== undefined,
      pastNames,
      presentNames,
    },
  };
}
