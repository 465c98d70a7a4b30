/**
 * The task suite: seeded generators with disjoint train/test splits, scorers, and the prompt
 * format shared by training and evaluation. See README.md in this folder.
 */

// Types
export type { Example, GenerateOptions, Split, Task, TaskName } from './types.js';
export { SPLITS, LETTERS, DEFAULT_SEEDS } from './types.js';

// Registry: tasks.facts / twohop / arith / needle / instr, and lookup by name
export { tasks, TASK_NAMES, getTask } from './registry.js';
export { facts, type FactsOptions } from './facts.js';
export { twohop, CHAIN_KINDS, type ChainKind, type TwohopOptions } from './twohop.js';
export { arith, type ArithOptions } from './arith.js';
export { needle, approxTokens, NEEDLE_LENGTHS, NEEDLE_VARIANTS, type CountTokens, type NeedleOptions, type NeedleVariant } from './needle.js';
export { instr, INSTRUCTIONS, type InstrKind, type InstrOptions, type InstructionType, type Placement } from './instr.js';

// Prompt format: prompt up to "Answer:", target with its leading space
export { formatPrompt, formatTarget, toRecord, type ExampleRecord } from './format.js';

// Scoring helpers (each task's `score` uses one of these)
export { answerSpan, extractChoice, extractNumber, scoreChoice, scoreNumber, scoreShort } from './score.js';

// Haystack corpus (needle): which books, which split
export { corpusCatalog, bookText, bookSplit, splitBooks, stripGutenberg, normalizeText, type Book } from './corpus.js';

// Seeded randomness
export { Rng, rngFor, hash32 } from './rng.js';
