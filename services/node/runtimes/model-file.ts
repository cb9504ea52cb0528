import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { EdgeshiftError } from '../../common/errors.ts';
import { describeModelSource, type ModelSource } from './model-source.ts';

/** Fail early, with the path in the message, when a model file cannot be read. */
export async function assertModelReadable(modelPath: string): Promise<void> {
  try {
    await access(modelPath, constants.R_OK);
    if (!(await stat(modelPath)).isFile()) throw new Error('not a regular file');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new EdgeshiftError('ES_MODEL_LOAD', `cannot read model file ${modelPath}: ${reason}`, {
      cause: error,
    });
  }
}

function cannotLoad(source: ModelSource, reason: string, cause?: unknown): EdgeshiftError {
  return new EdgeshiftError(
    'ES_MODEL_LOAD',
    `cannot load model ${describeModelSource(source)}: ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * A model source as onnxruntime's `InferenceSession.create` takes it in Node: a readable
 * file's path, or bytes. A `file:` URL becomes its path; an `http:`/`https:` URL is
 * fetched (a non-2xx answer is an error); bytes pass as they are (never empty).
 *
 * @example
 * await resolveModelSource(new URL('http://127.0.0.1:8000/device/models/cnn.onnx'));
 */
export async function resolveModelSource(source: ModelSource): Promise<string | Uint8Array> {
  if (typeof source === 'string') {
    await assertModelReadable(source);
    return source;
  }
  if (source instanceof Uint8Array) {
    if (source.length === 0) throw cannotLoad(source, 'no bytes');
    return source;
  }
  if (source.protocol === 'file:') {
    const path = fileURLToPath(source);
    await assertModelReadable(path);
    return path;
  }
  if (source.protocol !== 'http:' && source.protocol !== 'https:')
    throw cannotLoad(
      source,
      `unsupported URL scheme ${source.protocol} (use file:, http: or https:)`,
    );
  let response: Response;
  try {
    response = await fetch(source);
  } catch (error) {
    throw cannotLoad(source, error instanceof Error ? error.message : String(error), error);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw cannotLoad(source, `HTTP ${response.status}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length === 0) throw cannotLoad(source, 'the answer has no bytes');
  return bytes;
}
