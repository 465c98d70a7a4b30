/**
 * Datasets beside the task suite (../shared/data): GSM8K, ARC-Challenge, RULER multi-key needle,
 * needle in a haystack over Paul Graham's essays, and WikiText-2 perplexity. See README.md.
 */

// Shapes
export type { DatasetName, DatasetExample, PromptParts, PromptStyle, LoadOptions, GenerationDataset } from './types.js';

// The datasets by name
export { datasets, DATASET_NAMES, getDataset, isDatasetName } from './registry.js';
export { gsm8k } from './gsm8k.js';
export { arc } from './arc.js';
export { ruler, splitRulerInput } from './ruler.js';
export { niah, NIAH_LENGTHS, NIAH_DEPTHS, type NiahOptions } from './niah.js';
export { wikitextWindows, WIKITEXT_FILE, type NllWindow, type WikitextOptions } from './wikitext.js';

// Prompts: the model's chat template, or plain
export { promptFormatFor, chatFormat, plainFormat, readChatTemplate, type PromptFormat, type RenderedPrompt } from './prompt.js';

// Items: tokenized examples split into shared context and receiver part, for any runner
export { loadItems, splitTokens, type EvalItem, type GenerateItem, type NllItem, type SourceSpec, type LoadedItems } from './items.js';

// Helpers
export { pickIndices, sentences } from './sample.js';
export { readJsonl } from './jsonl.js';
