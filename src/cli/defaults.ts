import { join } from 'node:path';
import { repoRoot } from '../util/data.js';

/** The model the README's main command runs on: the zoo's small default model, shipped in the repo. */
export const DEFAULT_MODEL = join(repoRoot, 'models', 'kvw-llama-6m');
