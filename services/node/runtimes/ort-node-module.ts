import type * as OrtNode from 'onnxruntime-node';

export type OrtNodeModule = typeof OrtNode;

let loading: Promise<OrtNodeModule> | undefined;

/** onnxruntime-node, imported on first use: loading its native binding costs time and memory. */
export function importOrtNode(): Promise<OrtNodeModule> {
  loading ??= import('onnxruntime-node');
  return loading;
}
