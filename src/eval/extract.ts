/**
 * Answer extraction from the free-form outputs of real models (chat or base), for the datasets in
 * ./datasets: a GSM8K final number and a multiple-choice letter. Unlike the task suite's scorers
 * (tasks/score.ts, made for tiny models that answer on one line), these read answers that come
 * after a lead-in ("The correct answer is (B) ...", "#### 1,250", "**C**", "$18.00 per day").
 *
 * Rules, in order, and why:
 * - GSM8K: the number after the last "####" (the dataset's own answer marker); else the number
 *   after the last explicit answer statement ("answer is", "Answer:", \boxed{}); else the last
 *   number in the output (lm-eval's "flexible extract": without chain of thought a model that
 *   writes more than the answer usually ends on it).
 * - Choices: an explicit statement ("answer is B", "Answer: (B)") first, then a letter that opens
 *   the output ("B", "(B)", "B)", "B. text"), then an option's text that opens the output, then
 *   the one option whose text the first line quotes. A lone "A" followed by words is read as the
 *   article unless those words are option A's text.
 */

// ---------------------------------------------------------------------------------------------
// Numbers

/**
 * A number as people write it: optional sign (ASCII or U+2212) or "$", digits with optional
 * thousands commas, optional decimals. The sign must not follow a word character, so "3-2"
 * yields 3 and 2, not 3 and -2.
 */
const NUMBER = /(?<![\w.])(?:[-\u2212]\s?)?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?/g;

/** Every number in `text` as a canonical decimal string ("-1250", "3.5", "18"), in order. */
export function numbersIn(text: string): string[] {
  return Array.from(text.matchAll(NUMBER), (m) => canonicalNumber(m[0])).filter((s): s is string => s !== undefined);
}

/** "$1,250.00" -> "1250", "−3.50" -> "-3.5", "007" -> "7"; undefined when not a number. */
export function canonicalNumber(raw: string): string | undefined {
  const s = raw.replace(/[\s$,]/g, '').replace('\u2212', '-');
  if (!/^-?\d+(?:\.\d+)?$/.test(s)) return undefined;
  const x = Number(s);
  if (!Number.isFinite(x)) return undefined;
  return String(Object.is(x, -0) ? 0 : x);
}

/** Whether two number strings denote the same value (1e-9 relative tolerance, for "0.1+0.2" style floats). */
export function numbersEqual(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const x = Number(canonicalNumber(a));
  const y = Number(canonicalNumber(b));
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
}

/** The gold answer of a GSM8K record's `answer` field: the number after "####". */
export function gsm8kGold(answerField: string): string | undefined {
  const at = answerField.lastIndexOf('####');
  if (at < 0) return undefined;
  return numbersIn(answerField.slice(at + 4))[0];
}

const ANSWER_STATEMENT = /(?:final\s+answer|answer|result|total)\s*(?:is|=|:|would\s+be|will\s+be)?\s*[:=]?|\\boxed\s*\{/gi;

/** The final number a model's GSM8K output gives (see the rules at the top), or undefined. */
export function extractGsm8kAnswer(output: string): string | undefined {
  const text = output.replace(/\r\n?/g, '\n');
  const hashes = text.lastIndexOf('####');
  if (hashes >= 0) {
    const n = numbersIn(text.slice(hashes + 4))[0];
    if (n !== undefined) return n;
  }
  let last: number | undefined;
  for (const m of text.matchAll(ANSWER_STATEMENT)) last = m.index! + m[0].length;
  if (last !== undefined) {
    // Only the statement's own line: "The answer is 5.\nQuestion 2 ..." must give 5.
    const rest = text.slice(last);
    const line = rest.slice(0, rest.indexOf('\n') < 0 ? rest.length : rest.indexOf('\n'));
    const n = numbersIn(line)[0];
    if (n !== undefined) return n;
  }
  const all = numbersIn(text);
  return all.length ? all[all.length - 1] : undefined;
}

/** GSM8K scoring: the extracted number equals the gold number. */
export function scoreGsm8k(gold: string, output: string): boolean {
  return numbersEqual(extractGsm8kAnswer(output), gold);
}

// ---------------------------------------------------------------------------------------------
// Multiple choice

export const CHOICE_LETTERS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'] as const;

/** Case-folded words (letters and digits) of a string: for comparing option texts. */
function words(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+(?:['’\-.][\p{L}\p{N}]+)*/gu) ?? [];
}

function startsWithWords(hay: string[], needle: string[], at = 0): boolean {
  return needle.length > 0 && needle.every((w, j) => hay[at + j] === w);
}

function containsWords(hay: string[], needle: string[]): boolean {
  for (let i = 0; i + needle.length <= hay.length; i++) if (startsWithWords(hay, needle, i)) return true;
  return false;
}

/** Markdown emphasis, quotes and spaces that may precede a letter: "**B**", "`B`", "“B”". */
const DECOR = /^[\s*_`"'“‘]*/;
/** "answer is", "Answer:", "correct answer would be option", and "option"/"choice" before a letter. */
const STATEMENT = /(?:(?:correct|final|best)\s+)?(?:answer|option|choice)\s*(?:is|would\s+be|:|=|-)\s*(?:option\s+|choice\s+)?|\b(?:option|choice)\s+(?=[([]?[A-H]\b)/gi;

/**
 * The option an output picks, as a letter ('A'..), or undefined. `choices` are the option texts
 * in letter order (their number bounds the letters accepted).
 */
export function extractChoiceLetter(output: string, choices: readonly string[]): string | undefined {
  const letters = CHOICE_LETTERS.slice(0, choices.length) as readonly string[];
  const text = output.replace(/\r\n?/g, '\n').trim();
  const pick = (rest: string, strictA: boolean): string | undefined => {
    const r = rest.replace(DECOR, '');
    // Bracketed, or followed by a closing mark: "(b)", "[B]", "B)", "b.", "B:", "B,", "B**".
    const marked = /^[([]\s*([A-Za-z])\s*[)\]]/.exec(r) ?? /^([A-Za-z])(?:[)\]:,*]|\.(?!\w))/.exec(r);
    if (marked) return letters.includes(marked[1].toUpperCase()) ? marked[1].toUpperCase() : undefined;
    // Bare: upper case only, alone or before a space ("B", "B teal"); a lower-case "a" is a word.
    const bare = /^([A-Z])(?=\s|$)/.exec(r);
    if (!bare || !letters.includes(bare[1])) return undefined;
    const after = r.slice(1);
    if (bare[1] === 'A' && strictA && /^\s+\p{L}/u.test(after)) {
      // "A dog ..." is an article unless the words are option A's text.
      return startsWithWords(words(after), words(choices[0])) ? 'A' : undefined;
    }
    return bare[1];
  };
  // 1. An explicit statement: the first one wins ("The answer is B, not C").
  for (const m of text.matchAll(STATEMENT)) {
    const rest = text.slice(m.index! + m[0].length);
    const letter = pick(rest, false);
    if (letter) return letter;
    const byText = optionAtStart(rest, choices);
    if (byText) return byText;
  }
  // 2. A letter opening the output.
  const first = pick(text, true);
  if (first) return first;
  // 3. An option's text opening the output (longest option first: "red fox" beats "red").
  const byText = optionAtStart(text, choices);
  if (byText) return byText;
  // 4. The one option quoted in the first line.
  const line = words(text.split('\n')[0]);
  const quoted = choices.map((c, i) => ({ i, w: words(c) })).filter(({ w }) => w.length > 0 && containsWords(line, w));
  const distinct = quoted.filter((q) => !quoted.some((o) => o !== q && o.w.length > q.w.length && containsWords(o.w, q.w)));
  return distinct.length === 1 ? letters[distinct[0].i] : undefined;
}

function optionAtStart(text: string, choices: readonly string[]): string | undefined {
  let w = words(text);
  if (['the', 'an'].includes(w[0] ?? '')) w = w.slice(1);
  const order = choices.map((c, i) => ({ i, w: words(c) })).sort((a, b) => b.w.length - a.w.length);
  for (const o of order) if (startsWithWords(w, o.w)) return CHOICE_LETTERS[o.i];
  return undefined;
}

/** Multiple-choice scoring: the extracted letter equals the gold letter. */
export function scoreChoiceLetter(gold: string, choices: readonly string[], output: string): boolean {
  return extractChoiceLetter(output, choices) === gold.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Retrieval

/**
 * RULER's string_match_all for one example: every reference appears in the output
 * (case-insensitive). Retrieval answers (UUIDs, 7-digit numbers) are too specific to appear by
 * chance, so searching the whole output is safe here, unlike for option letters.
 */
export function containsAll(output: string, references: readonly string[]): boolean {
  const o = output.toLowerCase();
  return references.length > 0 && references.every((r) => o.includes(r.toLowerCase()));
}
