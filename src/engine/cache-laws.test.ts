// Cache laws every compression method relies on, checked on a real model (stories260K) and on
// random models of the other families' switches (qkv bias, q/k norm, gemma's norms and GeGLU,
// GQA with several query heads per KV head, a sliding window).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadModel, type ModelSpec } from '../model/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { dataPath } from '../util/data.js';
import { KvBuffer } from './kv-buffer.js';
import { Session } from './session.js';
import { maxRelError } from '../test-support/compare.js';
import { KvwireError } from '../errors.js';

const models: Array<[string, () => ModelSpec]> = [
  ['stories260K', () => loadModel(dataPath('models/stories260K/stories260K.bin'))],
  ['qwen2-like (bias, tied)', () => tinySpec({ family: 'qwen2', qkvBias: true, tieEmbeddings: true })],
  ['qwen3-like (q/k norm, GQA 4:1)', () => tinySpec({ family: 'qwen3', qkNorm: true, heads: 4, kvHeads: 1, headDim: 16 })],
  ['gemma-like ((1+w) norm, GeGLU, scaled embeddings)', () => tinySpec({ family: 'gemma', normOffset: 1, activation: 'gelu_tanh', embedScale: Math.fround(Math.sqrt(32)), tieEmbeddings: true })],
  ['mistral-like (sliding window 5)', () => tinySpec({ family: 'mistral', slidingWindow: 5 })],
];

const prompt = [1, 20, 31, 42, 53, 14, 25, 36, 47, 58, 19, 30, 41];

for (const [name, make] of models) {
  describe(`cache laws: ${name}`, () => {
    test('prefill(a+b) equals prefill(a) then prefill(b) with the past cache', async () => {
      const session = await Session.create(make());
      const whole = await session.prefill(prompt, { logits: 'all' });
      const first = await session.prefill(prompt.slice(0, 7));
      const second = await session.prefill(prompt.slice(7), { past: first.cache, logits: 'all' });
      const V = session.config.vocabSize;
      assert.ok(maxRelError(second.logits, whole.logits.subarray(7 * V)) < 1e-5);
      assert.deepEqual(Array.from(second.cache.positions), prompt.map((_, i) => i));
      for (let l = 0; l < session.config.layers; l++) {
        assert.ok(maxRelError(second.cache.keys[l], whole.cache.keys[l]) < 1e-5, `layer ${l} keys`);
        assert.ok(maxRelError(second.cache.values[l], whole.cache.values[l]) < 1e-5, `layer ${l} values`);
      }
      await session.dispose();
    });

    test('a prefill in chunks of query rows equals one run: logits, cache and attention', async () => {
      const whole = await Session.create(make());
      const chunked = await Session.create(make(), { prefillChunk: 4 });
      const { cache: past } = await whole.prefill(prompt.slice(0, 2));
      const rows = [0, 3, 4, 9, 10];
      const a = await whole.prefill(prompt.slice(2), { past, logits: 'all', attentionRows: rows });
      const b = await chunked.prefill(prompt.slice(2), { past, logits: 'all', attentionRows: rows });
      assert.ok(maxRelError(b.logits, a.logits) < 1e-5);
      for (let l = 0; l < whole.config.layers; l++) {
        assert.ok(maxRelError(b.cache.keys[l], a.cache.keys[l]) < 1e-5);
        assert.ok(maxRelError(b.attention!.probs[l], a.attention!.probs[l]) < 1e-5, `layer ${l} attention`);
      }
      assert.deepEqual(b.attention!.keyPositions, a.attention!.keyPositions);
      await whole.dispose();
      await chunked.dispose();
    });

    test('decoding after injecting a copied cache equals decoding without the copy', async () => {
      const session = await Session.create(make());
      const direct = await session.generate(prompt, { maxTokens: 12, stop: [] });
      const { cache } = await session.prefill(prompt.slice(0, -1));
      const seq = session.inject(cache.clone());
      await seq.append(prompt.slice(-1));
      const injected = await seq.generate({ maxTokens: 12, stop: [] });
      assert.deepEqual(injected.tokens, direct.tokens);
      // close() refuses while a forward still reads the arrays
      const pending = seq.append([5]);
      assert.throws(() => seq.close(), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
      await pending;
      // A closed sequence's memory serves the next inject of the same length: same tokens again.
      seq.close();
      await assert.rejects(seq.append([5]), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
      assert.throws(() => seq.cache(), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
      seq.close();
      const again = session.inject(cache.clone());
      await again.append(prompt.slice(-1));
      assert.deepEqual((await again.generate({ maxTokens: 12, stop: [] })).tokens, direct.tokens);
      await session.dispose();
    });

    test('a sparse cache decodes at its original positions, like a mask hiding the dropped tokens', async () => {
      const session = await Session.create(make());
      const context = prompt.slice(0, 10);
      const question = prompt.slice(10);
      const { cache } = await session.prefill(context);
      const kept = [0, 2, 3, 6, 8];
      const dropped = [1, 4, 5, 7, 9];
      const sparse = session.inject(cache.gather(kept), { nextPosition: context.length });
      const a = await sparse.append(question, { logits: 'all' });
      const masked = KvBuffer.fromCache(cache);
      const b = await session.forward(question, masked, { hiddenKeys: dropped, logitRows: question.map((_, i) => i) });
      assert.ok(maxRelError(a.logits, b.logits) < 1e-5);
      // And the positions matter: the same sparse cache continued right after its last kept token differs.
      const shifted = session.inject(cache.gather(kept));
      const c = await shifted.append(question, { logits: 'all' });
      assert.ok(maxRelError(c.logits, b.logits) > 1e-4);
      await session.dispose();
    });

    test('attention probabilities sum to 1, are causal, and come from the same pass', async () => {
      const session = await Session.create(make());
      const rows = [3, 9, 12];
      const { attention, logits } = await session.prefill(prompt, { attentionRows: rows });
      const plain = await session.prefill(prompt);
      assert.ok(maxRelError(logits, plain.logits) < 1e-6);
      const { heads } = session.config;
      const T = prompt.length;
      assert.ok(attention);
      assert.deepEqual(attention.queryPositions, rows);
      for (const probs of attention.probs) {
        assert.equal(probs.length, heads * rows.length * T);
        for (let h = 0; h < heads; h++) {
          rows.forEach((r, a) => {
            const row = probs.subarray((h * rows.length + a) * T, (h * rows.length + a + 1) * T);
            assert.ok(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-5);
            for (let j = r + 1; j < T; j++) assert.equal(row[j], 0, `row ${r} attends to future key ${j}`);
          });
        }
      }
      await session.dispose();
    });
  });
}

test('attention probabilities match a direct softmax(QK^T/sqrt(d)) in layer 0', async () => {
  // Layer 0's queries can be computed by hand from the embedding; keys come from the cache.
  const spec = tinySpec({ family: 'qwen2', qkvBias: true, heads: 4, kvHeads: 2, headDim: 8 });
  const session = await Session.create(spec);
  const c = spec.config;
  const tokens = prompt.slice(0, 8);
  const { attention, cache } = await session.prefill(tokens, { attentionRows: [5] });
  const emb = spec.weights.get('model.embed_tokens.weight')!;
  const norm = spec.weights.get('model.layers.0.input_layernorm.weight')!;
  const wq = spec.weights.get('model.layers.0.self_attn.q_proj.weight')!;
  const bq = spec.weights.get('model.layers.0.self_attn.q_proj.bias')!;
  const H = c.hiddenSize;
  const x = emb.subarray(tokens[5] * H, (tokens[5] + 1) * H);
  const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / H + c.rmsEps);
  const xn = Array.from(x, (v, i) => (v / rms) * norm[i]);
  const D = c.headDim;
  const G = c.heads / c.kvHeads;
  for (let h = 0; h < c.heads; h++) {
    const q = Array.from({ length: D }, (_, d) => bq[h * D + d] + xn.reduce((a, v, i) => a + v * wq[(h * D + d) * H + i], 0));
    const half = D / 2;
    const qr = q.map((_, d) => {
      const i = d % half;
      const angle = 5 * Math.pow(c.ropeTheta, -(2 * i) / D);
      return d < half ? q[d] * Math.cos(angle) - q[d + half] * Math.sin(angle) : q[d] * Math.cos(angle) + q[d - half] * Math.sin(angle);
    });
    const kvh = Math.floor(h / G);
    const keys = cache.keys[0];
    const scores = Array.from({ length: 6 }, (_, t) => qr.reduce((a, v, d) => a + v * keys[(kvh * tokens.length + t) * D + d], 0) / Math.sqrt(D));
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((a, b) => a + b, 0);
    const got = attention!.probs[0].subarray(h * tokens.length, (h + 1) * tokens.length);
    e.forEach((v, t) => assert.ok(Math.abs(v / z - got[t]) < 1e-5, `head ${h} key ${t}: ${v / z} vs ${got[t]}`));
  }
  await session.dispose();
});

test('per-head sparse caches: a mask on every head equals dropping the token; one head alone differs', async () => {
  const session = await Session.create(tinySpec({ heads: 4, kvHeads: 2 }));
  const context = prompt.slice(0, 10);
  const question = prompt.slice(10);
  const { cache } = await session.prefill(context);
  const T = context.length;
  const dropped = [1, 4, 7];
  const mask = (heads: number[]) => Array.from({ length: cache.layers }, () => {
    const m = new Uint8Array(cache.kvHeads * T);
    for (const h of heads) for (const j of dropped) m[h * T + j] = 1;
    return m;
  });
  const kept = Array.from({ length: T }, (_, i) => i).filter((i) => !dropped.includes(i));
  const gathered = await session.inject(cache.gather(kept), { nextPosition: T }).append(question, { logits: 'all' });
  const allHeads = await session.inject(cache, { absent: mask([0, 1]) }).append(question, { logits: 'all' });
  const oneHead = await session.inject(cache, { absent: mask([1]) }).append(question, { logits: 'all' });
  const full = await session.inject(cache).append(question, { logits: 'all' });
  assert.ok(maxRelError(allHeads.logits, gathered.logits) < 1e-5);
  assert.ok(maxRelError(oneHead.logits, gathered.logits) > 1e-4);
  assert.ok(maxRelError(oneHead.logits, full.logits) > 1e-4);
  assert.throws(() => session.inject(cache, { absent: [new Uint8Array(3)] }));
  await session.dispose();
});
