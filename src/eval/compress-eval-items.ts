/**
 * The items compress-eval runs: a context (whose cache is compressed) and what the receiver
 * appends after it (a task's question, or the next tokens of a text), plus a scorer for tasks.
 */
import { readFileSync } from 'node:fs';
import { ensure } from '../errors.js';
import type { TextTokenizer } from '../model/index.js';
import { dataPath } from '../util/data.js';
import { taskExamples } from './run-task.js';
import { formatPrompt, getTask, Rng, type Split, type TaskName } from './tasks/index.js';

export interface EvalItem {
  id: string;
  /** BOS + the context's tokens: the cache that is compressed and handed over. */
  context: number[];
  /** Appended at the original positions: the question up to "Answer:", or a text's next tokens. */
  question: number[];
  /** Task items: whether an answer is right. Text items have none (KL and top-1 only). */
  score?: (output: string) => boolean;
  /** Whether context + question tokenizes like the whole prompt (what the model was trained on). */
  sameTokens: boolean;
}

/**
 * A task's test items. The prompt is split where the context ends ("{context}" | "\nQuestion: …
 * Answer:"), each part tokenized on its own, so the context cache is exactly the context's.
 * `split` 'train' gives calibration items for the bottleneck diagnosis (never the test set).
 */
export function taskItems(task: TaskName, n: number, tok: TextTokenizer, seed = 0, taskOptions: Record<string, unknown> = {}, split: Split = 'test'): EvalItem[] {
  const t = getTask(task);
  const countTokens = (text: string) => tok.encode(text, { addBos: true }).length;
  const examples = split === 'test' ? taskExamples(task, n, tok, seed, taskOptions)
    : t.generate({ split, n, seed, countTokens, ...taskOptions } as never);
  return examples.map((ex) => {
    const prompt = formatPrompt(ex);
    ensure(prompt.startsWith(ex.context), 'BAD_ARGUMENT', `${ex.id}: the prompt does not start with the context`);
    const context = tok.encode(ex.context, { addBos: true });
    const question = tok.encode(prompt.slice(ex.context.length), { addBos: false });
    const whole = tok.encode(prompt, { addBos: true });
    const sameTokens = whole.length === context.length + question.length && whole.every((x, i) => x === (i < context.length ? context[i] : question[i - context.length]));
    return { id: ex.id, context, question, score: (output: string) => t.score(ex, output), sameTokens };
  });
}

/** The corpus text items read from (../shared/data). */
export const TEXT_CORPUS = 'corpora/tinyshakespeare/input.txt';

/**
 * Text items: n passages of a corpus at seeded offsets (starting at a line), each BOS +
 * `contextTokens` tokens of context and the next `probeTokens` tokens as what is appended.
 */
export function textItems(n: number, tok: TextTokenizer, options: { seed?: number; contextTokens?: number; probeTokens?: number; corpus?: string } = {}): EvalItem[] {
  const text = readFileSync(dataPath(options.corpus ?? TEXT_CORPUS), 'utf8');
  const C = options.contextTokens ?? 192;
  const P = options.probeTokens ?? 32;
  const rng = new Rng((options.seed ?? 0) ^ 0x7e57);
  const chars = 8 * (C + P); // generously more characters than the tokens needed
  ensure(text.length > 2 * chars, 'BAD_ARGUMENT', `corpus ${options.corpus ?? TEXT_CORPUS} is too short for ${C}+${P}-token passages`);
  const items: EvalItem[] = [];
  for (let i = 0; i < n; i++) {
    let start = Math.floor(rng.next() / 2 ** 32 * (text.length - chars));
    start = text.indexOf('\n', start) + 1;
    const ids = tok.encode(text.slice(start, start + chars), { addBos: true });
    ensure(ids.length >= C + 1 + P, 'BAD_ARGUMENT', `passage at ${start} has only ${ids.length} tokens`);
    items.push({ id: `text-${options.seed ?? 0}-${i}@${start}`, context: ids.slice(0, C + 1), question: ids.slice(C + 1, C + 1 + P), sameTokens: true });
  }
  return items;
}
