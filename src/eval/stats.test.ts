import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wilsonInterval } from './stats.js';

test('Wilson interval matches known values', () => {
  // Reference values computed independently (Python, Wilson 1927 formula, z = 1.959964).
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 5e-5, `${a} vs ${b}`);
  let ci = wilsonInterval(81, 263);
  close(ci.low, 0.2553);
  close(ci.high, 0.3662);
  ci = wilsonInterval(0, 10);
  close(ci.low, 0);
  close(ci.high, 0.2775);
  ci = wilsonInterval(500, 500);
  close(ci.high, 1);
  close(ci.low, 0.99238);
});
