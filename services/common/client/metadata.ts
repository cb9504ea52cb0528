/**
 * Checking what a server says about itself and its models (OIP `$metadata_server_response`
 * and `$metadata_model_response`): a caller gets the protocol's shapes or ES_BAD_RESPONSE.
 */
import type { ModelMetadata, ServerMetadata, TensorMetadata } from '../oip.ts';
import { isDatatype } from '../tensor.ts';
import { badResponse } from './errors.ts';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readTensorMetadata(value: unknown, what: string, url: string): TensorMetadata {
  if (
    !isObject(value) ||
    typeof value.name !== 'string' ||
    !isDatatype(value.datatype) ||
    !Array.isArray(value.shape) ||
    !value.shape.every((d) => Number.isInteger(d) && d >= -1)
  ) {
    throw badResponse(
      url,
      `${what} must be {name, datatype, shape} with a known datatype and integer dimensions (-1 for dynamic)`,
    );
  }
  return { name: value.name, datatype: value.datatype, shape: value.shape as number[] };
}

export function readModelMetadata(value: unknown, url: string): ModelMetadata {
  if (!isObject(value) || typeof value.name !== 'string') {
    throw badResponse(url, "model metadata must be an object with a string 'name'");
  }
  for (const key of ['inputs', 'outputs'] as const) {
    if (!Array.isArray(value[key])) throw badResponse(url, `model metadata has no '${key}' array`);
  }
  const versions = value.versions;
  return {
    name: value.name,
    ...(Array.isArray(versions) ? { versions: versions.map(String) } : {}),
    platform: typeof value.platform === 'string' ? value.platform : '',
    inputs: (value.inputs as unknown[]).map((t, i) => readTensorMetadata(t, `inputs[${i}]`, url)),
    outputs: (value.outputs as unknown[]).map((t, i) =>
      readTensorMetadata(t, `outputs[${i}]`, url),
    ),
  };
}

export function readServerMetadata(value: unknown, url: string): ServerMetadata {
  if (
    !isObject(value) ||
    typeof value.name !== 'string' ||
    typeof value.version !== 'string' ||
    !Array.isArray(value.extensions) ||
    !value.extensions.every((e) => typeof e === 'string')
  ) {
    throw badResponse(url, 'server metadata must be {name, version, extensions}');
  }
  return { name: value.name, version: value.version, extensions: value.extensions as string[] };
}
