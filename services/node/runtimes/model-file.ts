import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { EdgeshiftError } from '../../common/errors.ts';

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
