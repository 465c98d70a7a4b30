/**
 * The text a model is trained and evaluated on. One format for every task:
 *
 *   {context}
 *   Question: {question}
 *   A) {choice}          (multiple choice only, one line per option)
 *   Answer:
 *
 * and the target is the gold continuation with its leading space: " B", " Kelt", " 48213", or for
 * worked arithmetic " 7 + 5 = 12. 12 - 3 = 9. #### 9".
 */
import { LETTERS, type Example } from './types.js';

/** The prompt, up to and including "Answer:" (no trailing space). */
export function formatPrompt(example: Example): string {
  const options = (example.choices ?? []).map((c, i) => `${LETTERS[i]}) ${c}\n`).join('');
  return `${example.context}\nQuestion: ${example.question}\n${options}Answer:`;
}

/** The gold continuation of the prompt, with its leading space. */
export function formatTarget(example: Example): string {
  return ' ' + (example.solution ?? example.answer);
}

/**
 * An example as one line of an export: its fields, `length` (the target prompt length in tokens,
 * for the length-graded needle task only), then `prompt` and `target`.
 */
export interface ExampleRecord extends Example {
  length?: number;
  prompt: string;
  target: string;
}

export function toRecord(example: Example): ExampleRecord {
  const length = example.meta.targetTokens;
  return {
    ...example,
    ...(typeof length === 'number' ? { length } : {}),
    prompt: formatPrompt(example),
    target: formatTarget(example),
  };
}
