import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { floatToHalf, halfToFloat } from '../util/fp16.js';
import { decode, encode, errorBounds, fakeQuantize, maxError, type QuantizedSection } from './codec.js';
import { packCodes, unpackCodes } from './pack.js';
import { createRng, fillNormal } from '../util/random.js';
import { isFloatSpec, NF4_CODEBOOK, sectionBytes, sectionLayout, type CodeSpec, type QuantSpec } from './spec.js';

const CODE_FORMATS: CodeSpec['format'][] = ['int8', 'int4', 'int2', 'nf4'];

/** A random valid spec for a [rows, cols] section. */
function randomSpec(rng: () => number, rows: number, cols: number): QuantSpec {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rng() * xs.length)];
  if (rng() < 0.1) return { format: pick(['fp16', 'fp32'] as const) };
  const format = pick(CODE_FORMATS);
  const scheme = format === 'nf4' ? 'sym' : pick(['sym', 'asym'] as const);
  const axis = pick(['token', 'channel', 'head', 'group'] as const);
  if (axis === 'group') {
    const divisors = Array.from({ length: cols }, (_, i) => i + 1).filter((g) => cols % g === 0);
    return { format, scheme, axis, group: pick(divisors) };
  }
  if (axis === 'channel' && rng() < 0.5) return { format, scheme, axis, group: 1 + Math.floor(rng() * rows) };
  return { format, scheme, axis };
}

/** Random data of several kinds: normal, offset, wide, tiny, constant rows, exact zeros. */
function randomData(rng: () => number, rows: number, cols: number): Float32Array {
  const x = fillNormal(new Float32Array(rows * cols), rng);
  const kind = Math.floor(rng() * 6);
  const scale = [1, 100, 1e-4, 3, 1, 1][kind];
  const offset = kind === 1 ? 500 : kind === 3 ? -7 : 0;
  for (let i = 0; i < x.length; i++) x[i] = x[i] * scale + offset;
  if (kind === 4) for (let r = 0; r < rows; r += 2) x.fill(r % 4 ? 0.1 : -2.5, r * cols, (r + 1) * cols);
  if (kind === 5) for (let i = 0; i < x.length; i += 3) x[i] = 0;
  return x;
}

/** The documented bit layout, read independently of pack.ts: element i at bit i·b, low first. */
function codeAt(codes: Uint8Array, bits: number, i: number): number {
  return (codes[(i * bits) >> 3] >> ((i * bits) & 7)) & ((1 << bits) - 1);
}

function codeOf(e: unknown): string | undefined {
  return e instanceof KvwireError ? e.code : undefined;
}

describe('quant codec', () => {
  it('round-trips random shapes, specs and data within the error bound, with exact byte counts', () => {
    const rng = createRng(12345);
    for (let trial = 0; trial < 600; trial++) {
      const rows = 1 + Math.floor(rng() * 37);
      const cols = 1 + Math.floor(rng() * 37);
      const spec = randomSpec(rng, rows, cols);
      const x = randomData(rng, rows, cols);
      const s = encode(spec, x, rows, cols);
      const bytes = sectionBytes(spec, rows, cols);
      const where = `trial ${trial} ${JSON.stringify(spec)} [${rows}, ${cols}]`;
      assert.equal(s.codes.length, bytes.codes, where);
      assert.equal(s.scales.length * 2, bytes.scales, where);
      assert.equal((s.zeros?.length ?? 0) * 2, bytes.zeros, where);
      assert.equal(s.codes.length + 2 * s.scales.length + 2 * (s.zeros?.length ?? 0), bytes.total, where);
      const y = decode(s);
      const bound = errorBounds(s);
      for (let i = 0; i < x.length; i++) {
        assert.ok(Number.isFinite(y[i]), `${where}: element ${i} decoded to ${y[i]}`);
        assert.ok(Math.abs(x[i] - y[i]) <= bound[i], `${where}: |${x[i]} - ${y[i]}| > ${bound[i]} at ${i}`);
      }
      // The fused fast paths and the generic (fake-quant) path agree to the bit.
      assert.deepEqual(fakeQuantize(spec, x, rows, cols), y, `${where}: fake != decode(encode)`);
    }
  });

  it('decodes exactly what the documented layout and formula give', () => {
    const rng = createRng(777);
    for (let trial = 0; trial < 300; trial++) {
      const rows = 1 + Math.floor(rng() * 20);
      const cols = 1 + Math.floor(rng() * 20);
      const spec = randomSpec(rng, rows, cols);
      if (isFloatSpec(spec)) continue;
      const layout = sectionLayout(spec, rows, cols);
      const s = encode(spec, randomData(rng, rows, cols), rows, cols);
      const y = decode(s);
      const ref = new Float32Array(rows * cols);
      const blockRows = spec.group ?? rows;
      for (let r = 0, i = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++, i++) {
          const g = spec.axis === 'token' ? r : spec.axis === 'head' ? 0 : spec.axis === 'group'
            ? Math.floor(i / spec.group!) : Math.floor(r / blockRows) * cols + c;
          const q = codeAt(s.codes, layout.bits, i);
          const sc = halfToFloat(s.scales[g]);
          if (spec.format === 'nf4') ref[i] = NF4_CODEBOOK[q] * sc;
          else if (spec.scheme === 'sym') {
            assert.ok(q >= 1, 'symmetric codes never use 0');
            ref[i] = (q - layout.offset) * sc;
          } else ref[i] = halfToFloat(s.zeros![g]) + q * sc;
        }
      }
      assert.deepEqual(y, ref, `${JSON.stringify(spec)} [${rows}, ${cols}]`);
      const spare = (layout.count * layout.bits) % 8;
      if (spare) assert.equal(s.codes[s.codes.length - 1] >> spare, 0, 'unused high bits are zero');
    }
  });

  it('chooses the scales and zero points of the exact group range', () => {
    // Reference: every finite fp16 value, sorted, searched for the documented directed roundings.
    const halves = Array.from({ length: 0x7c00 }, (_, h) => h).flatMap((h) => [h, h | 0x8000])
      .map((h) => ({ h, v: halfToFloat(h) })).sort((a, b) => a.v - b.v || a.h - b.h);
    const atMost = (x: number) => {
      let i = halves.length - 1;
      while (halves[i].v > x) i--;
      return halves[i].v;
    };
    const atLeast = (x: number) => halves.find((e) => e.v >= x)!.v;
    const rng = createRng(4242);
    // Values on and one float32 step beside fp16 numbers, zeros and constants: the edge cases of
    // the candidate ranges in ranges.ts.
    const edgy = (n: number) => Float32Array.from({ length: n }, () => {
      const base = halfToFloat(Math.floor(rng() * 0x7800) | (rng() < 0.5 ? 0x8000 : 0)) % 50;
      const f = new Float32Array([base]);
      const u = new Int32Array(f.buffer);
      if (base !== 0) u[0] += Math.floor(rng() * 3) - 1; // a neighbour of the same sign
      return rng() < 0.2 ? 0 : f[0];
    });
    for (let trial = 0; trial < 150; trial++) {
      const rows = 1 + Math.floor(rng() * 9);
      const cols = 1 + Math.floor(rng() * 9);
      const spec = randomSpec(rng, rows, cols);
      if (isFloatSpec(spec)) continue;
      const x = trial % 2 ? edgy(rows * cols) : randomData(rng, rows, cols);
      const layout = sectionLayout(spec, rows, cols);
      const s = encode(spec, x, rows, cols);
      const members: number[][] = Array.from({ length: layout.scaleCount }, () => []);
      const blockRows = spec.group ?? rows;
      for (let r = 0, i = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++, i++) {
          const g = spec.axis === 'token' ? r : spec.axis === 'head' ? 0 : spec.axis === 'group'
            ? Math.floor(i / spec.group!) : Math.floor(r / blockRows) * cols + c;
          members[g].push(x[i]);
        }
      }
      members.forEach((m, g) => {
        const mn = Math.min(...m);
        const mx = Math.max(...m);
        if (spec.scheme === 'asym') {
          const z = atMost(mn);
          assert.ok(halfToFloat(s.zeros![g]) === z && s.zeros![g] !== 0x8000, `zero of group ${g}`); // +0, never -0
          assert.equal(halfToFloat(s.scales[g]), atLeast((mx - z) / layout.qmax), `scale of group ${g}`);
        } else {
          assert.equal(halfToFloat(s.scales[g]), atLeast(Math.max(-mn, mx) / layout.qmax), `scale of group ${g}`);
        }
      });
    }
  });

  it('matches golden bytes', () => {
    const int4 = encode({ format: 'int4', scheme: 'asym', axis: 'token' }, Float32Array.from({ length: 16 }, (_, i) => i), 1, 16);
    assert.deepEqual([...int4.codes], [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    assert.deepEqual([...int4.scales], [floatToHalf(1)]);
    assert.deepEqual([...int4.zeros!], [0]);
    const int2 = encode({ format: 'int2', scheme: 'sym', axis: 'head' }, Float32Array.from([-1, 0, 1, 1, 0.4]), 1, 5);
    assert.deepEqual([...int2.codes], [0xf9, 0x02]); // q+2 = 1,2,3,3 | 2
    const int8 = encode({ format: 'int8', scheme: 'sym', axis: 'token' }, Float32Array.from([-127, 0, 127, 1.5]), 2, 2);
    assert.deepEqual([...int8.codes], [1, 128, 255, 130]); // 1.5 rounds half up to 2
    const nf4 = encode({ format: 'nf4', scheme: 'sym', axis: 'group', group: 4 }, Float32Array.from([-1, 0, 1, 0.5]), 1, 4);
    assert.deepEqual([...nf4.codes], [0x70, 0xcf]); // 0.5 is nearest to level 12 (0.4407)
  });

  it('keeps fp32 exact and fp16 exact on fp16-representable inputs', () => {
    const rng = createRng(9);
    const x = randomData(rng, 13, 7);
    assert.deepEqual(decode(encode({ format: 'fp32' }, x, 13, 7)), x);
    const h = new Float32Array(4096);
    for (let i = 0; i < h.length; i++) {
      let bits = Math.floor(rng() * 65536);
      if ((bits & 0x7c00) === 0x7c00) bits &= 0xbfff; // keep it finite
      h[i] = halfToFloat(bits);
    }
    assert.deepEqual(decode(encode({ format: 'fp16' }, h, 64, 64)), h);
    assert.equal(encode({ format: 'fp16' }, h, 64, 64).codes.length, 2 * 4096);
  });

  it('handles constant and zero groups without dividing by zero', () => {
    for (const format of CODE_FORMATS) {
      for (const scheme of format === 'nf4' ? ['sym'] as const : ['sym', 'asym'] as const) {
        for (const v of [0, 0.5, -3, 1e-9]) {
          const x = new Float32Array(24).fill(v);
          const s = encode({ format, scheme, axis: 'token' }, x, 4, 6);
          const y = decode(s);
          const exact = halfToFloat(floatToHalf(v)) === v;
          for (let i = 0; i < y.length; i++) {
            assert.ok(Number.isFinite(y[i]));
            if (exact && (scheme === 'asym' || v === 0)) assert.equal(y[i], v, `${format} ${scheme} ${v}`);
            assert.ok(Math.abs(y[i] - v) <= maxError(s), `${format} ${scheme} ${v}`);
          }
        }
      }
    }
  });

  it('rejects NaN and Inf as NON_FINITE naming the section', () => {
    const specs: QuantSpec[] = [{ format: 'fp16' }, { format: 'fp32' },
      ...CODE_FORMATS.flatMap((format) => (['token', 'channel', 'head'] as const).map((axis): QuantSpec =>
        ({ format, scheme: format === 'nf4' ? 'sym' : 'asym', axis })))];
    for (const spec of specs) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const x = new Float32Array(32).fill(1);
        x[19] = bad;
        assert.throws(() => encode(spec, x, 4, 8, 'keys[layer 2, head 1]'), (e: unknown) =>
          codeOf(e) === 'NON_FINITE' && /keys\[layer 2, head 1\].*\[2, 3\]/.test((e as Error).message),
        `${JSON.stringify(spec)} ${bad}`);
        assert.throws(() => fakeQuantize(spec, x, 4, 8), (e: unknown) => codeOf(e) === 'NON_FINITE');
      }
    }
  });

  it('rejects bad shapes and specs as BAD_ARGUMENT', () => {
    const x = new Float32Array(12);
    const int4: QuantSpec = { format: 'int4', scheme: 'asym', axis: 'token' };
    const bad = (f: () => unknown) => assert.throws(f, (e: unknown) => codeOf(e) === 'BAD_ARGUMENT');
    bad(() => encode(int4, x, 3, 5)); // rows·cols != length
    bad(() => encode(int4, new Float32Array(0), 0, 8)); // empty
    bad(() => encode({ format: 'int4', scheme: 'asym', axis: 'group', group: 5 }, x, 3, 4)); // 5 ∤ 4
    bad(() => encode({ format: 'int4', scheme: 'asym', axis: 'group' }, x, 3, 4)); // no group
    bad(() => encode({ format: 'int4', scheme: 'asym', axis: 'token', group: 2 }, x, 3, 4)); // ignored group
    bad(() => encode({ format: 'nf4', scheme: 'asym', axis: 'token' }, x, 3, 4));
    bad(() => encode({ format: 'int3' } as unknown as QuantSpec, x, 3, 4));
    bad(() => encode({ format: 'fp16' }, Float32Array.from([1e6]), 1, 1)); // beyond fp16
    bad(() => encode({ format: 'int8', scheme: 'sym', axis: 'head' }, Float32Array.from([1e30]), 1, 1));
    bad(() => decode(encode(int4, x, 3, 4), new Float32Array(5)));
  });

  it('rejects sections whose buffers do not match the layout as BAD_FORMAT', () => {
    const x = fillNormal(new Float32Array(64), createRng(5));
    const good = encode({ format: 'int4', scheme: 'asym', axis: 'token' }, x, 8, 8);
    const bad = (s: QuantizedSection) => assert.throws(() => decode(s), (e: unknown) => codeOf(e) === 'BAD_FORMAT');
    bad({ ...good, codes: good.codes.subarray(1) });
    bad({ ...good, scales: good.scales.subarray(1) });
    bad({ ...good, zeros: undefined });
    bad({ ...good, zeros: new Uint16Array(9) });
    bad({ ...good, rows: 7 });
    bad({ ...good, scales: good.scales.map((h, i) => (i === 3 ? 0x7c00 : h)) });
    bad({ ...good, scales: good.scales.map((h, i) => (i === 3 ? 0xbc00 : h)) }); // negative scale
    bad({ ...good, spec: { format: 'int4', scheme: 'asym', axis: 'group', group: 3 } });
    const sym = encode({ format: 'int8', scheme: 'sym', axis: 'token' }, x, 8, 8);
    bad({ ...sym, zeros: new Uint16Array(8) });
    const half = encode({ format: 'fp16' }, x, 8, 8);
    bad({ ...half, codes: Uint8Array.from(half.codes, (b, i) => (i === 1 ? 0x7c : b)) }); // Inf
  });

  it('packs and unpacks any number of codes', () => {
    const rng = createRng(3);
    for (const bits of [2, 4, 8]) {
      for (let n = 1; n < 40; n++) {
        const q = Uint8Array.from({ length: n }, () => Math.floor(rng() * (1 << bits)));
        const packed = new Uint8Array(Math.ceil((n * bits) / 8));
        packCodes(bits, q, n, packed);
        for (let i = 0; i < n; i++) assert.equal(codeAt(packed, bits, i), q[i]);
        const back = new Uint8Array(n);
        unpackCodes(bits, packed, n, back);
        assert.deepEqual(back, q);
      }
    }
  });
});
