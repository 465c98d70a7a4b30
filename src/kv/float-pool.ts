/**
 * Float32 arrays given back after use, reused by later allocations of the same size (the card
 * decoder's K/V arrays, the engine's token-major buffers). A fresh 50–100 MB cache costs a page
 * fault per 4 KiB on first write, which in this VM took as long as decoding it; reused arrays are
 * already mapped. Holds at most `maxBytes` (default 256 MiB: one 8K-token cache of Qwen2.5-0.5B's
 * shape): when a new array would not fit, the oldest pooled ones are dropped first, so a process
 * whose sizes change keeps the sizes it uses now. Not thread-safe (one per thread).
 */
export class FloatPool {
  private readonly free = new Map<number, Float32Array[]>();
  /** Every pooled array, oldest first (the eviction order). */
  private readonly order: Float32Array[] = [];
  private held = 0;
  constructor(readonly maxBytes = 256 * 2 ** 20) {}

  /** An array of exactly n floats (contents arbitrary), or null when none is pooled. */
  take(n: number): Float32Array | null {
    const a = this.free.get(n)?.pop() ?? null;
    if (a) this.forget(a);
    return a;
  }

  /** Hands arrays back (the caller must not use them afterwards); whole-buffer arrays only. */
  give(arrays: Iterable<Float32Array>): void {
    for (const a of arrays) {
      if (a.length === 0 || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.buffer instanceof SharedArrayBuffer) continue;
      if (a.byteLength > this.maxBytes) continue;
      const list = this.free.get(a.length) ?? [];
      if (list.includes(a)) continue;
      while (this.held + a.byteLength > this.maxBytes) {
        const old = this.order[0];
        const same = this.free.get(old.length)!;
        same.splice(same.indexOf(old), 1);
        this.forget(old);
      }
      list.push(a);
      this.free.set(a.length, list);
      this.order.push(a);
      this.held += a.byteLength;
    }
  }

  get bytes(): number { return this.held; }

  private forget(a: Float32Array): void {
    this.order.splice(this.order.indexOf(a), 1);
    this.held -= a.byteLength;
  }
}
