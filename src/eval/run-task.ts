/**
 * Runs a task's test examples through a model with its full cache: prompt -> greedy answer ->
 * task scorer. The zoo's models were trained on the same prompt format (src/eval/tasks/format.ts).
 */
import type { Session } from '../engine/index.js';
import type { TextTokenizer } from '../model/index.js';
import { formatPrompt, getTask, type Example, type TaskName } from './tasks/index.js';
import { wilsonInterval } from './stats.js';

export interface TaskRunOptions {
  task: TaskName;
  n: number;
  seed?: number;
  /** Task options (e.g. needle `length`). */
  taskOptions?: Record<string, unknown>;
  /** Answer length cap in tokens (default: 48 for arith, which may show steps, else 12). */
  maxTokens?: number;
  onExample?: (done: number, correct: number) => void;
}

export interface TaskRunResult {
  task: TaskName;
  n: number;
  correct: number;
  accuracy: number;
  ci95: { low: number; high: number };
  /** Mean prompt length in tokens. */
  meanPromptTokens: number;
  examples: Array<{ id: string; output: string; correct: boolean; promptTokens: number }>;
}

export function taskExamples(task: TaskName, n: number, tokenizer: TextTokenizer, seed = 0, taskOptions: Record<string, unknown> = {}): Example[] {
  const countTokens = (text: string) => tokenizer.encode(text, { addBos: true }).length;
  return getTask(task).generate({ split: 'test', n, seed, countTokens, ...taskOptions } as never);
}

export async function runTask(session: Session, options: TaskRunOptions): Promise<TaskRunResult> {
  const tok = session.spec.tokenizer;
  const task = getTask(options.task);
  const examples = taskExamples(options.task, options.n, tok, options.seed ?? 0, options.taskOptions);
  const maxTokens = options.maxTokens ?? (options.task === 'arith' ? 48 : 12);
  const rows: TaskRunResult['examples'] = [];
  let correct = 0;
  let promptTokens = 0;
  for (const ex of examples) {
    const prompt = tok.encode(formatPrompt(ex), { addBos: true });
    promptTokens += prompt.length;
    const { tokens } = await session.generate(prompt, {
      maxTokens,
      until: (t) => tok.decode(t).includes('\n'),
    });
    const output = tok.decode(tokens);
    const ok = task.score(ex, output);
    if (ok) correct++;
    rows.push({ id: ex.id, output, correct: ok, promptTokens: prompt.length });
    options.onExample?.(rows.length, correct);
  }
  const n = examples.length;
  return {
    task: options.task, n, correct, accuracy: n ? correct / n : 0, ci95: wilsonInterval(correct, n),
    meanPromptTokens: n ? promptTokens / n : 0, examples: rows,
  };
}
