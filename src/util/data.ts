/**
 * Where the data beside the project lives (../shared/data by default). It is never copied into
 * the repository; code asks for a path here and gets a clear DATA_MISSING error when it is absent.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvwireError } from '../errors.js';

/** The repository root (the folder holding package.json), found from this file's location. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The data folder: $KVWIRE_DATA if set, else ../shared/data next to the repository. */
export function dataRoot(): string {
  return process.env.KVWIRE_DATA ? resolve(process.env.KVWIRE_DATA) : resolve(repoRoot, '..', 'shared', 'data');
}

/** Resolves `relative` inside the data folder, or throws DATA_MISSING naming what is missing. */
export function dataPath(relative: string): string {
  const path = resolve(dataRoot(), relative);
  if (!existsSync(path)) {
    throw new KvwireError('DATA_MISSING',
      `missing data file ${path}: kvwire reads ${relative} from the data folder ${dataRoot()} ` +
      `(set KVWIRE_DATA to point elsewhere; see ../shared/data/README.md)`, { path });
  }
  return path;
}
