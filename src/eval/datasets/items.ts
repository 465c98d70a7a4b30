/**
 * Evaluation items: examples of a dataset or of the task suite, tokenized for one model and split
 * into the shared context (what the sharer prefills, and whose cache a method compresses) and the
 * receiver's part. Every runner of a sweep consumes these, so all methods see the same tokens.
 *
 * The split is a token index into the *whole* prompt's tokenization (the longest common prefix of
 * encode(prompt) and encode(shared text)), so context + receiver part is exactly the tokens a
 * single full prefill would read, whatever the tokenizer does at the boundary.
 */
import { KvwireError } from '../../errors.js';
import type { ModelSpec, TextTokenizer } from '../../model/index.js';
import { taskExamples } from '../run-task.js';
import { formatPrompt, getTask, TASK_NAMES, type TaskName } from '../tasks/index.js';
import { promptFormatFor, type PromptFormat } from './prompt.js';
import { getDataset, isDatasetName } from './registry.js';
import type { PromptStyle } from './types.js';
import { wikitextWindows, type NllWindow } from './wikitext.js';

export interface GenerateItem {
  kind: 'generate';
  id: string;
  /** The whole prompt's tokens. */
  ids: number[];
  /** ids[0, split) is the shared context (≥ 1 token); ids[split, end) the receiver's part (≥ 1 token). */
  split: number;
  maxTokens: number;
  /** End generation at the first newline after some text (plain prompts and the task suite). */
  stopAtNewline: boolean;
  gold: string;
  score(output: string): boolean;
}

export interface NllItem extends NllWindow {
  kind: 'nll';
}

export type EvalItem = GenerateItem | NllItem;

/** Where items come from: a dataset or a task of the suite, with its options. */
export interface SourceSpec {
  /** gsm8k, arc, ruler, niah, wikitext2, or a task: facts, twohop, arith, needle, instr. */
  name: string;
  /** Number of examples (windows for wikitext2). */
  n?: number;
  /** Example seed: task-suite test sets, niah, and `shuffle` (default 0). */
  seed?: number;
  /** Answer length cap (default: the dataset's; task suite: 48 for arith, else 12). */
  maxTokens?: number;
  /** 'auto' (default): the model's chat template if it has one. Datasets only. */
  prompt?: PromptStyle | 'auto';
  /** Other options, passed to the dataset or task (niah lengths/depths, needle length, shuffle, window...). */
  options?: Record<string, unknown>;
}

export interface LoadedItems {
  items: EvalItem[];
  /** 'task-suite', 'plain', 'chat' or 'tokens' (perplexity). */
  promptStyle: string;
  /** The chat template's file, when one was used. */
  templateSource: string | null;
}

/** Token index where `sharedText` ends inside `text`'s tokenization, clamped to [1, len-1]. */
export function splitTokens(tok: TextTokenizer, text: string, sharedEnd: number, addBos: boolean): { ids: number[]; split: number } {
  const ids = tok.encode(text, { addBos });
  if (ids.length < 2) throw new KvwireError('BAD_ARGUMENT', `prompt of ${ids.length} token(s) cannot be split into context and question`);
  const pre = tok.encode(text.slice(0, sharedEnd), { addBos });
  let split = 0;
  while (split < pre.length && split < ids.length && pre[split] === ids[split]) split++;
  return { ids, split: Math.min(Math.max(split, 1), ids.length - 1) };
}

/** Items of `source` for the model `spec`. */
export async function loadItems(spec: ModelSpec, source: SourceSpec): Promise<LoadedItems> {
  const tok = spec.tokenizer;
  const seed = source.seed ?? 0;
  const options = source.options ?? {};
  if ((TASK_NAMES as readonly string[]).includes(source.name)) {
    const task = getTask(source.name);
    const n = source.n ?? 100;
    const maxTokens = source.maxTokens ?? (source.name === 'arith' ? 48 : 12);
    const items = taskExamples(source.name as TaskName, n, tok, seed, options).map((ex): GenerateItem => {
      const prompt = formatPrompt(ex);
      const { ids, split } = splitTokens(tok, prompt, ex.context.length, true);
      return { kind: 'generate', id: ex.id, ids, split, maxTokens, stopAtNewline: true, gold: ex.answer, score: (out) => task.score(ex, out) };
    });
    return { items, promptStyle: 'task-suite', templateSource: null };
  }
  if (!isDatasetName(source.name)) {
    throw new KvwireError('BAD_ARGUMENT', `unknown dataset or task ${JSON.stringify(source.name)}; datasets: gsm8k, arc, ruler, niah, wikitext2; tasks: ${TASK_NAMES.join(', ')}`, { path: 'name' });
  }
  if (source.name === 'wikitext2') {
    const windows = wikitextWindows(tok, { ...options, n: source.n });
    return { items: windows.map((w) => ({ kind: 'nll', ...w })), promptStyle: 'tokens', templateSource: null };
  }
  const dataset = getDataset(source.name);
  const format: PromptFormat = await promptFormatFor(spec, source.prompt ?? 'auto');
  const countTokens = (text: string) => tok.encode(text).length;
  const examples = dataset.load({ ...options, n: source.n, seed, countTokens });
  const maxTokens = source.maxTokens ?? dataset.maxTokens;
  const items = examples.map((ex): GenerateItem => {
    const { text, sharedEnd } = format.render(dataset.parts(ex, format.style));
    const { ids, split } = splitTokens(tok, text, sharedEnd, format.addBos);
    return {
      kind: 'generate', id: ex.id, ids, split, maxTokens, stopAtNewline: format.style === 'plain', gold: ex.answer,
      score: (out) => dataset.score(ex, out),
    };
  });
  return { items, promptStyle: format.style, templateSource: format.source };
}
