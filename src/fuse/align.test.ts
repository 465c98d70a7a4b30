import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../model/index.js';
import { repoRoot } from '../util/data.js';
import { alignSpans, alignText, invertAlignment } from './align.js';
import { pairLayers, usedSharerLayers } from './layers.js';
import { mapDecoded, tokenSpans, type TokenSpans } from './offsets.js';

const tok = (name: string) => loadModel(join(repoRoot, 'fixtures', name)).tokenizer;
const AWKWARD = [
  '  Héllo wörld! 12345 ñ 日本語 emoji 🎉 tabs\t\tand\n\nnewlines  x',
  'Pi is 3.14159; 1,000,000 > 999999. Ünïcödé “quotes” — dash…',
  'a',
  '    ',
  'Noa counted 74 shells by the feather.\nQuestion: Follow the instruction.\nAnswer: 74',
];
const spans = (s: Array<[number, number]>): TokenSpans => ({ start: Int32Array.from(s, (x) => x[0]), end: Int32Array.from(s, (x) => x[1]) });

test('spans of round-trip tokenizers tile the text exactly, BOS and split characters zero-width', () => {
  for (const name of ['llama', 'qwen2', 'mistral', 'qwen3']) {
    const t = tok(name);
    for (const text of AWKWARD) {
      const ids = t.encode(text, { addBos: true });
      assert.equal(t.decode(ids), text, `${name} round-trips ${JSON.stringify(text)}`);
      const { start, end } = tokenSpans(t, ids, text);
      let at = 0;
      for (let i = 0; i < ids.length; i++) {
        assert.equal(start[i], at, `${name} token ${i} starts where the previous ended`);
        assert.ok(end[i] >= start[i]);
        at = end[i];
        if (end[i] > start[i]) assert.equal(text.slice(start[i], end[i]), t.decode(ids.slice(0, i + 1)).slice(start[i], end[i]));
      }
      assert.equal(at, text.length, `${name} spans cover ${JSON.stringify(text)}`);
      if (t.bosId !== null) assert.equal(end[0], 0, 'BOS is zero-width');
    }
  }
  // A multi-byte character split over byte tokens is credited to the token that completes it.
  const t = tok('llama');
  const ids = t.encode('🎉');
  const { start, end } = tokenSpans(t, ids, '🎉');
  assert.ok(ids.length > 1);
  assert.deepEqual([...end], [...new Array(ids.length - 1).fill(0), 2]);
  assert.deepEqual([...start], new Array(ids.length).fill(0));
});

test('spans stay monotone and inside the text when the decoder loses characters (gemma fixture)', () => {
  const t = tok('gemma');
  for (const text of AWKWARD) {
    const ids = t.encode(text, { addBos: true });
    const { start, end } = tokenSpans(t, ids, text);
    for (let i = 0; i < ids.length; i++) {
      assert.ok(start[i] <= end[i] && end[i] <= text.length);
      if (i > 0) assert.equal(start[i], end[i - 1], 'spans tile (no gaps, no overlaps)');
    }
  }
});

test('mapDecoded: identity, dropped and added characters', () => {
  assert.deepEqual([...mapDecoded('abc', 'abc')], [0, 1, 2, 3]);
  assert.deepEqual([...mapDecoded('ac', 'abc')], [0, 2, 3]);          // 'b' dropped by the decoder
  assert.deepEqual([...mapDecoded('aXbc', 'abc')], [0, 1, 1, 2, 3]);  // 'X' added: maps to the next original index
  assert.deepEqual([...mapDecoded('', 'abc')], [0]);
});

test('alignSpans: first vs longest, zero-width and uncovered receiver tokens', () => {
  const sharer = spans([[0, 0], [0, 2], [2, 7], [7, 8]]);              // BOS, "ab", "cdefg", "h"
  const receiver = spans([[0, 0], [0, 3], [3, 8], [8, 8]]);            // BOS, "abc", "defgh", trailing zero-width
  assert.deepEqual([...alignSpans(receiver, sharer, 'first')], [1, 1, 2, 3]);
  assert.deepEqual([...alignSpans(receiver, sharer, 'longest')], [1, 1, 2, 3]);
  const r2 = spans([[1, 6]]);                                           // "bcdef": overlaps "ab" by 1, "cdefg" by 4
  assert.deepEqual([...alignSpans(r2, sharer, 'first')], [1]);
  assert.deepEqual([...alignSpans(r2, sharer, 'longest')], [2]);
  assert.deepEqual([...alignSpans(spans([[0, 3]]), spans([[0, 0]]), 'first')], [-1]); // nothing visible
  assert.throws(() => alignSpans(r2, sharer, 'middle' as never), { code: 'BAD_ARGUMENT' });
});

test('alignText across the fixture tokenizers: every receiver content token maps to an overlapping sharer token', () => {
  for (const [r, s] of [['qwen2', 'llama'], ['llama', 'qwen2'], ['llama', 'gemma'], ['gemma', 'qwen3']]) {
    for (const text of AWKWARD) {
      for (const policy of ['first', 'longest'] as const) {
        const a = alignText(tok(r), tok(s), text, policy);
        assert.equal(a.map.length, a.receiverIds.length);
        for (let i = 0; i < a.map.length; i++) {
          const j = a.map[i];
          assert.ok(j >= 0 && j < a.sharerIds.length, `${r}<-${s} ${policy}: token ${i} maps to ${j}`);
          const [ra, rb] = [a.receiverSpans.start[i], a.receiverSpans.end[i]];
          const [sa, sb] = [a.sharerSpans.start[j], a.sharerSpans.end[j]];
          assert.ok(sb > sa, 'never a zero-width sharer token');
          if (rb > ra && r !== 'gemma' && s !== 'gemma') assert.ok(Math.min(rb, sb) > Math.max(ra, sa), `${r}<-${s} token ${i} overlaps its sharer token`);
        }
        for (let i = 1; i < a.map.length; i++) assert.ok(a.map[i] >= a.map[i - 1], 'alignment is monotone');
      }
    }
  }
  const inv = invertAlignment(Int32Array.of(0, 0, 2, -1), 3);
  assert.deepEqual(inv, [[0, 1], [], [2]]);
});

test('pairLayers: last-aligned and by normalised depth', () => {
  assert.deepEqual([...pairLayers(6, 4, 'last')], [2, 3, 4, 5]);
  assert.deepEqual([...pairLayers(4, 6, 'last')], [0, 0, 0, 1, 2, 3]);
  assert.deepEqual([...pairLayers(6, 4, 'depth')], [0, 2, 3, 5]);
  assert.deepEqual([...pairLayers(4, 7, 'depth')], [0, 1, 1, 2, 2, 3, 3]);
  assert.deepEqual([...pairLayers(5, 1, 'depth')], [4]);
  assert.deepEqual([...pairLayers(3, 3, 'last')], [0, 1, 2]);
  assert.deepEqual(usedSharerLayers(pairLayers(6, 4, 'last')), [2, 3, 4, 5]);
  assert.deepEqual(usedSharerLayers(pairLayers(4, 6, 'last')), [0, 1, 2, 3]);
  assert.throws(() => pairLayers(0, 2, 'last'), { code: 'BAD_ARGUMENT' });
  assert.throws(() => pairLayers(2, 2, 'first' as never), { code: 'BAD_ARGUMENT' });
});
