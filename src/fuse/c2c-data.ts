/**
 * Training data for the trained C2C fuser (training/c2c/), exported from kvwire's side so that
 * the GPU machine needs no tokenizer logic of its own: every sequence is pre-tokenized exactly as
 * `kvwire fuse-eval` builds it, and aligned.
 *
 * One example = one task-suite prompt, split as the evaluation splits it (src/eval/datasets
 * splitTokens on the sharer's tokenizer):
 *
 *   s      the sharer's context tokens, BOS first (what the sharer prefills)
 *   q      the receiver's tokens of questionText + gold target (questionText = the sharer's
 *          question tokens decoded, which is what fuse-eval hands the receiver)
 *   from   index into q of the first scored (gold answer) token
 *   r      the receiver's tokens of the context text, BOS first (never shown to the receiver in
 *          the protocol: only the auxiliary reconstruction target is read from it)
 *   s2r    per sharer token of s, the receiver token of r it overlaps most (−1: none / BOS)
 *
 * Train examples come from the task suite's *train* split with a seed the zoo models were not
 * trained on (they memorised their seed-1 train set, training/README.md), validation from another.
 * Files: pair.json (both models' FuserModelInfo, pairing, alignment, counts), train.jsonl.gz,
 * val.jsonl.gz.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensure } from '../errors.js';
import { splitTokens } from '../eval/datasets/items.js';
import { formatPrompt, formatTarget, getTask, TASK_NAMES, type Example, type TaskName } from '../eval/tasks/index.js';
import type { ModelSpec } from '../model/index.js';
import { alignSpans } from './align.js';
import { modelInfo } from './fit.js';
import { pairLayers, type LayerPairing } from './layers.js';
import { tokenSpans } from './offsets.js';

export interface C2CExample {
  id: string;
  task: string;
  s: number[];
  q: number[];
  from: number;
  r: number[];
  s2r: number[];
}

/** One task example as the fuse-eval path sees it (see the file comment). */
export function c2cExample(sharer: ModelSpec, receiver: ModelSpec, task: TaskName, ex: Example): C2CExample | null {
  const sTok = sharer.tokenizer;
  const rTok = receiver.tokenizer;
  const prompt = formatPrompt(ex);
  const { ids, split } = splitTokens(sTok, prompt, ex.context.length, true);
  const s = ids.slice(0, split);
  const contextText = sTok.decode(s);
  const questionText = sTok.decode(ids.slice(split));
  const q = rTok.encode(questionText + formatTarget(ex));
  const head = rTok.encode(questionText);
  let k = 0;
  while (k < head.length && k < q.length && head[k] === q[k]) k++;
  const from = Math.max(1, k);
  if (from >= q.length) return null;
  const r = rTok.encode(contextText, { addBos: true });
  // Roles swapped: each *sharer* token takes the receiver token it overlaps most.
  const s2r = alignSpans(tokenSpans(sTok, s, contextText), tokenSpans(rTok, r, contextText), 'longest');
  if (sTok.bosId !== null && s[0] === sTok.bosId) s2r[0] = -1;
  return { id: ex.id, task, s, q, from, r, s2r: Array.from(s2r, (j) => (rTok.bosId !== null && j === 0 && r[0] === rTok.bosId ? -1 : j)) };
}

export interface C2CExportOptions {
  /** Examples per task, train and validation. */
  train: Partial<Record<TaskName, number>>;
  val: Partial<Record<TaskName, number>>;
  trainSeed?: number;
  valSeed?: number;
  pairing?: LayerPairing;
  onProgress?: (message: string) => void;
}

/** Writes pair.json, train.jsonl.gz and val.jsonl.gz under `dir`. */
export function exportC2CData(sharer: ModelSpec, receiver: ModelSpec, dir: string, o: C2CExportOptions): { train: number; val: number } {
  const pairing = o.pairing ?? 'last';
  mkdirSync(dir, { recursive: true });
  const counts = { train: 0, val: 0 };
  for (const [part, spec, seed] of [['train', o.train, o.trainSeed ?? 11], ['val', o.val, o.valSeed ?? 13]] as const) {
    const lines: string[] = [];
    for (const [task, n] of Object.entries(spec) as Array<[TaskName, number]>) {
      ensure((TASK_NAMES as readonly string[]).includes(task), 'BAD_ARGUMENT', `unknown task ${task}`);
      const countTokens = (text: string) => sharer.tokenizer.encode(text, { addBos: true }).length;
      const exs = getTask(task).generate({ split: 'train', n, seed, countTokens } as never);
      for (const ex of exs) {
        const e = c2cExample(sharer, receiver, task, ex);
        if (e) lines.push(JSON.stringify(e));
      }
      o.onProgress?.(`${part} ${task}: ${exs.length} examples`);
    }
    writeFileSync(join(dir, `${part}.jsonl.gz`), gzipSync(lines.join('\n') + '\n'));
    counts[part] = lines.length;
  }
  const pair = {
    sharer: modelInfo(sharer), receiver: modelInfo(receiver), pairing, alignment: 'longest',
    sharerLayerOf: Array.from(pairLayers(sharer.config.layers, receiver.config.layers, pairing)),
    counts, trainSeed: o.trainSeed ?? 11, valSeed: o.valSeed ?? 13, split: 'train', tasks: { train: o.train, val: o.val },
  };
  writeFileSync(join(dir, 'pair.json'), JSON.stringify(pair, null, 1));
  return counts;
}
