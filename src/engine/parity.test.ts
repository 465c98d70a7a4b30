// Parity with the reference implementations: each fixture (a tiny random model of one family,
// written by training/make_fixtures.py with Hugging Face transformers) and each shipped zoo model
// (reference written by training/export.py) comes with PyTorch's logits and KV cache for fixed
// inputs; kvwire must reproduce them in fp32 within a max relative error of 1e-4.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadModel, readSafetensorsHeader, readTensorAsFloat32 } from '../model/index.js';
import { readBytes } from '../model/safetensors.js';
import { repoRoot } from '../util/data.js';
import { Session } from './session.js';
import { maxRelError } from '../test-support/compare.js';

const TOLERANCE = 1e-4;

function readReference(dir: string) {
  const infos = readSafetensorsHeader(join(dir, 'reference.safetensors'));
  const float = (name: string) => readTensorAsFloat32(infos.get(name)!);
  const ints = (name: string) => {
    const raw = readBytes(infos.get(name)!);
    return Array.from(new BigInt64Array(raw.buffer, raw.byteOffset, raw.length / 8), Number);
  };
  return { infos, float, ints };
}

const dirs = ['fixtures', 'models'].flatMap((root) => {
  const base = join(repoRoot, root);
  return existsSync(base) ? readdirSync(base).map((d) => join(base, d)).filter((d) => existsSync(join(d, 'reference.safetensors'))) : [];
});

test('parity fixtures exist for every family', () => {
  const families = dirs.map((d) => loadModel(d).config.family);
  for (const f of ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma']) assert.ok(families.includes(f as never), `no fixture for ${f}`);
});

for (const dir of dirs) {
  describe(`parity with PyTorch: ${dir.slice(repoRoot.length + 1)}`, () => {
    test('logits and KV cache of a prefill, then logits of a continuation on the past cache', async () => {
      const spec = loadModel(dir);
      const ref = readReference(dir);
      const session = await Session.create(spec);
      try {
        const ids = ref.ints('input_ids');
        const { logits, cache } = await session.prefill(ids, { logits: 'all' });
        const err = maxRelError(logits, ref.float('logits'));
        console.log(`# ${dir.slice(repoRoot.length + 1)}: logits max relative error ${err.toExponential(2)}`);
        assert.ok(err <= TOLERANCE, `logits max relative error ${err}`);
        for (let l = 0; l < spec.config.layers; l++) {
          const ek = maxRelError(cache.keys[l], ref.float(`key.${l}`));
          const ev = maxRelError(cache.values[l], ref.float(`value.${l}`));
          assert.ok(ek <= TOLERANCE && ev <= TOLERANCE, `layer ${l}: key error ${ek}, value error ${ev}`);
        }
        if (ref.infos.has('input_ids_b')) {
          const next = await session.prefill(ref.ints('input_ids_b'), { past: cache, logits: 'all' });
          const eb = maxRelError(next.logits, ref.float('logits_b'));
          assert.ok(eb <= TOLERANCE, `continuation logits max relative error ${eb}`);
        }
      } finally {
        await session.dispose();
      }
    });

    // Fixtures also record their text; zoo references hold token ids only.
    if (existsSync(join(dir, 'reference.json'))) {
      test('the tokenizer encodes the reference text to the reference ids', () => {
        const meta = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
        assert.deepEqual(loadModel(dir).tokenizer.encode(meta.text_a), meta.token_ids_a_full);
      });
    }
  });
}
