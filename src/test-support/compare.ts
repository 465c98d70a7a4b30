/** Numeric comparisons shared by the parity and cache-law tests. */
import assert from 'node:assert/strict';

/** max |got − want| / max |want|: the error relative to the reference tensor's scale. */
export function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'length');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / Math.max(scale, 1e-30);
}
