import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { floatToHalf, halfToFloat } from '../util/fp16.js';
import { decode, encode, encodeInto } from './codec.js';
import { floatsToHalves, halvesToFloats } from './fp16-kernels.js';
import { createRng, fillNormal } from '../util/random.js';
import type { QuantSpec } from './spec.js';

/** float32 bit patterns: every exponent, with mantissas at the rounding edges and at random. */
function patterns(): Float32Array {
  const rng = createRng(7);
  const bits: number[] = [];
  for (let e = 0; e < 255; e++) {
    for (const m of [0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x2fff, 0x3000, 0x3001, 0x7fe000, 0x7fefff, 0x7ff000, 0x7fffff]) bits.push((e << 23) | m);
    for (let k = 0; k < 200; k++) bits.push((e << 23) | Math.floor(rng() * 0x800000));
  }
  const u = Uint32Array.from([...bits, ...bits.map((b) => b | 0x80000000)]);
  return new Float32Array(u.buffer);
}

describe('fp16 kernels', () => {
  it('float32 -> fp16 gives floatToHalf\'s bits (round to nearest even) for every finite value in range', () => {
    const x = patterns().filter((v) => Number.isFinite(v) && (floatToHalf(v) & 0x7c00) !== 0x7c00);
    for (const offset of [0, 1]) { // aligned (Uint16Array path) and odd (byte path) destinations
      const out = new Uint8Array(2 * x.length + offset);
      assert.equal(floatsToHalves(x, out.subarray(offset)), -1);
      for (let i = 0; i < x.length; i++) {
        const h = out[offset + 2 * i] | (out[offset + 2 * i + 1] << 8);
        if (h !== floatToHalf(x[i])) assert.fail(`${x[i]}: got 0x${h.toString(16)}, floatToHalf 0x${floatToHalf(x[i]).toString(16)}`);
      }
    }
  });

  it('flags the first value that is not finite or overflows fp16', () => {
    for (const bad of [NaN, Infinity, -Infinity, 65520, -1e6]) {
      const x = Float32Array.from([1, 2, bad, 3]);
      assert.equal(floatsToHalves(x, new Uint8Array(8)), 2, String(bad));
    }
    assert.equal(floatsToHalves(Float32Array.from([65504, -65504, 65519]), new Uint8Array(6)), -1);
  });

  it('fp16 -> float32 is exact for every half and refuses Inf and NaN', () => {
    const all = new Uint8Array(2 * 65536);
    for (let h = 0; h < 65536; h++) { all[2 * h] = h & 0xff; all[2 * h + 1] = h >> 8; }
    for (let h = 0; h < 65536; h += 1024) {
      const run = all.subarray(2 * h, 2 * (h + 1024));
      const out = new Float32Array(1024);
      const e = (h >> 10) & 0x1f;
      assert.equal(halvesToFloats(run, out), e === 31 ? 0 : -1);
      if (e === 31) continue;
      for (let k = 0; k < 1024; k++) assert.ok(Object.is(out[k], halfToFloat(h + k)), `half 0x${(h + k).toString(16)}`);
    }
    const odd = new Uint8Array(5);
    odd.set([0x00, 0x3c, 0x00, 0xc0], 1); // 1, -2 at an odd offset
    const out = new Float32Array(2);
    assert.equal(halvesToFloats(odd.subarray(1), out), -1);
    assert.deepEqual([...out], [1, -2]);
  });

  it('encodeInto writes the bytes of encode (codes, scales, zeros) for every format', () => {
    const rng = createRng(3);
    const specs: QuantSpec[] = [
      { format: 'fp16' }, { format: 'fp32' }, { format: 'int8', scheme: 'asym', axis: 'token' },
      { format: 'int4', scheme: 'asym', axis: 'group', group: 32 }, { format: 'int4', scheme: 'asym', axis: 'channel', group: 64 },
      { format: 'int2', scheme: 'sym', axis: 'head' }, { format: 'nf4', scheme: 'sym', axis: 'group', group: 16 },
    ];
    for (const spec of specs) {
      const x = fillNormal(new Float32Array(37 * 64), rng);
      const q = encode(spec, x, 37, 64);
      const want = new Uint8Array([...q.codes, ...new Uint8Array(q.scales.buffer), ...(q.zeros ? new Uint8Array(q.zeros.buffer) : [])]);
      for (const offset of [0, 1]) {
        const out = new Uint8Array(want.length + offset);
        encodeInto(spec, x, 37, 64, out.subarray(offset));
        assert.deepEqual(out.subarray(offset), want, JSON.stringify(spec));
      }
      assert.deepEqual(decode(q), decode(q, new Float32Array(37 * 64)));
    }
  });

  it('fp16 encode refuses out-of-range values with a typed error', () => {
    assert.throws(() => encode({ format: 'fp16' }, Float32Array.from([1, 7e4]), 1, 2), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT' && /fp16's range/.test(e.message));
    assert.throws(() => encode({ format: 'fp16' }, Float32Array.from([1, NaN]), 1, 2), (e: unknown) => e instanceof KvwireError && e.code === 'NON_FINITE');
    assert.throws(() => encodeInto({ format: 'fp16' }, Float32Array.from([1, 2]), 1, 2, new Uint8Array(3)), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
  });
});
