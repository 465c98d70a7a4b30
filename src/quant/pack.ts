/**
 * Bit packing of codes, the one definition both directions use.
 *
 * Codes are packed in row-major element order, low bits first: element i of a b-bit section
 * lives in byte floor(i·b/8) at bit offset (i·b) mod 8. So INT4/NF4 put even elements in the low
 * nibble and odd elements in the high nibble of byte i>>1; INT2 puts element i in bits
 * 2·(i&3)..2·(i&3)+1 of byte i>>2; INT8 is one byte per element. Unused high bits of the last
 * byte are written as 0 and ignored on read. Rows are not padded: a row may end mid-byte.
 */

/** Packs `n` codes (each < 2^bits) from `q` into `out` (length ceil(n·bits/8)). */
export function packCodes(bits: number, q: Uint8Array, n: number, out: Uint8Array): void {
  if (bits === 8) {
    if (out !== q) out.set(q.subarray(0, n));
    return;
  }
  if (bits === 4) {
    const full = n >> 1;
    for (let j = 0, i = 0; j < full; j++, i += 2) out[j] = q[i] | (q[i + 1] << 4);
    if (n & 1) out[full] = q[n - 1];
    return;
  }
  // bits === 2
  const full = n >> 2;
  for (let j = 0, i = 0; j < full; j++, i += 4) {
    out[j] = q[i] | (q[i + 1] << 2) | (q[i + 2] << 4) | (q[i + 3] << 6);
  }
  if (n & 3) {
    let b = 0;
    for (let i = full * 4, k = 0; i < n; i++, k += 2) b |= q[i] << k;
    out[full] = b;
  }
}

/** Unpacks `n` codes of `bits` bits from `codes` into `q` (one code per byte). */
export function unpackCodes(bits: number, codes: Uint8Array, n: number, q: Uint8Array): void {
  if (bits === 8) {
    if (q !== codes) q.set(codes.subarray(0, n));
    return;
  }
  if (bits === 4) {
    const full = n >> 1;
    for (let j = 0, i = 0; j < full; j++, i += 2) {
      const b = codes[j];
      q[i] = b & 15;
      q[i + 1] = b >> 4;
    }
    if (n & 1) q[n - 1] = codes[full] & 15;
    return;
  }
  const full = n >> 2;
  for (let j = 0, i = 0; j < full; j++, i += 4) {
    const b = codes[j];
    q[i] = b & 3;
    q[i + 1] = (b >> 2) & 3;
    q[i + 2] = (b >> 4) & 3;
    q[i + 3] = b >> 6;
  }
  for (let i = full * 4, k = 0; i < n; i++, k += 2) q[i] = (codes[full] >> k) & 3;
}

let scratch = new Uint8Array(0);

/**
 * A reusable buffer of at least `n` bytes for unpacked codes. JavaScript runs one call at a time
 * and no caller holds it across another quantizer call, so one buffer serves every section.
 */
export function scratchCodes(n: number): Uint8Array {
  if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
  return scratch;
}
