import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { NF4_CODEBOOK, NF4_HALF_GAP, sectionBytes, sectionLayout, specLabel, validateSpec, type QuantSpec } from './spec.js';

describe('quant spec', () => {
  it('counts bytes by formula', () => {
    // One Qwen2.5-0.5B head at 4K tokens: [4096, 64].
    assert.deepEqual(sectionBytes({ format: 'int4', scheme: 'asym', axis: 'token' }, 4096, 64),
      { codes: 131072, scales: 8192, zeros: 8192, total: 147456 });
    assert.deepEqual(sectionBytes({ format: 'int2', scheme: 'asym', axis: 'channel' }, 4096, 64),
      { codes: 65536, scales: 128, zeros: 128, total: 65792 });
    assert.deepEqual(sectionBytes({ format: 'int2', scheme: 'asym', axis: 'channel', group: 32 }, 4096, 64),
      { codes: 65536, scales: 16384, zeros: 16384, total: 98304 });
    assert.deepEqual(sectionBytes({ format: 'int8', scheme: 'sym', axis: 'head' }, 4096, 64),
      { codes: 262144, scales: 2, zeros: 0, total: 262146 });
    assert.deepEqual(sectionBytes({ format: 'nf4', scheme: 'sym', axis: 'group', group: 32 }, 4096, 64),
      { codes: 131072, scales: 16384, zeros: 0, total: 147456 });
    assert.deepEqual(sectionBytes({ format: 'fp16' }, 4096, 64), { codes: 524288, scales: 0, zeros: 0, total: 524288 });
    // Rows are not padded: 3·5 INT4 values take 8 bytes, and a short last channel block counts.
    assert.equal(sectionBytes({ format: 'int4', scheme: 'sym', axis: 'token' }, 3, 5).codes, 8);
    assert.equal(sectionBytes({ format: 'int4', scheme: 'sym', axis: 'channel', group: 2 }, 5, 3).scales, 2 * 9);
  });

  it('describes symmetric and asymmetric grids', () => {
    const sym = sectionLayout({ format: 'int4', scheme: 'sym', axis: 'token' }, 2, 2);
    assert.deepEqual([sym.qmax, sym.offset, sym.codeMax], [7, 8, 15]);
    const asym = sectionLayout({ format: 'int2', scheme: 'asym', axis: 'token' }, 2, 2);
    assert.deepEqual([asym.qmax, asym.offset, asym.codeMax], [3, 0, 3]);
    assert.equal(NF4_CODEBOOK[7], 0);
    assert.ok(Math.abs(NF4_HALF_GAP - (1 - 0.6961928009986877) / 2) < 1e-7);
    assert.equal(specLabel({ format: 'nf4', scheme: 'sym', axis: 'group', group: 64 }), 'nf4-sym-group64');
  });

  it('rejects incomplete or contradictory specs', () => {
    const bad: unknown[] = [
      { format: 'int5', scheme: 'sym', axis: 'token' },
      { format: 'int4', axis: 'token' },
      { format: 'int4', scheme: 'sym' },
      { format: 'int4', scheme: 'sym', axis: 'group', group: 0 },
      { format: 'int4', scheme: 'sym', axis: 'group', group: 1.5 },
      { format: 'int4', scheme: 'sym', axis: 'head', group: 4 },
      { format: 'nf4', scheme: 'asym', axis: 'token' },
    ];
    for (const spec of bad) {
      assert.throws(() => validateSpec(spec as QuantSpec), (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT',
        JSON.stringify(spec));
    }
    assert.throws(() => sectionLayout({ format: 'int4', scheme: 'sym', axis: 'token' }, 0, 64),
      (e: unknown) => e instanceof KvwireError && e.code === 'BAD_ARGUMENT');
  });
});
