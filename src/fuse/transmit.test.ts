import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kivi } from '../quant/index.js';
import { transmittedCache } from './protocol.js';
import { receiverValueSpace, regridToSharer, selectSent, valueSpaceHook } from './space.js';
import { fittedPair, tinyPair } from './testing.js';
import { receivePacked, transmit } from './transmit.js';

async function setup() {
  const { sharer, receiver } = tinyPair();
  const p = await fittedPair(sharer, receiver);
  const ids = sharer.tokenizer.encode('Noel plays darts. Ned plays lacrosse. Ezra plays golf. Ines plays squash.', { addBos: true });
  const { cache } = await p.sharer.prefill(ids);
  return { ...p, sent: transmittedCache(p.fuser, cache) };
}

test('transmission bytes add up exactly, and fp16 round-trips the sent cache to fp16 precision', async () => {
  const { fuser, sent, sharer, receiver } = await setup();
  const full = await transmit(fuser, sent);
  const b = full.bytes;
  assert.equal(b.total, b.payload + b.scales + b.indices + b.metadata);
  assert.equal(b.payload, 2 * sent.layers * sent.kvHeads * sent.length * sent.headDim * 2, 'fp16 payload = 2·L·H·T·D·2');
  assert.equal(full.kept, sent.length);
  const back = receivePacked(fuser, full.packed, sent.layers);
  assert.deepEqual([...back.positions], [...sent.positions]);
  for (let l = 0; l < sent.layers; l++) for (let i = 0; i < sent.keys[l].length; i++) assert.ok(Math.abs(back.keys[l][i] - sent.keys[l][i]) <= 1e-3 * (1 + Math.abs(sent.keys[l][i])));
  const int8 = await transmit(fuser, sent, { precision: kivi('int8') });
  assert.ok(int8.bytes.total < full.bytes.total && int8.bytes.scales > 0);
  await sharer.dispose();
  await receiver.dispose();
});

test('receiver-space selectors work when the receiver has fewer layers and heads than the sharer', async () => {
  const { fuser, sent, sharer, receiver } = await setup();
  assert.notEqual(fuser.receiver.layers, fuser.sharer.layers);
  for (const name of ['proj_vnorm', 'delta_proj_vnorm', 'vnorm', 'back', 'front', 'random']) {
    const set = await selectSent(fuser, sent, name, { budget: { ratio: 0.25 }, seed: 1 });
    assert.equal(set.kind, 'shared');
    const k = Math.max(1, Math.floor(0.25 * sent.length));
    if (set.kind === 'shared') assert.equal(set.indices.length, k, name);
    const tx = await transmit(fuser, sent, { selector: name, keep: { ratio: 0.25 }, precision: kivi('int8') });
    assert.equal(tx.kept, k);
    assert.ok(tx.bytes.indices > 0);
  }
  // delta against a baseline equal to the projection scores zero everywhere: ties keep the earliest tokens.
  const space = receiverValueSpace(fuser, sent);
  const same = await selectSent(fuser, sent, 'delta_proj_vnorm', { budget: { count: 3 }, baseline: space.projectedValues });
  assert.deepEqual(same.kind === 'shared' ? [...same.indices] : [], [0, 1, 2]);
  await assert.rejects(selectSent(fuser, sent, 'q2c', { budget: { ratio: 0.5 } }), { code: 'BAD_ARGUMENT' });
  await sharer.dispose();
  await receiver.dispose();
});

test('RD scheduling in the receiver value space meets its byte budget', async () => {
  const { fuser, sent, sharer, receiver } = await setup();
  const hook = valueSpaceHook(fuser, sent);
  const v = hook.project(0, sent.values[0], sent.length);
  assert.equal(v.dim, fuser.receiver.headDim);
  assert.equal(v.heads, fuser.receiver.kvHeads * fuser.layers.filter((L) => L.sharerLayer === 1).length);
  const fp16 = 2 * sent.layers * sent.kvHeads * sent.length * sent.headDim * 2;
  for (const fraction of [1 / 8, 1 / 4]) {
    const tx = await transmit(fuser, sent, { rd: { budget: { fraction }, actions: ['int4', 'int8'] } });
    assert.ok(tx.bytes.total <= fraction * fp16, `${tx.bytes.total} <= ${fraction * fp16}`);
    assert.ok(tx.kept > 0);
  }
  // Receiver-side baseline on the sharer grid: shapes per receiver layer.
  const own = (await receiver.prefill(receiver.spec.tokenizer.encode('Noel plays darts.', { addBos: true }))).cache;
  const align = Int32Array.from({ length: own.length }, (_, i) => Math.min(i, sent.length));
  const base = regridToSharer(fuser, own, align, sent.positions);
  assert.equal(base.length, fuser.receiver.layers);
  assert.equal(base[0].length, fuser.receiver.kvHeads * sent.length * fuser.receiver.headDim);
  await sharer.dispose();
  await receiver.dispose();
});
