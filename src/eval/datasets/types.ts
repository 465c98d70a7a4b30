/**
 * The shapes shared by the dataset loaders: an example (the task suite's Example shape, with the
 * dataset's name as `task`), how an example splits into what the sharer reads and what the
 * receiver appends, and the contract every dataset implements.
 */
import type { CountTokens } from '../tasks/index.js';

export type DatasetName = 'gsm8k' | 'arc' | 'ruler' | 'niah' | 'wikitext2';

/** One item of a real dataset: the fields of tasks' Example, `task` naming the dataset. */
export interface DatasetExample {
  /** `${dataset}-${index in the file}` (niah: `niah-${seed}-${length}-${depth}-${i}`). */
  id: string;
  task: DatasetName;
  /** The passage the sharer reads ('' when the dataset has none, e.g. ARC). */
  context: string;
  question: string;
  /** The gold answer: a number (GSM8K), an option letter (ARC), or the first reference. */
  answer: string;
  /** Option texts in letter order (multiple choice only). */
  choices?: string[];
  meta: Record<string, unknown>;
}

/**
 * A prompt as three texts. `shared` is what the sharer prefills (its KV cache is handed over),
 * `ask` is what the receiver appends, `answerPrefix` opens the model's answer. In the plain
 * style the prompt is exactly `shared + ask + answerPrefix` (each carries its own separators);
 * in the chat style `shared + ask` is the user's message and `answerPrefix` (trimmed) starts
 * the assistant's turn.
 */
export interface PromptParts {
  shared: string;
  ask: string;
  answerPrefix?: string;
}

export type PromptStyle = 'chat' | 'plain';

/** How examples are chosen from a file: the first n (default), or n drawn with the seed. */
export interface LoadOptions {
  /** Number of examples (default: all). */
  n?: number;
  /** Index of the first example (default 0); with `shuffle`, an offset into the shuffled order. */
  start?: number;
  /** Shuffle the file with `seed` before taking examples (default false: file order). */
  shuffle?: boolean;
  seed?: number;
  /** The model's token counter, for datasets that build prompts to a token length (niah). */
  countTokens?: CountTokens;
  /** Dataset-specific options (niah: lengths, depths, perCell). */
  [option: string]: unknown;
}

/** A dataset answered by generation and scored per example. */
export interface GenerationDataset {
  readonly name: DatasetName;
  readonly kind: 'generate';
  /** One line for listings. */
  readonly description: string;
  /** The data file(s), relative to the data folder. */
  readonly files: readonly string[];
  /** Default answer length cap in tokens (the C2C protocol: 64). */
  readonly maxTokens: number;
  load(options?: LoadOptions): DatasetExample[];
  /** The example as prompt parts; `style` lets the wording differ for chat and base models. */
  parts(example: DatasetExample, style: PromptStyle): PromptParts;
  /** Whether `output` (the model's continuation after the prompt) answers the example. */
  score(example: DatasetExample, output: string): boolean;
}
