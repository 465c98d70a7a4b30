/**
 * Float32 arrays given back after use, reused by later allocations of the same size (the card
 * decoder's K/V arrays, the engine's token-major buffers). A fresh 50–100 MB cache costs a page
 * fault per 4 KiB on first write, which in this VM took as long as decoding it; reused arrays are
 * already mapped. Holds at most `maxBytes`; not thread-safe (one per thread).
 */
export class FloatPool {
  private readonly free = new Map<number, Float32Array[]>();
  private held = 0;
  constructor(readonly maxBytes = 1 << 30) {}

  /** An array of exactly n floats (contents arbitrary), or null when none is pooled. */
  take(n: number): Float32Array | null {
    const a = this.free.get(n)?.pop() ?? null;
    if (a) this.held -= a.byteLength;
    return a;
  }

  /** Hands arrays back (the caller must not use them afterwards); whole-buffer arrays only. */
  give(arrays: Iterable<Float32Array>): void {
    for (const a of arrays) {
      if (a.length === 0 || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.buffer instanceof SharedArrayBuffer) continue;
      if (this.held + a.byteLength > this.maxBytes) continue;
      const list = this.free.get(a.length) ?? [];
      if (list.includes(a)) continue;
      list.push(a);
      this.free.set(a.length, list);
      this.held += a.byteLength;
    }
  }

  get bytes(): number { return this.held; }
}
