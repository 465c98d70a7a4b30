/**
 * Needle in a haystack over Paul Graham's essays (Kamradt's test, in RULER's wording): a grid of
 * prompt lengths × needle depths, `perCell` examples each. Each example is seeded by
 * (seed, length, depth, i): a random city as key, a random 7-digit number as value, and a random
 * starting sentence in the essays (read in file-name order, wrapping around).
 *
 * Lengths are in the model's tokens (pass its `countTokens`; default ~4 characters per token):
 * the plain prompt is at most `length` tokens (a chat template adds its own few). Depth is the
 * fraction of the haystack's tokens before the needle, 0 = first sentence, 1 = last; the needle
 * goes at the sentence boundary nearest to it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvwireError } from '../../errors.js';
import { dataPath } from '../../util/data.js';
import { containsAll } from '../extract.js';
import { approxTokens, hash32, Rng, type CountTokens } from '../tasks/index.js';
import { pickIndices, sentences } from './sample.js';
import type { DatasetExample, GenerationDataset, LoadOptions, PromptParts } from './types.js';

const DIR = 'datasets/niah_paulgraham/essays';

export const NIAH_LENGTHS: readonly number[] = [1024, 2048, 4096];
export const NIAH_DEPTHS: readonly number[] = [0, 0.25, 0.5, 0.75, 1];

const KEYS = ['Lisbon', 'Nairobi', 'Osaka', 'Quito', 'Tbilisi', 'Hanoi', 'Oslo', 'Dakar', 'Lima', 'Perth', 'Tallinn',
  'Bogota', 'Accra', 'Zagreb', 'Manila', 'Havana', 'Muscat', 'Riga', 'Cusco', 'Porto', 'Hobart', 'Kyoto', 'Sapporo',
  'Valletta', 'Windhoek', 'Tromso', 'Asmara', 'Bergen', 'Cordoba', 'Durban'];

const INTRO = 'Some special magic numbers are hidden within the following text. Make sure to memorize them. I will quiz you about the numbers afterwards.\n';

export interface NiahOptions extends LoadOptions {
  lengths?: readonly number[];
  depths?: readonly number[];
  /** Examples per (length, depth) cell (default 1). */
  perCell?: number;
}

let corpus: { root: string; sentences: string[] } | null = null;

/** The essays as one list of sentences, whitespace collapsed (read once per data folder). */
function essaySentences(): string[] {
  const root = dataPath(DIR);
  if (corpus?.root !== root) {
    const files = readdirSync(root).filter((f) => f.endsWith('.txt')).sort();
    if (files.length === 0) throw new KvwireError('DATA_MISSING', `${root}: no essays (*.txt)`, { path: root });
    const text = files.map((f) => readFileSync(join(root, f), 'utf8').replace(/\s+/g, ' ').trim()).join(' ');
    corpus = { root, sentences: sentences(text) };
  }
  return corpus.sentences;
}

function checkGrid(name: string, values: readonly number[], ok: (v: number) => boolean, what: string): void {
  if (!Array.isArray(values) || values.length === 0 || !values.every(ok)) {
    throw new KvwireError('BAD_ARGUMENT', `niah: ${name} must be a non-empty list of ${what}, got ${JSON.stringify(values)}`, { path: name });
  }
}

function generate(o: NiahOptions): DatasetExample[] {
  const lengths = o.lengths ?? NIAH_LENGTHS;
  const depths = o.depths ?? NIAH_DEPTHS;
  const perCell = o.perCell ?? 1;
  const seed = o.seed ?? 0;
  checkGrid('lengths', lengths, (v) => Number.isInteger(v) && v >= 128, 'integers >= 128');
  checkGrid('depths', depths, (v) => v >= 0 && v <= 1, 'numbers in [0, 1]');
  if (!Number.isInteger(perCell) || perCell < 1) throw new KvwireError('BAD_ARGUMENT', `niah: perCell must be a positive integer, got ${perCell}`, { path: 'perCell' });
  const count: CountTokens = o.countTokens ?? approxTokens;
  const sents = essaySentences();
  const sentTokens = new Map<number, number>();
  const tokensOf = (i: number) => {
    let t = sentTokens.get(i);
    if (t === undefined) sentTokens.set(i, (t = count(' ' + sents[i])));
    return t;
  };
  const grid: Array<{ length: number; depth: number; i: number }> = [];
  for (const length of lengths) for (const depth of depths) for (let i = 0; i < perCell; i++) grid.push({ length, depth, i });
  return pickIndices(grid.length, { n: o.n, start: o.start }, 'niah').map((g) => {
    const { length, depth, i } = grid[g];
    const rng = new Rng(hash32(`niah:${seed}:${length}:${depth}:${i}`));
    const key = rng.pick(KEYS);
    const value = String(rng.int(1_000_000, 9_999_999));
    const needle = `The special magic number for ${key} is: ${value}.`;
    const question = `What is the special magic number for ${key} mentioned in the provided text?`;
    const answerPrefix = `The special magic number for ${key} mentioned in the provided text is`;
    const budget = length - count(`${INTRO}${needle}\n${question} ${answerPrefix}`) - 8;
    if (budget < 16) throw new KvwireError('BAD_ARGUMENT', `niah: length ${length} leaves no room for a haystack`, { path: 'lengths' });
    // Take sentences from a random start until the (additive estimate of the) budget is met,
    // then drop sentences while the real count is over it.
    const start = rng.int(0, sents.length - 1);
    const picked: number[] = [];
    let estimate = 0;
    for (let k = 0; k < sents.length; k++) {
      const s = (start + k) % sents.length;
      if (estimate + tokensOf(s) > budget) break;
      picked.push(s);
      estimate += tokensOf(s);
    }
    while (picked.length > 1 && count(picked.map((s) => sents[s]).join(' ')) > budget) picked.pop();
    // Fill the rest of the budget with the words of the next sentence (binary search on words).
    const hay = picked.map((s) => sents[s]);
    const next = sents[(start + picked.length) % sents.length].split(' ');
    let [lo, hi] = [0, next.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (count([...hay, next.slice(0, mid).join(' ')].join(' ')) <= budget) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) hay.push(next.slice(0, lo).join(' '));
    // The boundary whose share of tokens before it is nearest to the depth.
    const sizes = hay.map((h, j) => (j < picked.length ? tokensOf(picked[j]) : count(' ' + h)));
    const total = sizes.reduce((a, b) => a + b, 0);
    let at = 0;
    let before = 0;
    let best = Infinity;
    for (let j = 0; j <= hay.length; j++) {
      const gap = Math.abs(before / total - depth);
      if (gap < best) [best, at] = [gap, j];
      if (j < hay.length) before += sizes[j];
    }
    const haystackSentences = hay.length;
    hay.splice(at, 0, needle);
    return {
      id: `niah-${seed}-${length}-${depth}-${i}`, task: 'niah', context: INTRO + hay.join(' '), question, answer: value,
      meta: { length, depth, key, references: [value], answerPrefix, needleSentence: at, haystackSentences },
    } satisfies DatasetExample;
  });
}

export const niah: GenerationDataset = {
  name: 'niah',
  kind: 'generate',
  description: 'needle in a haystack over Paul Graham essays: lengths x depths grid, seeded keys and values',
  files: [DIR],
  maxTokens: 32,
  load: (options = {}) => generate(options as NiahOptions),
  parts(ex): PromptParts {
    return { shared: ex.context, ask: `\n${ex.question}`, answerPrefix: ` ${ex.meta.answerPrefix as string}` };
  },
  score(ex, output) {
    return containsAll(output, ex.meta.references as string[]);
  },
};
