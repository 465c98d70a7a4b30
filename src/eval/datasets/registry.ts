/** The datasets by name. */
import { KvwireError } from '../../errors.js';
import { arc } from './arc.js';
import { gsm8k } from './gsm8k.js';
import { niah } from './niah.js';
import { ruler } from './ruler.js';
import type { DatasetName, GenerationDataset } from './types.js';

/** Generation datasets (scored per example). wikitext2 (perplexity) is read by wikitextWindows. */
export const datasets: Readonly<Record<Exclude<DatasetName, 'wikitext2'>, GenerationDataset>> = { gsm8k, arc, ruler, niah };

export const DATASET_NAMES: readonly DatasetName[] = ['gsm8k', 'arc', 'ruler', 'niah', 'wikitext2'];

export function isDatasetName(name: string): name is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(name);
}

/** The generation dataset called `name`; BAD_ARGUMENT listing the known names otherwise. */
export function getDataset(name: string): GenerationDataset {
  if (!Object.hasOwn(datasets, name)) {
    throw new KvwireError('BAD_ARGUMENT', `unknown generation dataset ${JSON.stringify(name)}; known: ${Object.keys(datasets).join(', ')} (and wikitext2 for perplexity)`, { path: 'dataset' });
  }
  return datasets[name as keyof typeof datasets];
}
