/**
 * The trained C2C fusers shipped in models/fusers/: kvwire's TypeScript projector reproduces
 * PyTorch's outputs on the reference batch saved at export (training/c2c/train_c2c.py: one
 * validation example's first 12 sharer tokens, outputs computed from the fp16-rounded weights),
 * through the whole receiver chain (unrotate with the sharer's RoPE, project, gate, rotate with
 * the receiver's RoPE at the slot positions); each fuser is bound to the zoo models it was trained
 * on; a receiver without a fuser for a sharer refuses it (NO_FUSER); save/load round trip.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KvwireError } from '../errors.js';
import { KvCache } from '../kv/index.js';
import { fingerprint, loadModel } from '../model/index.js';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../model/safetensors.js';
import { repoRoot } from '../util/data.js';
import { c2cProjectLayer } from './c2c.js';
import { releaseC2CGraphs } from './c2c-graph.js';
import { fuserMacsPerToken, fuserParameters, type LinearFuser } from './fuser.js';
import { loadFuser, saveFuser } from './io.js';
import { fuseSlots, fuserRope, projectReceived, projectReceivedFast, slotLayout, transmittedLayers } from './protocol.js';
import { fuserFor, loadFusers } from './registry.js';
import { rotateKeys } from './rope.js';
import { maxRelError } from '../test-support/compare.js';

const root = join(repoRoot, 'models', 'fusers');
const pairs = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, 'reference.safetensors'))).sort() : [];

function reference(dir: string): Map<string, Float32Array> {
  const infos = readSafetensorsHeader(join(dir, 'reference.safetensors'));
  return new Map([...infos].map(([name, info]) => [name, readTensorAsFloat32(info)]));
}

/** Worst relative error of the fuser against the reference: projections, weights, slots. */
function parity(fuser: LinearFuser, ref: Map<string, Float32Array>): { projected: number; weights: number; slots: number } {
  const positions = Int32Array.from(ref.get('positions')!);
  const T = positions.length;
  const used = transmittedLayers(fuser);
  const { kvHeads: Hs, headDim: Ds } = fuser.sharer;
  const received = new KvCache({ layers: used.length, kvHeads: Hs, headDim: Ds },
    used.map((u) => ref.get(`sharer.keys.${u}`)!), used.map((u) => ref.get(`sharer.values.${u}`)!), positions, new Int32Array(T));
  const projected = projectReceived(fuser, received);
  const slots = fuseSlots(fuser, projected, slotLayout(fuser, positions, T + 1, true).positions);
  const worst = { projected: 0, weights: 0, slots: 0 };
  fuser.layers.forEach((L, l) => {
    worst.projected = Math.max(worst.projected, maxRelError(projected.keys[l], ref.get(`projected.keys.${l}`)!), maxRelError(projected.values[l], ref.get(`projected.values.${l}`)!));
    worst.slots = Math.max(worst.slots, maxRelError(slots.keys[l], ref.get(`slots.keys.${l}`)!), maxRelError(slots.values[l], ref.get(`slots.values.${l}`)!));
    const u = used.indexOf(L.sharerLayer);
    const keys = rotateKeys(received.keys[u].slice(), Hs, positions, Ds, fuserRope(fuser.sharer), -1);
    const { weights } = c2cProjectLayer(fuser, l, keys, received.values[u], T);
    worst.weights = Math.max(worst.weights, maxRelError(weights, ref.get(`weights.${l}`)!));
  });
  return worst;
}

test('models/fusers holds the three trained pairs (two heterogeneous, one same-family)', () => {
  assert.ok(pairs.length >= 3, `expected ≥ 3 shipped fusers under ${root}, found ${pairs.join(', ') || 'none'}`);
  const fusers = pairs.map((p) => loadFuser(join(root, p, 'fuser.safetensors')));
  assert.ok(fusers.every((f) => f.kind === 'c2c-mlp'));
  assert.ok(fusers.filter((f) => f.sharer.family !== f.receiver.family && f.sharer.tokenizerDigest !== f.receiver.tokenizerDigest).length >= 2);
  assert.ok(fusers.some((f) => f.sharer.family === f.receiver.family));
});

for (const pair of pairs) {
  test(`c2c parity with PyTorch: ${pair} (max rel err ≤ 1e-3)`, (t) => {
    const fuser = loadFuser(join(root, pair, 'fuser.safetensors'));
    const ref = reference(join(root, pair));
    const e = parity(fuser, ref);
    t.diagnostic(`max relative error: projected ${e.projected.toExponential(2)}, weights ${e.weights.toExponential(2)}, slots ${e.slots.toExponential(2)}`);
    assert.ok(e.projected <= 1e-3 && e.weights <= 1e-3 && e.slots <= 1e-3, `relative errors ${JSON.stringify(e)}`);
    // The comparison can fail: a small change of one output bias is visible.
    const L0 = fuser.layers[0].c2c!;
    const saved = L0.output.b[0];
    L0.output.b[0] += 0.05 * Math.max(1e-3, Math.abs(ref.get('projected.keys.0')![0]) + 1);
    const broken = parity(fuser, ref);
    L0.output.b[0] = saved;
    assert.ok(broken.projected > 1e-3, `a perturbed bias still passed: ${JSON.stringify(broken)}`);
  });

  test(`c2c fuser ${pair} is bound to the zoo models it was trained on`, () => {
    const [s, r] = pair.split('--');
    const fuser = loadFuser(join(root, pair, 'fuser.safetensors'));
    const sf = fingerprint(loadModel(join(repoRoot, 'models', s)));
    const rf = fingerprint(loadModel(join(repoRoot, 'models', r)));
    assert.equal(fuserFor(loadFusers(root), sf, rf).sharer.id, sf.id);
    assert.ok(fuserParameters(fuser) > 0 && fuserMacsPerToken(fuser) > 0);
    // The reverse direction is not shipped: refused with NO_FUSER naming both models.
    assert.throws(() => fuserFor(loadFusers(root), rf, sf), (err: unknown) => err instanceof KvwireError && err.code === 'NO_FUSER' && err.message.includes(sf.id));
  });
}

test('c2c fuser: save and load round trip (fp32 file) projects identically', () => {
  assert.ok(pairs.length > 0);
  const fuser = loadFuser(join(root, pairs[0], 'fuser.safetensors'));
  const dir = mkdtempSync(join(tmpdir(), 'kvw-c2c-'));
  try {
    saveFuser(fuser, join(dir, 'f.safetensors'));
    const again = loadFuser(join(dir, 'f.safetensors'));
    assert.equal(again.kind, 'c2c-mlp');
    const ref = reference(join(root, pairs[0]));
    const a = parity(fuser, ref);
    const b = parity(again, ref);
    assert.deepEqual(a, b);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const pair of pairs) {
  test(`c2c onnxruntime graph = loops = PyTorch: ${pair}`, async (t) => {
    const fuser = loadFuser(join(root, pair, 'fuser.safetensors'));
    const ref = reference(join(root, pair));
    const positions = Int32Array.from(ref.get('positions')!);
    const used = transmittedLayers(fuser);
    const received = new KvCache({ layers: used.length, kvHeads: fuser.sharer.kvHeads, headDim: fuser.sharer.headDim },
      used.map((u) => ref.get(`sharer.keys.${u}`)!), used.map((u) => ref.get(`sharer.values.${u}`)!), positions, new Int32Array(positions.length));
    try {
      const only = fuser.layers.map((_, l) => l !== 1);
      const fast = await projectReceivedFast(fuser, received, only);
      const loops = projectReceived(fuser, received);
      let worst = 0;
      fuser.layers.forEach((_, l) => {
        if (!only[l]) {
          assert.equal(fast.keys[l].length, 0);
          return;
        }
        worst = Math.max(worst, maxRelError(fast.keys[l], ref.get(`projected.keys.${l}`)!), maxRelError(fast.values[l], ref.get(`projected.values.${l}`)!));
        assert.ok(maxRelError(fast.keys[l], loops.keys[l]) <= 1e-5 && maxRelError(fast.values[l], loops.values[l]) <= 1e-5);
      });
      t.diagnostic(`graph vs PyTorch: max relative error ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-3);
    } finally {
      await releaseC2CGraphs(fuser);
    }
  });
}
