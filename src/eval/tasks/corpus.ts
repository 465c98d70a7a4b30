/**
 * Natural haystack text for `needle`: Project Gutenberg books and tiny Shakespeare from the data
 * folder (corpora/gutenberg/*.txt, corpora/tinyshakespeare/input.txt), with the Project Gutenberg
 * header and footer stripped, non-English books left out, and every book assigned to one split.
 *
 * Split policy: books are grouped by a normalized title key (so the two editions of Monte Cristo,
 * War and Peace, Treasure Island, Anna Karenina, Pride and Prejudice, the two volumes of the
 * Carlyle–Emerson letters and the Grimm collections each form one group), and a group is a test
 * group iff hash32(`book:${key}`) % 5 === 0. Train and test haystacks therefore never share a book
 * or an edition of one. `kvwire tasks books` (see README) lists the assignment.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { KvwireError } from '../../errors.js';
import { dataPath, dataRoot } from '../../util/data.js';
import { hash32 } from './rng.js';
import type { Split } from './types.js';

export interface Book {
  /** Group key shared by editions/volumes of one work, e.g. "count of monte cristo". */
  key: string;
  title: string;
  path: string;
  split: Split;
  /** File size in bytes (an upper bound on the text's length in characters). */
  bytes: number;
}

const START = /^[ \t]*\*\*\*\s*START OF[^\n]*$/im;
// The modern "*** END OF" line, or the older footers' first lines ("End of the Project Gutenberg
// Etext", "This file should be named ...", "**The Legal Small Print**").
const END = /^[ \t]*(?:\*\*\*\s*END OF[^\n]*|End of (?:the )?Project Gutenberg[^\n]*|[^\n]*This file should be named[^\n]*|\*\*The Legal Small Print\*\*)$/im;

/** The body of a Project Gutenberg file: the text between the "*** START OF" and "*** END OF" lines. */
export function stripGutenberg(raw: string): string {
  let text = raw.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const start = START.exec(text);
  if (start) text = text.slice(start.index + start[0].length);
  const end = END.exec(text);
  if (end) text = text.slice(0, end.index);
  return text;
}

/**
 * Body text as paragraphs, one per line, whitespace collapsed. Paragraphs without a lower-case
 * letter (headings, "CHAPTER IV"), illustration tags and transcriber credits are dropped.
 */
export function normalizeText(body: string): string {
  const out: string[] = [];
  for (const para of body.split(/\n[ \t]*\n/)) {
    const p = para.replace(/\s+/g, ' ').trim();
    if (p.length === 0 || !/\p{Ll}/u.test(p)) continue;
    if (/^\[Illustration|Project Gutenberg|Distributed Proofreading|^Produced by|^Transcriber/i.test(p)) continue;
    out.push(p);
  }
  return out.join('\n');
}

/** The grouping key of a title: lower case, no accents or punctuation, volumes and "complete" removed. */
export function titleKey(title: string): string {
  let t = title.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  if (t.includes('grimm')) return 'grimm fairy tales';
  t = t.replace(/&/g, ' and ')
    .replace(/\b(?:vol|volume|v)\b\.?.*$/, '')
    .replace(/\bcomplete\b/g, '')
    .replace(/['’]/g, '')
    .replace(/[^a-z]+/g, ' ')
    .trim()
    .replace(/^(?:the|a|an) /, '');
  return t;
}

/** Which split a book group belongs to. */
export function bookSplit(key: string): Split {
  return hash32(`book:${key}`) % 5 === 0 ? 'test' : 'train';
}

const ENGLISH_WORDS = new Set(['the', 'and', 'of', 'to', 'a', 'in', 'that', 'was', 'he', 'it', 'his', 'with']);

/** Whether a text sample reads as English: the commonest English words make ≥ 10% of its words. */
export function looksEnglish(sample: string): boolean {
  const w = sample.toLowerCase().match(/[a-z\u00c0-\u00ff]+/g) ?? [];
  if (w.length < 200) return false;
  return w.filter((x) => ENGLISH_WORDS.has(x)).length / w.length >= 0.1;
}

function readHead(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const got = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const catalogs = new Map<string, Book[]>();

/**
 * All usable books, sorted by path: English Gutenberg books and tiny Shakespeare (if present).
 * Throws DATA_MISSING when corpora/gutenberg is absent or holds no usable book.
 */
export function corpusCatalog(): Book[] {
  const root = dataRoot();
  const cached = catalogs.get(root);
  if (cached) return cached;
  const dir = dataPath('corpora/gutenberg');
  const books: Book[] = [];
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    const path = join(dir, name);
    const head = readHead(path, 65536).replace(/\r\n?/g, '\n');
    const language = /^Language:\s*(.+)$/m.exec(head)?.[1].trim();
    if (language !== undefined && !/^english\b/i.test(language)) continue;
    if (!looksEnglish(stripGutenberg(head).slice(0, 40000))) continue;
    const title = /^Title:\s*(.+)$/m.exec(head)?.[1].trim()
      ?? /\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK,?\s*(.+?)\s*\*\*\*/i.exec(head)?.[1]
      ?? basename(name, '.txt').replace(/[-_]+/g, ' ');
    const key = titleKey(title);
    books.push({ key, title, path, split: bookSplit(key), bytes: statSync(path).size });
  }
  const shakespeare = join(dataRoot(), 'corpora', 'tinyshakespeare', 'input.txt');
  try {
    books.push({ key: 'tinyshakespeare', title: 'Tiny Shakespeare', path: shakespeare, split: bookSplit('tinyshakespeare'), bytes: statSync(shakespeare).size });
  } catch { /* optional */ }
  if (books.length === 0) {
    throw new KvwireError('DATA_MISSING', `no English books found in ${dir}: the needle task needs Project Gutenberg .txt files there`, { path: dir });
  }
  catalogs.set(root, books);
  return books;
}

const texts = new Map<string, string>();
const TEXT_CACHE_BOOKS = 32;

/** A book's normalized text (header/footer stripped, one paragraph per line). Cached. */
export function bookText(book: Book): string {
  let text = texts.get(book.path);
  if (text === undefined) {
    text = normalizeText(stripGutenberg(readFileSync(book.path, 'utf8')));
    if (texts.size >= TEXT_CACHE_BOOKS) texts.delete(texts.keys().next().value as string);
    texts.set(book.path, text);
  } else {
    texts.delete(book.path); // refresh its place in the LRU order
    texts.set(book.path, text);
  }
  return text;
}

/** The books of one split. Throws DATA_MISSING if there are none. */
export function splitBooks(split: Split): Book[] {
  const books = corpusCatalog().filter((b) => b.split === split);
  if (books.length === 0) {
    throw new KvwireError('DATA_MISSING', `no ${split} books in the corpus under ${dataRoot()}`, { path: dataRoot() });
  }
  return books;
}
