import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../engine/index.js';
import { KvCache } from '../kv/index.js';
import { broadcastPrior, projectLayer } from './fuser.js';
import { fuseIntoReceiver, fuseSlots, projectReceived, receiverCache, slotLayout, transmittedCache, transmittedLayers } from './protocol.js';
import { rerope, unrope } from './rope.js';
import { fittedPair, fixture, tinyPair } from './testing.js';
import { alignSpans } from './align.js';
import { tokenSpans } from './offsets.js';

const close = (a: Float32Array, b: Float32Array, tol: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} > ${tol}`);
};

test('unrope removes exactly the position: layer-0 keys of the same tokens at two offsets agree', async () => {
  const spec = fixture('llama');
  const s = await Session.create(spec, { threads: 1 });
  const ids = spec.tokenizer.encode('Ned saw the DEER from the village.', { addBos: true });
  const a = (await s.prefill(ids)).cache;
  const b = (await s.prefill(ids, { positions: ids.map((_, i) => 37 + i) })).cache;
  // Layer 0's keys depend on the token alone (before attention mixes anything), up to RoPE.
  close(unrope(spec.config, a.keys[0], a.positions), unrope(spec.config, b.keys[0], b.positions), 1e-4, 'unrotated keys');
  close(rerope(spec.config, unrope(spec.config, a.keys[0], a.positions), b.positions), b.keys[0], 1e-4, 'moved keys');
  await s.dispose();
});

test('question-only: fused cache shapes, positions and where the question goes (also after selection)', async () => {
  const { sharer, receiver } = tinyPair();
  const p = await fittedPair(sharer, receiver);
  const { fuser } = p;
  assert.equal(fuser.layers.length, 2);
  assert.deepEqual(fuser.layers.map((L) => L.sharerLayer), [1, 2]);   // last-aligned, 3 -> 2
  assert.deepEqual(transmittedLayers(fuser), [1, 2]);
  const ids = sharer.tokenizer.encode('Noa counted 74 shells.', { addBos: true });
  const { cache } = await p.sharer.prefill(ids);
  const sent = transmittedCache(fuser, cache);
  assert.equal(sent.layers, 2);
  assert.equal(sent.length, ids.length - 1, 'BOS is not sent');
  assert.deepEqual([...sent.positions], ids.slice(1).map((_, i) => i + 1));
  const full = await receiverCache(p.receiver, fuser, sent, cache.length, true);
  assert.equal(full.cache.layers, receiver.config.layers);
  assert.equal(full.cache.kvHeads, receiver.config.kvHeads);
  assert.equal(full.cache.headDim, receiver.config.headDim);
  assert.equal(full.cache.length, ids.length, 'own BOS + one slot per sent token');
  assert.deepEqual([...full.cache.positions], ids.map((_, i) => i));
  assert.equal(full.nextPosition, ids.length);
  const some = sent.gather([0, 3, 5]);
  const sparse = await receiverCache(p.receiver, fuser, some, cache.length, true);
  assert.deepEqual([...sparse.cache.positions], [0, 1, 4, 6]);
  assert.equal(sparse.nextPosition, ids.length, 'the question goes after the whole context');
  const seq = p.receiver.inject(sparse.cache, { nextPosition: sparse.nextPosition });
  const { logits } = await seq.append(receiver.tokenizer.encode('Question:'));
  assert.ok(logits.every(Number.isFinite));
  // No receiver BOS and no sharer BOS shift nothing; a sharer BOS without a receiver BOS shifts by one.
  assert.deepEqual([...slotLayout({ ...fuser, receiver: { ...fuser.receiver, bosId: null } }, [1, 2], 3, true).positions], [0, 1]);
  await p.sharer.dispose();
  await p.receiver.dispose();
});

test('question-only gates: 0 gives the prior, 1 the pure projection (keys at the receiver positions)', async () => {
  const { sharer, receiver } = tinyPair();
  const p = await fittedPair(sharer, receiver);
  const { fuser } = p;
  const { cache } = await p.sharer.prefill(sharer.tokenizer.encode('Wren wrote "salt".', { addBos: true }));
  const sent = transmittedCache(fuser, cache);
  const projected = projectReceived(fuser, sent);
  const positions = Int32Array.from(sent.positions);
  const { kvHeads: H, headDim: D } = fuser.receiver;
  const zero = fuseSlots(fuser, projected, positions, [0, 0]);
  const one = fuseSlots(fuser, projected, positions, [1, 1]);
  for (let l = 0; l < 2; l++) {
    close(zero.values[l], broadcastPrior(fuser.layers[l].priorValues, H, sent.length, D), 0, `gate 0 values, layer ${l}`);
    close(unrope(receiver.config, zero.keys[l], positions), broadcastPrior(fuser.layers[l].priorKeys, H, sent.length, D), 1e-5, `gate 0 keys, layer ${l}`);
    close(one.values[l], projected.values[l], 0, `gate 1 values, layer ${l}`);
    close(one.keys[l], rerope(receiver.config, projected.keys[l], positions), 1e-6, `gate 1 keys, layer ${l}`);
  }
  // Π acts row by row: projecting a subset equals the subset of the projection.
  const sub = projectReceived(fuser, sent.gather([1, 2]));
  const D2 = D;
  for (let h = 0; h < H; h++) {
    close(sub.values[0].subarray(h * 2 * D2, (h + 1) * 2 * D2), projected.values[0].subarray((h * sent.length + 1) * D2, (h * sent.length + 3) * D2), 1e-6, 'row by row');
  }
  assert.ok(projectLayer(fuser, 0, new Float32Array(sharer.config.kvHeads * 1 * sharer.config.headDim), new Float32Array(sharer.config.kvHeads * sharer.config.headDim), 1).values.every(Number.isFinite));
  // The receiver skips projecting closed layers (gate 0): same cache as projecting everything.
  const mixed = await receiverCache(p.receiver, fuser, sent, cache.length, true, [0, 0.5]);
  const manual = fuseSlots(fuser, projected, positions, [0, 0.5]);
  for (let l = 0; l < 2; l++) {
    close(mixed.cache.slice(1).keys[l], manual.keys[l], 0, `closed-layer skipping, keys ${l}`);
    close(mixed.cache.slice(1).values[l], manual.values[l], 0, `closed-layer skipping, values ${l}`);
  }
  await p.sharer.dispose();
  await p.receiver.dispose();
});

test('receiver-side fusion (different tokenizers): gate 0 is the receiver alone, gate 1 the projection on aligned tokens', async () => {
  const p = await fittedPair(fixture('llama'), fixture('gemma'), 6);
  const { fuser } = p;
  const text = 'Ezra plays golf. Ines plays squash 1234.';
  const sIds = p.sharer.spec.tokenizer.encode(text, { addBos: true });
  const rIds = p.receiver.spec.tokenizer.encode(text, { addBos: true });
  const sc = (await p.sharer.prefill(sIds)).cache;
  const own = (await p.receiver.prefill(rIds)).cache;
  const align = alignSpans(tokenSpans(p.receiver.spec.tokenizer, rIds, text), tokenSpans(p.sharer.spec.tokenizer, sIds, text), fuser.alignment);
  const sent = transmittedCache(fuser, sc);
  const L = fuser.layers.length;
  const zero = fuseIntoReceiver(fuser, own, align, sent, new Array(L).fill(0));
  for (let l = 0; l < L; l++) {
    assert.deepEqual(zero.keys[l], own.keys[l]);
    assert.deepEqual(zero.values[l], own.values[l]);
  }
  const one = fuseIntoReceiver(fuser, own, align, sent, new Array(L).fill(1));
  const projected = projectReceived(fuser, sent);
  const { kvHeads: H, headDim: D } = fuser.receiver;
  const T = own.length;
  const n = sent.length;
  for (let i = 0; i < T; i++) {
    const r = align[i] - 1; // sent row of sharer token align[i] (the sharer's BOS is not sent)
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const got = one.values[l].subarray((h * T + i) * D, (h * T + i + 1) * D);
        if (i === 0) close(got, own.values[l].subarray((h * T) * D, (h * T + 1) * D), 0, 'receiver BOS keeps its own');
        else close(got, projected.values[l].subarray((h * n + r) * D, (h * n + r + 1) * D), 1e-5, `token ${i} layer ${l}`);
      }
    }
  }
  // SparseC2C: only received tokens change; the rest keep the receiver's own K/V.
  const part = fuseIntoReceiver(fuser, own, align, sent.gather([0]), new Array(L).fill(1));
  for (let i = 0; i < T; i++) {
    const changed = align[i] === 1 && i > 0;
    const same = part.values[0].subarray(i * D, (i + 1) * D).every((v, d) => v === own.values[0][i * D + d]);
    assert.equal(same, !changed, `token ${i}: ${changed ? 'fused' : 'own'}`);
  }
  assert.throws(() => fuseIntoReceiver(fuser, own, align.subarray(1), sent), { code: 'CACHE_MISMATCH' });
  assert.throws(() => transmittedCache(fuser, KvCache.empty({ layers: 1, kvHeads: 2, headDim: 16 })), { code: 'CACHE_MISMATCH' });
  await p.sharer.dispose();
  await p.receiver.dispose();
});

test('a fuser fitted from a model to itself recovers the identity, and question-only fusion equals same-model handoff', async () => {
  const spec = fixture('qwen2');
  const p = await fittedPair(spec, spec, 8, { alphas: [0], gate: 'fixed', fixedGate: 1 });
  for (const e of p.report.layers) assert.ok(e.r2.keys > 0.9999 && e.r2.values > 0.9999, `R² ${e.r2.keys}/${e.r2.values}`);
  const tok = spec.tokenizer;
  const context = tok.encode('Noa counted 74 shells by the feather.', { addBos: true });
  const question = tok.encode('\nQuestion: Follow the instruction.\nAnswer:');
  const { cache } = await p.sharer.prefill(context);
  const fused = await receiverCache(p.receiver, p.fuser, transmittedCache(p.fuser, cache), cache.length, tok.bosId !== null && context[0] === tok.bosId);
  assert.equal(fused.nextPosition, cache.nextPosition);
  const a = await p.receiver.inject(fused.cache, { nextPosition: fused.nextPosition }).append(question);
  const b = await p.receiver.inject(cache).append(question);
  close(a.logits, b.logits, 2e-3, 'logits after fused vs handed-over cache');
  await p.sharer.dispose();
  await p.receiver.dispose();
});
