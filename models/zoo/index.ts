/** The zoo's generators by name. */
import type { ModelProto } from '../onnx/proto.ts';
import { generateCnn } from './cnn.ts';
import { generateGpt } from './gpt.ts';
import { generateMlp } from './mlp.ts';

export const ZOO_NAMES = ['mlp', 'cnn', 'gpt'] as const;
export type ZooName = (typeof ZOO_NAMES)[number];

export const ZOO_GENERATORS: Record<ZooName, (seed?: number) => ModelProto> = {
  mlp: generateMlp,
  cnn: generateCnn,
  gpt: generateGpt,
};

export function isZooName(name: string): name is ZooName {
  return (ZOO_NAMES as readonly string[]).includes(name);
}
