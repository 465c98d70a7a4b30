import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvwireError } from '../../errors.js';
import { corpusCatalog } from './corpus.js';
import { formatPrompt } from './format.js';
import { approxTokens, needle, NEEDLE_LENGTHS } from './needle.js';
import { splitOf } from './pools.js';

test('needle: prompt length within 10% of each target (default counter), never above it', () => {
  for (const length of NEEDLE_LENGTHS) {
    for (const e of needle.generate({ split: 'test', n: 6, seed: 1, length })) {
      const tokens = approxTokens(formatPrompt(e));
      assert.equal(tokens, (e.meta as { tokens: number }).tokens);
      assert.ok(tokens <= length && tokens >= 0.9 * length, `${e.id}: ${tokens} tokens for target ${length}`);
    }
  }
});

test('needle: the value appears exactly once in the context, in its needle sentence', () => {
  for (const split of ['train', 'test'] as const) {
    for (const e of needle.generate({ split, n: 30, seed: 2, length: 512, distractors: 3 })) {
      const m = e.meta as { variant: string; key?: string; depth: number };
      assert.equal(e.context.split(e.answer).length - 1, 1, e.id);
      const sentence = m.variant === 'passkey' ? `The secret passkey is ${e.answer}.` : `The special magic number for ${m.key} is ${e.answer}.`;
      assert.equal(e.context.split(sentence).length - 1, 1, e.id);
      assert.equal(e.question, m.variant === 'passkey' ? 'What is the secret passkey?' : `What is the special magic number for ${m.key}?`);
      if (m.variant === 'magic') assert.equal(e.context.split('The special magic number for ').length - 1, 4, 'needle + 3 distractors');
      assert.ok(m.depth >= 0 && m.depth <= 1);
    }
  }
});

test('needle: depth 0 puts the needle first, depth 1 last; variant and a list of lengths are honoured', () => {
  const [first] = needle.generate({ split: 'train', n: 1, seed: 3, length: 300, depth: 0, variant: 'passkey' });
  assert.ok(first.context.startsWith('The secret passkey is '));
  const [last] = needle.generate({ split: 'train', n: 1, seed: 3, length: 300, depth: 1, variant: 'magic' });
  assert.match(last.context, /The special magic number for [a-z]+-[a-z]+ is \d{5}\.$/);
  const mixed = needle.generate({ split: 'train', n: 4, seed: 3, length: [256, 512] });
  assert.deepEqual(mixed.map((e) => (e.meta as { targetTokens: number }).targetTokens), [256, 512, 256, 512]);
});

test('needle: a custom token counter sets the length', () => {
  const words = (t: string) => t.split(/\s+/).filter(Boolean).length;
  for (const e of needle.generate({ split: 'train', n: 3, seed: 4, length: 400, countTokens: words })) {
    const n = words(formatPrompt(e));
    assert.ok(n <= 400 && n >= 360, `${n} words`);
  }
});

test('needle: train and test draw from disjoint books, values and keys', () => {
  const books = corpusCatalog();
  const trainKeys = new Set(books.filter((b) => b.split === 'train').map((b) => b.key));
  const testBooks = books.filter((b) => b.split === 'test');
  assert.ok(testBooks.length >= 5, 'enough test books');
  assert.ok(testBooks.every((b) => !trainKeys.has(b.key)), 'no group in both splits');
  const testFiles = new Set(testBooks.map((b) => b.path.split('/').pop()));
  const seen = { train: new Set<string>(), test: new Set<string>() };
  for (const split of ['train', 'test'] as const) {
    for (const e of needle.generate({ split, n: 40, seed: 5, length: 256 })) {
      const m = e.meta as { bookFile: string; key?: string };
      assert.equal(testFiles.has(m.bookFile), split === 'test', `${e.id}: ${m.bookFile}`);
      assert.equal(splitOf('needle-value', e.answer), split);
      if (m.key) assert.equal(splitOf('needle-key', m.key), split);
      seen[split].add(e.answer);
    }
  }
  assert.equal([...seen.test].filter((v) => seen.train.has(v)).length, 0);
});

test('needle: editions of one work share a split; non-English books are left out', () => {
  const books = corpusCatalog();
  const byKey = new Map<string, Set<string>>();
  for (const b of books) byKey.set(b.key, (byKey.get(b.key) ?? new Set()).add(b.split));
  for (const [key, splits] of byKey) assert.equal(splits.size, 1, key);
  const files = books.map((b) => b.path.split('/').pop());
  for (const french of ['Candide.txt', 'Madame_Bovary_GustaveFlaubert.txt', 'Le-tour-du-mond-quatre-vingts-jours.txt']) {
    assert.ok(!files.includes(french), french);
  }
});

test('needle: a missing corpus folder is a clear DATA_MISSING error', () => {
  const saved = process.env.KVWIRE_DATA;
  const empty = mkdtempSync(join(tmpdir(), 'kvwire-nodata-'));
  process.env.KVWIRE_DATA = empty;
  try {
    assert.throws(() => needle.generate({ split: 'test', n: 1, seed: 1 }), (e: unknown) =>
      e instanceof KvwireError && e.code === 'DATA_MISSING' && /corpora\/gutenberg/.test(e.message) && e.message.includes(empty));
  } finally {
    if (saved === undefined) delete process.env.KVWIRE_DATA; else process.env.KVWIRE_DATA = saved;
    rmSync(empty, { recursive: true, force: true });
  }
});

test('needle: too small a length is BAD_ARGUMENT', () => {
  assert.throws(() => needle.generate({ split: 'train', n: 1, seed: 1, length: 10 }), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
  assert.throws(() => needle.generate({ split: 'train', n: 1, seed: 1, depth: 2 }), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
});
