/**
 * The WebAssembly kernels against the JavaScript ones they replace: the same bits on random data
 * and on the edge cases (rounding ties, subnormal halves, fp16 overflow, Inf and NaN, lengths that
 * are not a multiple of the SIMD width, constant groups, ±0, NaN inside a group).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { KvCache } from '../../kv/kv-cache.js';
import { KvBuffer } from '../../engine/kv-buffer.js';
import { createRng, fillNormal } from '../../util/random.js';
import { decode, encode } from '../codec.js';
import { decodeCodes, decodeCodesJs } from '../decode-kernels.js';
import { encodeCodes, encodeCodesJs } from '../encode-kernels.js';
import { floatsToHalves, floatsToHalvesJs, halvesToFloats, halvesToFloatsJs } from '../fp16-kernels.js';
import { decodeParams, decodeParamsJs, encodeParams, encodeParamsJs } from '../params.js';
import { groupRanges, groupRangesJs } from '../ranges.js';
import { sectionLayout, type CodeSpec, type QuantSpec } from '../spec.js';
import { kernelPath, setKernelPath, wasm, wasmFloatsToHalves, wasmHalvesToFloats } from './kernels.js';

const rng = createRng(0x5eed);
const bitsOf = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** Equal bit patterns (NaN included), with the first difference in the message. */
function sameBits(got: Float32Array | Float64Array | Uint8Array | Uint16Array, want: typeof got, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = got instanceof Uint8Array ? got : bitsOf(got as Float32Array);
  const w = want instanceof Uint8Array ? want : bitsOf(want as Float32Array);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}: byte ${i} is 0x${g[i].toString(16)}, JavaScript gives 0x${w[i].toString(16)}`);
  }
}

/** Runs fn on the JavaScript path, then on the WASM path. */
function both<T>(fn: () => T): [js: T, wasm: T] {
  setKernelPath('js');
  const js = fn();
  setKernelPath('wasm');
  const w = fn();
  return [js, w];
}

/**
 * Rows of mixed content: normal values at several scales (subnormal-half ranges, large ones),
 * exact fp16 numbers, ±0, constant rows, and rows on a grid of half steps, where the encoder's
 * x·(1/s) + (1/2 - z/s) lands exactly on integers (round-half-up ties).
 */
function edgyData(rows: number, cols: number): Float32Array {
  const x = fillNormal(new Float32Array(rows * cols), rng);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    switch (r % 8) {
      case 1: for (let i = 0; i < cols; i++) row[i] *= 1e-6; break; // halves' subnormal range
      case 2: for (let i = 0; i < cols; i++) row[i] *= 900; break;
      case 3: row.fill(0.3 + r); break; // constant
      case 4: for (let i = 0; i < cols; i++) row[i] = rng() < 0.5 ? 0 : -0; break;
      case 5: for (let i = 0; i < cols; i++) row[i] = -1 + Math.floor(rng() * 31) / 32; break; // ties
      case 6: for (let i = 0; i < cols; i++) row[i] = Math.round(row[i] * 1024) / 1024; break; // fp16 numbers
      default: break;
    }
  }
  return x;
}

const SPECS: CodeSpec[] = [];
for (const format of ['int8', 'int4', 'int2'] as const) {
  for (const scheme of ['asym', 'sym'] as const) {
    SPECS.push({ format, scheme, axis: 'token' }, { format, scheme, axis: 'head' }, { format, scheme, axis: 'channel' },
      { format, scheme, axis: 'channel', group: 5 }, { format, scheme, axis: 'group', group: 8 });
  }
}
SPECS.push({ format: 'nf4', scheme: 'sym', axis: 'token' }, { format: 'nf4', scheme: 'sym', axis: 'channel', group: 4 });
/** [rows, cols]: SIMD widths (16 columns, 8 rows) with and without remainders. */
const SHAPES: Array<[number, number]> = [[64, 64], [37, 24], [13, 8], [130, 72], [9, 40]];

describe('WebAssembly kernels', () => {
  after(() => setKernelPath(null));

  it('load and run (the comparisons below would otherwise compare JavaScript with itself)', () => {
    assert.ok(wasm(), 'WebAssembly SIMD is available on Node 20');
    setKernelPath('wasm');
    assert.equal(kernelPath(), 'wasm');
    setKernelPath('js');
    assert.equal(kernelPath(), 'js');
    assert.equal(wasm(), null);
    setKernelPath(null);
  });

  it('float32 -> fp16: the same halves and the same first bad index', () => {
    const k = wasm()!;
    // Every exponent with mantissas at the rounding edges (ties to even, carries into the
    // exponent, the subnormal boundary) and at random, both signs.
    const u: number[] = [];
    for (let e = 0; e < 143; e++) { // 143: beyond 65520 (e = 142), which overflows
      for (const m of [0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x2fff, 0x3000, 0x3001, 0x7fe000, 0x7fefff, 0x7ff000, 0x7fffff]) u.push((e << 23) | m);
      for (let j = 0; j < 64; j++) u.push((e << 23) | Math.floor(rng() * 0x800000));
    }
    const bits = Uint32Array.from([...u, ...u.map((b) => (b | 0x80000000) >>> 0)]);
    const all = new Float32Array(bits.buffer);
    const x = all.filter((v) => Math.abs(v) < 65520);
    assert.ok(x.length > 10000 && x.length < all.length);
    for (const n of [x.length, 1, 7, 8, 9, 15, 16, 17, 255, 1001]) {
      const a = new Uint8Array(2 * n);
      const b = new Uint8Array(2 * n);
      assert.equal(wasmFloatsToHalves(k, x.subarray(0, n), b), floatsToHalvesJs(x.subarray(0, n), a));
      sameBits(b, a, `n = ${n}`);
    }
    // A bad value anywhere: in a SIMD body, a tail, after a block boundary (32768), twice.
    const y = fillNormal(new Float32Array(40000), rng);
    for (const bad of [NaN, Infinity, -Infinity, 65520, -65520, 1e6, 3.4e38]) {
      for (const at of [0, 5, 8, 13, 32767, 32768, 39999]) {
        const z = y.slice();
        z[at] = bad;
        z[Math.min(39999, at + 3)] = NaN;
        assert.equal(wasmFloatsToHalves(k, z, new Uint8Array(80000)), at, `${bad} at ${at}`);
        assert.equal(floatsToHalvesJs(z, new Uint8Array(80000)), at);
      }
    }
    assert.equal(wasmFloatsToHalves(k, Float32Array.from([65504, -65504, 65519.996, 1, 2, 3, 4, 5, 6]), new Uint8Array(18)), -1);
  });

  it('fp16 -> float32: every half, and the same first Inf/NaN index', () => {
    const k = wasm()!;
    const finite = Uint16Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00);
    const bytes = new Uint8Array(finite.buffer);
    for (const n of [finite.length, 1, 7, 9, 17, 300]) {
      const a = new Float32Array(n);
      const b = new Float32Array(n);
      assert.equal(wasmHalvesToFloats(k, bytes.subarray(0, 2 * n), b), halvesToFloatsJs(bytes.subarray(0, 2 * n), a));
      sameBits(b, a, `n = ${n}`);
    }
    for (const bad of [0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xffff]) {
      for (const at of [0, 6, 8, 40000, 60000]) {
        const h = finite.slice();
        h[at] = bad;
        const by = new Uint8Array(h.buffer);
        assert.equal(wasmHalvesToFloats(k, by, new Float32Array(h.length)), at);
        assert.equal(halvesToFloatsJs(by, new Float32Array(h.length)), at);
      }
    }
  });

  it('floatsToHalves / halvesToFloats dispatch to the same bits on either path', () => {
    const x = edgyData(50, 40);
    const [a, b] = both(() => { const o = new Uint8Array(4001); floatsToHalves(x, o.subarray(1)); return o; }); // odd offset
    sameBits(b, a, 'halves');
    const [c, d] = both(() => { const o = new Float32Array(x.length); halvesToFloats(a.subarray(1), o); return o; });
    sameBits(d, c, 'floats');
  });

  it('group ranges: the same lo/hi (±0 and NaN included) and the same flag', () => {
    for (const spec of SPECS) {
      for (const [rows, cols] of SHAPES) {
        if (spec.axis === 'group' && cols % spec.group! !== 0) continue;
        const layout = sectionLayout(spec, rows, cols);
        for (const poison of [null, NaN, Infinity, -Infinity]) {
          const x = edgyData(rows, cols);
          if (poison !== null) x[Math.floor(rng() * x.length)] = poison;
          const asym = spec.scheme === 'asym';
          const [js, w] = both(() => {
            const lo = new Float64Array(layout.scaleCount);
            const hi = new Float64Array(layout.scaleCount);
            const approx = groupRanges(layout, x, asym, lo, hi);
            return { lo, hi, approx };
          });
          const what = `${JSON.stringify(spec)} [${rows}, ${cols}] ${poison}`;
          assert.equal(w.approx, js.approx, what);
          for (let g = 0; g < js.lo.length; g++) {
            if (!Object.is(w.lo[g], js.lo[g]) || !Object.is(w.hi[g], js.hi[g])) {
              assert.fail(`${what}: group ${g} [${w.lo[g]}, ${w.hi[g]}], JavaScript [${js.lo[g]}, ${js.hi[g]}]`);
            }
          }
        }
      }
    }
    // groupRanges is the JavaScript loop when forced to.
    setKernelPath('js');
    const layout = sectionLayout({ format: 'int4', scheme: 'asym', axis: 'token' }, 8, 64);
    const x = edgyData(8, 64);
    const a = [new Float64Array(8), new Float64Array(8)];
    const b = [new Float64Array(8), new Float64Array(8)];
    groupRanges(layout, x, true, a[0], a[1]);
    groupRangesJs(layout, x, true, b[0], b[1]);
    sameBits(a[0], b[0], 'lo');
  });

  it('encodeParams: the same scales, zero points and float64 constants, or the same error', () => {
    for (const spec of SPECS) {
      for (const [rows, cols] of SHAPES) {
        if (spec.axis === 'group' && cols % spec.group! !== 0) continue;
        const layout = sectionLayout(spec, rows, cols);
        for (const poison of [null, NaN, Infinity, 1e6, -7e4]) {
          const x = edgyData(rows, cols);
          if (poison !== null) x[Math.floor(rng() * x.length)] = poison;
          const what = `${JSON.stringify(spec)} [${rows}, ${cols}] ${poison}`;
          const [js, w] = both(() => {
            try {
              return encodeParams(layout, x, 'x');
            } catch (e) {
              return e as Error;
            }
          });
          if (js instanceof Error || w instanceof Error) {
            assert.ok(js instanceof Error && w instanceof Error, `${what}: ${js} / ${w}`);
            assert.equal(w.message, js.message, what);
            continue;
          }
          sameBits(new Uint8Array(w.scales.buffer), new Uint8Array(js.scales.buffer), `${what} scales`);
          if (js.zeros) sameBits(new Uint8Array(w.zeros!.buffer), new Uint8Array(js.zeros.buffer), `${what} zeros`);
          sameBits(w.mul, js.mul, `${what} mul`);
          sameBits(w.add, js.add, `${what} add`);
        }
      }
    }
    // The scalar pass of ranges.ts's rare exact re-check: groups whose minimum sits one float32
    // step above an fp16 number make the candidates ambiguous.
    const x = new Float32Array(64 * 64);
    for (let r = 0; r < 64; r++) {
      const h = 1 + r / 1024;
      for (let c = 0; c < 64; c++) x[r * 64 + c] = h + (c % 7) * 2 ** -9;
      x[r * 64 + 3] = Math.fround(h + 2 ** -23);
      x[r * 64 + 5] = h + 2 ** -23 * (r % 3);
    }
    const layout = sectionLayout({ format: 'int4', scheme: 'asym', axis: 'token' }, 64, 64);
    const [a, b] = both(() => encodeParams(layout, x, 'x'));
    sameBits(b.mul, a.mul, 'near-fp16 mul');
    sameBits(b.add, a.add, 'near-fp16 add');
    sameBits(encodeParamsJs(layout, x, 'x').add, a.add, 'encodeParamsJs');
  });

  it('encodeCodes / decodeCodes: the same packed bytes and the same floats', () => {
    for (const spec of SPECS) {
      for (const [rows, cols] of SHAPES) {
        if (spec.axis === 'group' && cols % spec.group! !== 0) continue;
        const layout = sectionLayout(spec, rows, cols);
        const x = edgyData(rows, cols);
        setKernelPath('js');
        const p = encodeParams(layout, x, 'x');
        const what = `${JSON.stringify(spec)} [${rows}, ${cols}]`;
        const [a, b] = both(() => { const c = new Uint8Array(layout.codeBytes); encodeCodes(layout, x, p, c); return c; });
        sameBits(b, a, `${what} codes`);
        const ref = new Uint8Array(layout.codeBytes);
        encodeCodesJs(layout, x, p, ref);
        sameBits(a, ref, `${what} codes (encodeCodesJs)`);
        const dp = decodeParams(layout, p.scales, p.zeros);
        const [dj, dw] = both(() => decodeParams(layout, p.scales, p.zeros));
        sameBits(dw.scale, dj.scale, `${what} decode scale`);
        sameBits(dw.base, dj.base, `${what} decode base`);
        sameBits(decodeParamsJs(layout, p.scales, p.zeros).base, dj.base, `${what} decodeParamsJs`);
        const [c, d] = both(() => { const o = new Float32Array(layout.count); decodeCodes(layout, a, dp, o); return o; });
        sameBits(d, c, `${what} values`);
        const ref2 = new Float32Array(layout.count);
        decodeCodesJs(layout, a, dp, ref2);
        sameBits(c, ref2, `${what} values (decodeCodesJs)`);
        // Random bytes decode too (any code, not only the encoder's).
        const junk = Uint8Array.from({ length: layout.codeBytes }, () => Math.floor(rng() * 256));
        const [e, f] = both(() => { const o = new Float32Array(layout.count); decodeCodes(layout, junk, dp, o); return o; });
        sameBits(f, e, `${what} values of random codes`);
      }
    }
  });

  it('encode -> decode of whole sections: the same bytes and floats on either path', () => {
    const specs: QuantSpec[] = [{ format: 'fp16' }, ...SPECS];
    for (const spec of specs) {
      const x = edgyData(256, 64);
      const [a, b] = both(() => encode(spec, x, 256, 64));
      sameBits(b.codes, a.codes, `${JSON.stringify(spec)} codes`);
      sameBits(new Uint8Array(b.scales.buffer), new Uint8Array(a.scales.buffer), 'scales');
      const [c, d] = both(() => decode(a));
      sameBits(d, c, `${JSON.stringify(spec)} values`);
    }
  });

  it('KvBuffer.fromCache: the same token-major floats', () => {
    for (const [KV, T, D] of [[2, 300, 64], [3, 41, 6], [1, 700, 12]]) {
      const shape = { layers: 2, kvHeads: KV, headDim: D };
      const layer = () => fillNormal(new Float32Array(KV * T * D), rng);
      const cache = new KvCache(shape, [layer(), layer()], [layer(), layer()], Int32Array.from({ length: T }, (_, t) => t), new Int32Array(T));
      const [a, b] = both(() => KvBuffer.fromCache(cache));
      for (let l = 0; l < 2; l++) {
        sameBits(b.keyView(l), a.keyView(l), `keys ${l}`);
        sameBits(b.valueView(l), a.valueView(l), `values ${l}`);
      }
      assert.deepEqual(b.toCache().keys[1], cache.keys[1]);
    }
  });
});
