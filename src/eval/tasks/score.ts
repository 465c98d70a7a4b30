/**
 * Scorers: read a small model's raw continuation (the text after "Answer:") and decide whether it
 * gives the gold answer. They trim, case-fold, stop at the first line, skip lead-ins such as
 * "The answer is", and read the first answer-like token; they never search the whole output for
 * the gold string (a model that rambles through every option must not be scored right).
 */
import { LETTERS, type Example } from './types.js';

const LEAD_INS = /^(?:(?:the\s+)?(?:correct\s+|final\s+)?answer\s*(?:is|:)?|it\s+is|it's|option|choice)\s*[:\-]?\s*/i;

/** The part of an output that holds the answer: its first non-empty line, cut before "Question:", lead-ins removed. */
export function answerSpan(output: string): string {
  let text = output.replace(/\r\n?/g, '\n').trim();
  const nl = text.indexOf('\n');
  if (nl >= 0) text = text.slice(0, nl);
  const q = text.search(/question\s*:/i);
  if (q >= 0) text = text.slice(0, q);
  text = text.trim();
  for (let i = 0; i < 3; i++) {
    const stripped = text.replace(LEAD_INS, '');
    if (stripped === text) break;
    text = stripped;
  }
  return text.trim();
}

/** Case-folded words of a string (letters, digits, inner apostrophes and hyphens). */
export function words(text: string): string[] {
  return (text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+(?:['’\-][\p{L}\p{N}]+)*/gu) ?? []);
}

/**
 * The option an output picks, as a letter, or undefined. Accepts "B", "b", "B)", "(B)", "B.",
 * "B) teal", "teal", "The answer is B." and "Answer: (b) teal".
 */
export function extractChoice(output: string, choices: readonly string[]): string | undefined {
  const span = answerSpan(output);
  const letters = LETTERS.slice(0, choices.length);
  // A letter set off by brackets or punctuation, or alone: "(b)", "B)", "c.", "D".
  const marked = /^\(?\s*([a-z])\s*(?:\)|\]|\.|:|,|$)/i.exec(span) ?? /^\[\s*([a-z])\s*\]/i.exec(span);
  if (marked && letters.includes(marked[1].toUpperCase() as (typeof LETTERS)[number])) return marked[1].toUpperCase();
  // The text of an option at the start (longest first, so "red fox" beats "red").
  const spanWords = words(span);
  const order = choices.map((c, i) => ({ i, w: words(c) })).sort((a, b) => b.w.length - a.w.length);
  for (const { i, w } of order) {
    if (w.length > 0 && w.every((x, j) => spanWords[j] === x)) return LETTERS[i];
  }
  // Skip a leading article ("the teal"), then try the option texts again.
  if (['the', 'a', 'an'].includes(spanWords[0] ?? '')) {
    for (const { i, w } of order) {
      if (w.length > 0 && w.every((x, j) => spanWords[j + 1] === x)) return LETTERS[i];
    }
  }
  // An upper-case letter followed by a space: "B teal".
  const bare = /^([A-Z])\s/.exec(span);
  if (bare && letters.includes(bare[1] as (typeof LETTERS)[number])) return bare[1];
  return undefined;
}

/** Multiple choice: the picked option letter equals the gold letter. */
export function scoreChoice(example: Example, output: string): boolean {
  if (!example.choices) return false;
  return extractChoice(output, example.choices) === example.answer.toUpperCase();
}

/** Short answer: the first words of the answer span (after an optional article) equal the gold words. */
export function scoreShort(example: Example, output: string): boolean {
  const gold = words(example.answer);
  if (gold.length === 0) return false;
  if (/^-?\d[\d,]*(?:\.\d+)?$/.test(example.answer.trim())) return numbersEqual(firstNumber(answerSpan(output)), example.answer);
  let got = words(answerSpan(output));
  if (['the', 'a', 'an'].includes(got[0] ?? '') && got[0] !== gold[0]) got = got.slice(1);
  return gold.every((w, i) => got[i] === w);
}

const NUMBER = /-?\d[\d,]*(?:\.\d+)?/g;

/** The first number in `text`, commas removed, or undefined. */
export function firstNumber(text: string): string | undefined {
  const m = text.match(NUMBER);
  return m ? m[0].replace(/,/g, '') : undefined;
}

/** The last number in `text`, commas removed, or undefined. */
export function lastNumber(text: string): string | undefined {
  const m = text.match(NUMBER);
  return m ? m[m.length - 1].replace(/,/g, '') : undefined;
}

/**
 * The number an arithmetic output gives: the first number after "####" on the first line; else,
 * for worked solutions (or a line of steps with "="), the line's last number; else its first number.
 */
export function extractNumber(output: string, worked: boolean): string | undefined {
  let line = output.replace(/\r\n?/g, '\n').trim();
  const nl = line.indexOf('\n');
  if (nl >= 0) line = line.slice(0, nl);
  const q = line.search(/question\s*:/i);
  if (q >= 0) line = line.slice(0, q);
  const hashes = line.indexOf('####');
  if (hashes >= 0) return firstNumber(line.slice(hashes + 4));
  return worked || line.includes('=') ? lastNumber(line) : firstNumber(answerSpan(line));
}

function numbersEqual(got: string | undefined, gold: string): boolean {
  if (got === undefined) return false;
  const a = Number(got.replace(/,/g, ''));
  const b = Number(gold.replace(/,/g, ''));
  return Number.isFinite(a) && a === b;
}

/** Arithmetic: the extracted number equals the gold number. */
export function scoreNumber(example: Example, output: string): boolean {
  return numbersEqual(extractNumber(output, example.solution !== undefined), example.answer);
}
