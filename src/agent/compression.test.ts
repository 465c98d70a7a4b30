import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvCache } from '../kv/index.js';
import { createRng, fillNormal } from '../quant/index.js';
import { DROPPED } from '../card/index.js';
import { compress, gatherRuns, parseCompression } from './compression.js';

function cacheOf(T: number, seed = 1): KvCache {
  const rng = createRng(seed);
  const shape = { layers: 2, kvHeads: 2, headDim: 4 };
  const per = shape.kvHeads * T * shape.headDim;
  return new KvCache(shape, [0, 1].map(() => fillNormal(new Float32Array(per), rng)), [0, 1].map(() => fillNormal(new Float32Array(per), rng)),
    Int32Array.from({ length: T }, (_, t) => t), Int32Array.from({ length: T }, (_, t) => 50 + t));
}

/** Question attention (4 query heads -> 2 KV heads) peaked on a few tokens per head. */
function attentionFor(T: number, peaks: number[][]) {
  const mass = [0, 1].map(() => {
    const m = new Float32Array(4 * T).fill(1e-4);
    for (let q = 0; q < 4; q++) for (const t of peaks[q >> 1]) m[q * T + t] = 1;
    return m;
  });
  return { heads: 4, contextMass: () => Promise.reject(new Error('unused')), questionMass: () => Promise.resolve(mass) };
}

describe('compression options', () => {
  it('int4k codes keys per channel (KIVI) and values per token group, the same bytes as int4', async () => {
    const cache = cacheOf(64);
    const k = await compress(cache, parseCompression('int4k'));
    const g = await compress(cache, parseCompression('int4'));
    const axis = (c: typeof k, kind: 'keys' | 'values') => (c.precision.classes[0][kind] as { axis?: string }).axis;
    assert.equal(axis(k, 'keys'), 'channel');
    assert.equal(axis(k, 'values'), 'group');
    assert.equal(axis(g, 'keys'), 'group');
  });

  it('parses +floorN, +recentN, +sinkN, +poolBxA and refuses the rest with BAD_ARGUMENT', () => {
    assert.deepEqual(parseCompression('int4-q2c25+floor32+recent8+pool4x2+sink2'), {
      name: 'int4-q2c25+floor32+recent8+pool4x2+sink2', precision: 'int4g', selector: 'q2c', keep: 0.25, floor: 32, recent: 8, pool: { before: 4, after: 2 }, sinks: 2,
    });
    assert.equal(parseCompression('int4-q2c25+ahead4').ahead, 4);
    assert.equal(parseCompression('int4k-q2c25+ahead2').precision, 'int4-kivi');
    for (const bad of ['int4+floor32', 'int4-q2c25+wide', 'int4-snapkv25+pool2x2', 'int4-q2c25+floor', 'int4-q2c25+',
      'int4-snapkv25+ahead2', 'int4-q2c25+ahead0', 'int4-q2c25+ahead65']) {
      assert.throws(() => parseCompression(bad), { code: 'BAD_ARGUMENT' }, bad);
    }
  });

  it('+aheadN adds the draft answer\'s rows to the question\'s; without a draft it is refused', async () => {
    const T = 40;
    const question = attentionFor(T, [[10, 11], [10, 11]]);
    const draft = attentionFor(T, [[30], [30]]);
    const withDraft = { ...question, draftLength: 3, draftMass: async (n: number) => { assert.equal(n, 2); return draft.questionMass(); } };
    // 10% of 40 = 4 tokens a head, the sink (token 0) first: both keep 10 and 11; the question
    // alone fills the last place with a near-zero token, the lookahead with the draft's token 30.
    const plain = await compress(cacheOf(T), parseCompression('int4-q2c10+pool0x0'), { attention: withDraft });
    const ahead = await compress(cacheOf(T), parseCompression('int4-q2c10+pool0x0+ahead2'), { attention: withDraft });
    assert.ok(plain.indices!.includes(10) && plain.indices!.includes(11) && !plain.indices!.includes(30), `plain Q2C kept ${plain.indices}`);
    assert.deepEqual([...ahead.indices!], [0, 10, 11, 30]);
    await assert.rejects(compress(cacheOf(T), parseCompression('int4-q2c10+ahead2'), { attention: question }), { code: 'BAD_ARGUMENT' });
    // A draft that ended at once (EOS first): the question's rows alone, as plain Q2C.
    const emptyDraft = { ...question, draftLength: 0, draftMass: () => Promise.reject(new Error('no draft rows to read')) };
    const ended = await compress(cacheOf(T), parseCompression('int4-q2c10+pool0x0+ahead2'), { attention: emptyDraft });
    assert.deepEqual([...ended.indices!], [...plain.indices!]);
  });

  it('a floor raises each head\'s budget to min(T, N); recent keeps the last N tokens in every head', async () => {
    const T = 40;
    const cache = cacheOf(T);
    const attention = attentionFor(T, [[10, 30], [20]]);
    const kept = (m: Uint8Array, h: number, n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => m[h * n + i] === 0);
    const plain = await compress(cache, parseCompression('int4-q2c25+pool0x0'), { attention });
    assert.equal(plain.keptTokens, 10);
    const floored = await compress(cache, parseCompression('int4-q2c25+pool0x0+floor16'), { attention });
    assert.equal(floored.keptTokens, 16);
    const n = floored.indices!.length;
    for (const l of [0, 1]) for (const h of [0, 1]) assert.equal(kept(floored.absent![l], h, n).length, 16);
    const all = await compress(cache, parseCompression('int4-q2c25+floor64'), { attention });
    assert.equal(all.keptTokens, T, 'the floor is capped at T');
    const recent = await compress(cache, parseCompression('int4-q2c25+pool0x0+recent4'), { attention });
    const idx = Array.from(recent.indices!);
    for (const t of [36, 37, 38, 39, 0, 10, 30, 20]) assert.ok(idx.includes(t), `token ${t} kept`);
    const hc = recent.precision.headClass!;
    for (const l of [0, 1]) {
      for (const h of [0, 1]) {
        for (const t of [36, 37, 38, 39]) assert.notEqual(hc[l][h * idx.length + idx.indexOf(t)], DROPPED, `layer ${l} head ${h} keeps recent token ${t}`);
      }
    }
  });

  it('gatherRuns equals KvCache.gather and the lazy cache is the gathered one', async () => {
    const cache = cacheOf(30, 4);
    const idx = Int32Array.from([0, 1, 2, 5, 9, 10, 11, 29]);
    const a = gatherRuns(cache, idx);
    const b = cache.gather(idx);
    assert.deepEqual(a.keys, b.keys);
    assert.deepEqual(a.values, b.values);
    assert.deepEqual(a.positions, b.positions);
    assert.deepEqual(a.tokens, b.tokens);
    assert.throws(() => gatherRuns(cache, Int32Array.from([3, 3])), { code: 'BAD_ARGUMENT' });
    const c = await compress(cache, parseCompression('int4-q2c25'), { attention: attentionFor(30, [[4], [20]]) });
    assert.deepEqual(c.cache.keys, cache.gather(c.indices!).keys);
  });
});
