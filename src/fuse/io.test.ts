import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeSafetensors, fingerprint } from '../model/index.js';
import { encodeFuser, loadFuser, saveFuser } from './io.js';
import { projectReceived, transmittedCache } from './protocol.js';
import { checkFuser, fuserFor } from './registry.js';
import { fittedPair, tinyPair } from './testing.js';

test('a fuser survives save and load: metadata, gates, priors and projections', async () => {
  const { sharer, receiver } = tinyPair();
  const p = await fittedPair(sharer, receiver, 8, { mode: 'head', inputs: 'joint', pairing: 'depth' });
  const dir = mkdtempSync(join(tmpdir(), 'kvwire-fuse-'));
  const file = join(dir, 'f.safetensors');
  saveFuser(p.fuser, file);
  const back = loadFuser(file);
  assert.equal(back.mode, 'head');
  assert.equal(back.inputs, 'joint');
  assert.equal(back.pairing, 'depth');
  assert.deepEqual(back.sharer, p.fuser.sharer);
  assert.deepEqual(back.receiver, p.fuser.receiver);
  assert.deepEqual(back.layers.map((L) => [L.sharerLayer, L.gate]), p.fuser.layers.map((L) => [L.sharerLayer, Math.fround(L.gate)]));
  assert.deepEqual(back.layers[1].priorValues, p.fuser.layers[1].priorValues);
  const { cache } = await p.sharer.prefill(sharer.tokenizer.encode('A) teal B) red', { addBos: true }));
  const sent = transmittedCache(back, cache);
  const a = projectReceived(p.fuser, sent);
  const b = projectReceived(back, sent);
  for (let l = 0; l < a.values.length; l++) {
    for (let i = 0; i < a.values[l].length; i++) assert.ok(Math.abs(a.values[l][i] - b.values[l][i]) < 1e-4 * (1 + Math.abs(a.values[l][i])));
  }
  // Stable bytes: encoding the loaded fuser again gives the same file.
  assert.deepEqual(encodeFuser(loadFuser(file)), encodeFuser(back));
  await p.sharer.dispose();
  await p.receiver.dispose();
});

test('a receiver refuses a sharer it has no fuser for (NO_FUSER), and a fuser is bound to both models', async () => {
  const { sharer, receiver } = tinyPair();
  const p = await fittedPair(sharer, receiver, 4);
  const s = fingerprint(sharer);
  const r = fingerprint(receiver);
  assert.equal(fuserFor([p.fuser], s, r), p.fuser);
  const other = fingerprint({ ...sharer, weights: new Map([...sharer.weights].map(([k, v]) => [k, v.map((x) => x * 2)])) });
  assert.throws(() => fuserFor([p.fuser], other, r), (e: Error & { code?: string }) => e.code === 'NO_FUSER' && e.message.includes(other.id) && e.message.includes('fuse-fit'));
  assert.throws(() => checkFuser(p.fuser, s, other), { code: 'NO_FUSER' });
  assert.throws(() => checkFuser(p.fuser, r, s), { code: 'NO_FUSER' }, 'direction matters');
  assert.throws(() => fuserFor([], s, r), { code: 'NO_FUSER' });
  await p.sharer.dispose();
  await p.receiver.dispose();
});

test('loadFuser refuses files that are not fusers or whose tensors disagree with the metadata', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvwire-fuse-'));
  const plain = join(dir, 'plain.safetensors');
  writeFileSync(plain, encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Uint8Array(4) } }));
  assert.throws(() => loadFuser(plain), { code: 'BAD_FORMAT' });
  assert.throws(() => loadFuser(join(dir, 'missing.safetensors')), { code: 'FILE_NOT_FOUND' });
  const { sharer, receiver } = tinyPair();
  const p = await fittedPair(sharer, receiver, 4);
  const good = join(dir, 'good.safetensors');
  saveFuser(p.fuser, good);
  // Same metadata, one weight with the wrong shape.
  const broken = { ...p.fuser, layers: p.fuser.layers.map((L, l) => l ? L : { ...L, groups: L.groups.map((g) => ({ ...g, keys: { ...g.keys, p: g.keys.p - 1, W: g.keys.W.subarray(g.keys.q) } })) }) };
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, encodeFuser(broken));
  assert.throws(() => loadFuser(bad), { code: 'TENSOR_SHAPE' });
  await p.sharer.dispose();
  await p.receiver.dispose();
});
