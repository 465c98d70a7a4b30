import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bf16ToFloat, floatToHalf, halfToFloat } from './fp16.js';

test('every fp16 value round-trips exactly through float32', () => {
  for (let h = 0; h < 65536; h++) {
    const f = halfToFloat(h);
    if (Number.isNaN(f)) assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
    else assert.equal(floatToHalf(f), h, `0x${h.toString(16)}`);
  }
});

test('float32 -> fp16 rounds to nearest even, overflows to Inf, underflows to zero', () => {
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00);          // halfway: ties to even (down)
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);      // halfway: ties to even (up)
  assert.equal(floatToHalf(65520), 0x7c00);                 // rounds past the largest half: Inf
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(2 ** -25), 0);                    // halfway to the smallest subnormal: even (0)
  assert.equal(floatToHalf(3 * 2 ** -26), 1);
  assert.equal(floatToHalf(-0), 0x8000);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
});

test('bfloat16 is the top half of a float32', () => {
  assert.equal(bf16ToFloat(0x3f80), 1);
  assert.equal(bf16ToFloat(0xc000), -2);
});
