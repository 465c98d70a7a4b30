/**
 * Calibration text for fitting a fuser: (context, continuation) pairs. The map is fitted on the
 * K/V rows of the whole text (context and continuation, both models reading it); the gate is
 * chosen on held-out pairs by the receiver's loss on the continuation's scored part (from
 * `scoreFrom`, a character index into `continuation`) given only the fused context.
 *
 * Default source: the task suite's *train* split (seed 1, names and needles disjoint from the test
 * split by construction, src/eval/tasks), the formats the zoo models were trained on:
 * context = the task context, continuation = "\nQuestion: ...\nAnswer: <gold>", scored from the
 * gold answer. Plain text files give more general calibration (one passage per line, split at the
 * sentence boundary nearest its middle, the second half scored whole).
 */
import { readFileSync } from 'node:fs';
import { KvwireError } from '../errors.js';
import { formatPrompt, formatTarget, getTask, TASK_NAMES, type TaskName } from '../eval/tasks/index.js';

export interface CalibItem {
  id: string;
  /** What the sharer reads (and, when fitting, both models). */
  context: string;
  /** What follows it; the receiver's part. */
  continuation: string;
  /** Character index into `continuation` where the scored part begins (≥ 1 token in). */
  scoreFrom: number;
}

/** Tasks whose contexts are short enough for calibration by default (needle needs Gutenberg and is long). */
export const DEFAULT_CALIB_TASKS: readonly TaskName[] = ['facts', 'twohop', 'arith', 'instr'];

/** `n` train-split examples, spread round-robin over `tasks` (deterministic in seed). */
export function taskCalibration(tasks: readonly string[], n: number, seed = 1): CalibItem[] {
  for (const t of tasks) {
    if (!(TASK_NAMES as readonly string[]).includes(t)) throw new KvwireError('BAD_ARGUMENT', `unknown calibration task ${JSON.stringify(t)}; one of ${TASK_NAMES.join(', ')}`, { path: 'calib' });
  }
  const per = tasks.map((_, i) => Math.floor(n / tasks.length) + (i < n % tasks.length ? 1 : 0));
  const byTask = tasks.map((t, i) => getTask(t).generate({ split: 'train', n: per[i], seed } as never));
  const out: CalibItem[] = [];
  for (let k = 0; out.length < n; k++) {
    for (const list of byTask) {
      const ex = list[k];
      if (!ex || out.length >= n) continue;
      const prompt = formatPrompt(ex);
      const rest = prompt.slice(ex.context.length);
      out.push({ id: ex.id, context: ex.context, continuation: rest + formatTarget(ex), scoreFrom: rest.length });
    }
  }
  return out;
}

/** Passages of a text file (one per non-empty line), each split near its middle sentence boundary. */
export function textCalibration(file: string, n?: number): CalibItem[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new KvwireError('FILE_NOT_FOUND', `calibration text not found: ${file}`, { path: file, cause });
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length >= 40);
  return lines.slice(0, n ?? lines.length).map((line, i) => {
    const mid = Math.floor(line.length / 2);
    let cut = line.indexOf('. ', mid);
    if (cut < 0 || cut > line.length - 10) cut = line.indexOf(' ', mid);
    cut = cut < 0 ? mid : cut + 1;
    return { id: `${file}:${i}`, context: line.slice(0, cut), continuation: line.slice(cut), scoreFrom: 1 };
  });
}
