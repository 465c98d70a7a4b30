/** The shapes shared by every task generator: examples, splits, options and the Task interface. */
import { KvwireError } from '../../errors.js';

export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['train', 'test'];

/** The documented default seeds: training exports use 1, reported test sets use 0. */
export const DEFAULT_SEEDS: Readonly<Record<Split, number>> = { train: 1, test: 0 };

export type TaskName = 'facts' | 'twohop' | 'arith' | 'needle' | 'instr';

/** One evaluation or training item. */
export interface Example {
  /** `${task}-${split}-${seed}-${index}` (needle adds `@${length}`); unique within a generated set. */
  id: string;
  task: TaskName;
  /** The text the sharer model reads (and whose KV cache is handed over). */
  context: string;
  question: string;
  /** The gold answer: an option letter ('A'..'D') for multiple choice, else a short string. */
  answer: string;
  /** Option texts for multiple choice, in letter order. */
  choices?: string[];
  /** The target when set: a worked solution ending in "#### answer" (arith with `worked`), or the gold option's text (facts with form value). */
  solution?: string;
  /** Task-specific facts about the example (what was asked, where the evidence sits, ...). */
  meta: Record<string, unknown>;
}

/** Options every generator takes. */
export interface GenerateOptions {
  split: Split;
  /** Number of examples (integer ≥ 0). */
  n: number;
  /** Integer seed. Example i depends only on (task, split, seed, i) and the task options. */
  seed: number;
  /** Index of the first example (default 0): `{start: 100, n: 50}` gives examples 100..149. */
  start?: number;
}

/** One task family: a pure generator and its scorer. */
export interface Task<O extends object = object> {
  name: TaskName;
  /** One line for `kvwire tasks list`. */
  description: string;
  generate(options: GenerateOptions & O): Example[];
  /** Whether `output` (a model's raw continuation after "Answer:") answers `example` correctly. */
  score(example: Example, output: string): boolean;
}

export const LETTERS = ['A', 'B', 'C', 'D'] as const;

/** Checks the common options; throws BAD_ARGUMENT naming the field. */
export function checkGenerateOptions(task: TaskName, o: GenerateOptions): void {
  if (o.split !== 'train' && o.split !== 'test') {
    throw new KvwireError('BAD_ARGUMENT', `${task}: split must be 'train' or 'test', got ${JSON.stringify(o.split)}`, { path: 'split' });
  }
  checkInt(task, 'n', o.n, 0, 10_000_000);
  checkInt(task, 'seed', o.seed, 0, Number.MAX_SAFE_INTEGER);
  if (o.start !== undefined) checkInt(task, 'start', o.start, 0, Number.MAX_SAFE_INTEGER - o.n);
}

/** Throws BAD_ARGUMENT unless `value` is an integer in [min, max]. */
export function checkInt(task: string, field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new KvwireError('BAD_ARGUMENT',
      `${task}: ${field} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`, { path: field });
  }
}

/** Throws BAD_ARGUMENT unless `value` is undefined or one of `allowed`. */
export function checkOneOf<T extends string>(task: string, field: string, value: unknown, allowed: readonly T[]): void {
  if (value !== undefined && !allowed.includes(value as T)) {
    throw new KvwireError('BAD_ARGUMENT',
      `${task}: ${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`, { path: field });
  }
}

export function exampleId(task: TaskName, o: GenerateOptions, index: number): string {
  return `${task}-${o.split}-${o.seed}-${index}`;
}

/** Runs `one(i)` for i in [start, start + n): the standard loop of every generator. */
export function generateEach(task: TaskName, o: GenerateOptions, one: (index: number) => Example): Example[] {
  checkGenerateOptions(task, o);
  const start = o.start ?? 0;
  const out: Example[] = [];
  for (let i = start; i < start + o.n; i++) out.push(one(i));
  return out;
}
