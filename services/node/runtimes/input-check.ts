/**
 * Checks a run's inputs and requested outputs against the session's signature before
 * they reach onnxruntime, so both runtimes reject bad requests with the same codes.
 */
import { isUtf8 } from '../../common/codec-utf8.ts';
import { EdgeshiftError } from '../../common/errors.ts';
import { elementCount, type ModelSignature, type Tensor } from '../../common/tensor.ts';
import { dataMatchesDatatype } from './ort-convert.ts';

function checkShape(tensor: Tensor, declared: readonly number[]): void {
  if (!tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new EdgeshiftError(
      'ES_INVALID_TENSOR',
      `input '${tensor.name}' has an invalid shape [${tensor.shape.join(', ')}]`,
    );
  }
  // onnxruntime reports an unknown rank as [], the same as a scalar: leave that case to it.
  if (declared.length === 0) return;
  const fits =
    tensor.shape.length === declared.length &&
    declared.every((d, i) => d < 0 || d === tensor.shape[i]);
  if (!fits) {
    throw new EdgeshiftError(
      'ES_SHAPE_MISMATCH',
      `input '${tensor.name}' has shape [${tensor.shape.join(', ')}], the model expects [${declared.join(', ')}]`,
    );
  }
}

/**
 * onnxruntime's JavaScript API takes string tensors as JavaScript strings and passes them
 * on as NUL-terminated UTF-8: an element that is not UTF-8 would reach the model as
 * U+FFFD, and one with a NUL byte cut short. Refuse them rather than run on other data.
 */
function checkStrings(tensor: Tensor): void {
  const elements = tensor.data as Uint8Array[];
  for (let i = 0; i < elements.length; i++) {
    const element = elements[i]!;
    const problem = !isUtf8(element)
      ? 'is not valid UTF-8'
      : element.includes(0)
        ? 'contains a NUL byte'
        : undefined;
    if (problem !== undefined) {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `input '${tensor.name}' element ${i} ${problem}; onnxruntime string tensors hold UTF-8 text without NUL bytes`,
      );
    }
  }
}

/** Throws an EdgeshiftError (4xx) on the first problem found. */
export function checkRunRequest(
  signature: ModelSignature,
  inputs: readonly Tensor[],
  outputNames?: readonly string[],
): void {
  const seen = new Set<string>();
  for (const tensor of inputs) {
    const spec = signature.inputs.find((s) => s.name === tensor.name);
    if (spec === undefined)
      throw new EdgeshiftError('ES_UNKNOWN_INPUT', `unknown input '${tensor.name}'`);
    if (seen.has(tensor.name))
      throw new EdgeshiftError('ES_INVALID_TENSOR', `input '${tensor.name}' is given twice`);
    seen.add(tensor.name);
    if (tensor.datatype !== spec.datatype) {
      throw new EdgeshiftError(
        'ES_DATATYPE_MISMATCH',
        `input '${tensor.name}' has datatype ${tensor.datatype}, the model expects ${spec.datatype}`,
      );
    }
    checkShape(tensor, spec.shape);
    if (!dataMatchesDatatype(tensor.datatype, tensor.data)) {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `input '${tensor.name}' data is not stored as ${tensor.datatype} requires`,
      );
    }
    if (tensor.data.length !== elementCount(tensor.shape)) {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `input '${tensor.name}' has ${tensor.data.length} elements, its shape [${tensor.shape.join(', ')}] needs ${elementCount(tensor.shape)}`,
      );
    }
    if (tensor.datatype === 'BYTES') checkStrings(tensor);
  }
  for (const spec of signature.inputs) {
    if (!seen.has(spec.name))
      throw new EdgeshiftError('ES_MISSING_INPUT', `missing input '${spec.name}'`);
  }
  for (const name of outputNames ?? []) {
    if (!signature.outputs.some((s) => s.name === name))
      throw new EdgeshiftError('ES_UNKNOWN_OUTPUT', `unknown output '${name}'`);
  }
}
