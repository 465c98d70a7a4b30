/**
 * `needle`: passkey / needle retrieval in long natural text. A haystack of consecutive paragraphs
 * from one book of the split (see corpus.ts for which books are train and which test) holds one
 * needle sentence at a seeded depth, inserted at a sentence boundary:
 *
 *   passkey: "The secret passkey is 48213."                  Q: What is the secret passkey?
 *   magic:   "The special magic number for quiet-river is 48213."
 *                                                            Q: What is the special magic number for quiet-river?
 *
 * Length: the whole prompt (context + question + "Answer:") has at most `length` tokens of the
 * given `countTokens` (default: ceil(chars / 4)) and as many as the haystack allows below that,
 * within 10% in practice. Needle values are 5-digit numbers and magic keys adjective-noun pairs,
 * split between train and test by hash (pools.ts), and never found elsewhere in the haystack.
 *
 * Example i draws its book, start paragraph, value, key and depth from (split, seed, i) alone, not
 * from the length: the same seed at 512 and at 8192 tokens gives the same needle at the same
 * relative depth in a longer stretch of the same text (a controlled length sweep). Ids carry the
 * length ("needle-test-0-17@2048") so sets of several lengths can be merged.
 */
import { KvwireError } from '../../errors.js';
import { bookText, splitBooks, type Book } from './corpus.js';
import { formatPrompt } from './format.js';
import { ADJECTIVES, NOUNS, splitOf } from './pools.js';
import { rngFor, type Rng } from './rng.js';
import { scoreShort } from './score.js';
import { checkInt, checkOneOf, exampleId, generateEach, type Example, type GenerateOptions, type Split, type Task } from './types.js';

export type NeedleVariant = 'passkey' | 'magic';
export const NEEDLE_VARIANTS: readonly NeedleVariant[] = ['passkey', 'magic'];
export const NEEDLE_LENGTHS: readonly number[] = [512, 1024, 2048, 4096, 8192];

export type CountTokens = (text: string) => number;

/** The default token count: one token per four characters, rounded up. */
export const approxTokens: CountTokens = (text) => Math.ceil(text.length / 4);

export interface NeedleOptions {
  /** Target prompt length in tokens, or a list cycled over the examples. Default 1024. */
  length?: number | readonly number[];
  /** Token counter of the model's tokenizer. Default approxTokens. */
  countTokens?: CountTokens;
  /** Needle depth in [0, 1] (0 = start of the context). Default: uniform per example. */
  depth?: number;
  /** Default: drawn per example. */
  variant?: NeedleVariant;
  /** Extra magic-number needles for other keys (magic variant only, 0-8). Default 0. */
  distractors?: number;
}

function drawValue(rng: Rng, split: Split, avoid: (v: string) => boolean): string {
  for (let tries = 0; tries < 100_000; tries++) {
    const v = String(rng.int(10000, 99999));
    if (splitOf('needle-value', v) === split && !avoid(v)) return v;
  }
  throw new KvwireError('BAD_ARGUMENT', 'needle: could not draw a passkey absent from the haystack');
}

function drawKey(rng: Rng, split: Split, taken: Set<string>): string {
  for (let tries = 0; tries < 100_000; tries++) {
    const k = `${rng.pick(ADJECTIVES)}-${rng.pick(NOUNS)}`;
    if (splitOf('needle-key', k) === split && !taken.has(k)) {
      taken.add(k);
      return k;
    }
  }
  throw new Error('needle key pool exhausted');
}

/** `chars` characters of consecutive text from the split's books, starting at a paragraph. */
function haystackSource(rng: Rng, split: Split, chars: number): { text: string; book: Book } {
  const books = splitBooks(split);
  const first = rng.int(0, books.length - 1);
  const book = books[first];
  let text = bookText(book);
  // Skip the front matter (title page, contents): start past the first 5% of the book.
  const lo = Math.floor(text.length * 0.05);
  const hi = Math.max(lo, text.length - chars);
  let start = text.indexOf('\n', rng.int(lo, hi));
  start = start < 0 ? lo : start + 1;
  text = text.slice(start, start + chars);
  for (let j = 1; text.length < chars && j < books.length; j++) {
    text += '\n' + bookText(books[(first + j) % books.length]).slice(0, chars - text.length);
  }
  return { text, book };
}

/** Positions just after each sentence end (".", "!" or "?", maybe a closing quote) or paragraph end. */
function sentenceEnds(text: string): number[] {
  const ends: number[] = [];
  const re = /[.!?]["'”’)\]]*(?=\s)|\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) ends.push(m[0] === '\n' ? m.index : m.index + m[0].length);
  ends.push(text.length);
  return [...new Set(ends)].filter((e) => e > 0);
}

/** Inserts each needle at the sentence boundary of `text` nearest its depth; `at` is each one's depth in [0, 1]. */
function insertNeedles(text: string, ends: number[], needles: ReadonlyArray<{ sentence: string; depth: number }>): { context: string; at: number[] } {
  const bounds = [0, ...ends.filter((e) => e < text.length), text.length];
  const taken = new Set<number>();
  const spots = needles.map((n) => {
    const want = n.depth * text.length;
    let best = -1;
    for (const b of bounds) if (!taken.has(b) && (best < 0 || Math.abs(b - want) < Math.abs(best - want))) best = b;
    taken.add(best);
    return best;
  });
  const order = needles.map((_, i) => i).sort((a, b) => spots[b] - spots[a]);
  let out = text;
  for (const i of order) {
    const p = spots[i];
    const s = needles[i].sentence;
    // At a paragraph end the needle becomes its own paragraph; inside one, a sentence of it.
    const sep = out[p] === '\n' ? '\n' : ' ';
    out = p === 0 ? `${s}${out[0] === '\n' ? '' : ' '}${out}` : p >= out.length ? `${out} ${s}` : `${out.slice(0, p)}${sep}${s}${out.slice(p)}`;
  }
  return { context: out, at: spots.map((p) => (text.length === 0 ? 0 : p / text.length)) };
}

export const needle: Task<NeedleOptions> = {
  name: 'needle',
  description: 'passkey / magic-number retrieval in Gutenberg text at a target token length (512-8192) and seeded depth',
  generate(o: GenerateOptions & NeedleOptions) {
    const lengths = o.length === undefined ? [1024] : typeof o.length === 'number' ? [o.length] : [...o.length];
    if (lengths.length === 0) throw new KvwireError('BAD_ARGUMENT', 'needle: length list is empty', { path: 'length' });
    for (const l of lengths) checkInt('needle', 'length', l, 64, 1_048_576);
    if (o.depth !== undefined && !(typeof o.depth === 'number' && o.depth >= 0 && o.depth <= 1)) {
      throw new KvwireError('BAD_ARGUMENT', `needle: depth must be a number in [0, 1], got ${JSON.stringify(o.depth)}`, { path: 'depth' });
    }
    checkOneOf('needle', 'variant', o.variant, NEEDLE_VARIANTS);
    if (o.distractors !== undefined) checkInt('needle', 'distractors', o.distractors, 0, 8);
    const count = o.countTokens ?? approxTokens;
    return generateEach('needle', o, (i): Example => {
      const rng = rngFor('needle', o.split, o.seed, i);
      const target = lengths[i % lengths.length];
      const variant = o.variant ?? rng.pick(NEEDLE_VARIANTS);
      const depth = o.depth ?? rng.float();
      let chars = target * 8 + 2000;
      for (let attempt = 0; ; attempt++) {
        const { text, book } = haystackSource(rng, o.split, chars);
        const keys = new Set<string>();
        const values = new Set<string>();
        const avoid = (v: string) => values.has(v) || text.includes(v);
        const value = drawValue(rng, o.split, avoid);
        values.add(value);
        const key = variant === 'magic' ? drawKey(rng, o.split, keys) : undefined;
        const needles = [{ sentence: key ? `The special magic number for ${key} is ${value}.` : `The secret passkey is ${value}.`, depth }];
        const nDistract = variant === 'magic' ? o.distractors ?? 0 : 0;
        for (let d = 0; d < nDistract; d++) {
          const v = drawValue(rng, o.split, avoid);
          values.add(v);
          needles.push({ sentence: `The special magic number for ${drawKey(rng, o.split, keys)} is ${v}.`, depth: rng.float() });
        }
        const question = key ? `What is the special magic number for ${key}?` : 'What is the secret passkey?';
        const ends = sentenceEnds(text);
        const build = (cut: number) => {
          const hay = text.slice(0, cut);
          const { context, at } = insertNeedles(hay, ends.filter((e) => e <= cut), needles);
          return { context, at, tokens: count(formatPrompt({ id: '', task: 'needle', context, question, answer: value, meta: {} })) };
        };
        // The longest haystack (cut at a sentence end) whose prompt fits in `target` tokens.
        if (build(0).tokens > target) {
          throw new KvwireError('BAD_ARGUMENT', `needle: length ${target} is too small to hold the needle and question`, { path: 'length' });
        }
        let lo = -1;
        let hi = ends.length - 1;
        while (lo < hi) {
          const mid = Math.ceil((lo + hi + 1) / 2);
          if (build(ends[mid]).tokens <= target) lo = mid; else hi = mid - 1;
        }
        if (lo === ends.length - 1 && text.length < chars - 1 && attempt === 0) {
          throw new KvwireError('DATA_MISSING', `needle: the ${o.split} books hold too little text for ${target} tokens`, { path: 'corpora/gutenberg' });
        }
        if (lo === ends.length - 1 && attempt < 4) { chars *= 2; continue; } // the counter packs more text per token than assumed
        let best = build(lo >= 0 ? ends[lo] : 0);
        if (best.tokens < 0.9 * target && lo + 1 < ends.length) {
          // One very long sentence: refine word by word inside it.
          const from = lo >= 0 ? ends[lo] : 0;
          const spaces: number[] = [];
          for (let p = text.indexOf(' ', from + 1); p > 0 && p < ends[lo + 1]; p = text.indexOf(' ', p + 1)) spaces.push(p);
          let a = -1;
          let b = spaces.length - 1;
          while (a < b) {
            const mid = Math.ceil((a + b + 1) / 2);
            if (build(spaces[mid]).tokens <= target) a = mid; else b = mid - 1;
          }
          if (a >= 0) best = build(spaces[a]);
        }
        return {
          id: `${exampleId('needle', o, i)}@${target}`,
          task: 'needle',
          context: best.context,
          question,
          answer: value,
          meta: {
            variant, ...(key ? { key } : {}), targetTokens: target, tokens: best.tokens, depth: best.at[0], targetDepth: depth,
            book: book.title, bookFile: book.path.split(/[\\/]/).pop(), distractorNeedles: nDistract,
          },
        };
      }
    });
  },
  score: scoreShort,
};
