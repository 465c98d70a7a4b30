/**
 * A minimal GGUF (v3) writer, for the handoff benchmark's llama.cpp peer: metadata key/values and
 * F32/F16 tensors, streamed to a file (a 0.5B model is 1 GB). Layout per ggml's docs/gguf.md:
 *   u32 magic "GGUF", u32 version 3, u64 tensor count, u64 kv count,
 *   kv: string key, u32 type, value;  tensor info: string name, u32 n_dims, u64 dims[n] (ne0 first),
 *   u32 ggml type, u64 offset;  padding to `general.alignment` (32); tensor data, each aligned.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type GgufValue =
  | { type: 'u32'; value: number } | { type: 'i32'; value: number } | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean } | { type: 'string'; value: string }
  | { type: 'strings'; value: string[] } | { type: 'f32s'; value: Float32Array } | { type: 'i32s'; value: Int32Array };

export interface GgufTensor {
  name: string;
  /** ggml order: ne0 (the contiguous dimension) first. */
  dims: number[];
  type: 'f32' | 'f16';
  /** Fills `out` (elements [start, start + out.length) of the tensor, row-major in ggml order). */
  fill: (out: Float32Array | Uint16Array, start: number) => void;
}

const ALIGNMENT = 32;
const T = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;
const GGML = { f32: 0, f16: 1 } as const;

class Buf {
  parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.parts.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v: number): void { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v: number): void { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
}

function writeValue(b: Buf, v: GgufValue): void {
  switch (v.type) {
    case 'u32': b.u32(T.u32); b.u32(v.value); break;
    case 'i32': b.u32(T.i32); b.i32(v.value); break;
    case 'f32': b.u32(T.f32); b.f32(v.value); break;
    case 'bool': b.u32(T.bool); b.push(Buffer.from([v.value ? 1 : 0])); break;
    case 'string': b.u32(T.string); b.str(v.value); break;
    case 'strings': b.u32(T.array); b.u32(T.string); b.u64(v.value.length); for (const s of v.value) b.str(s); break;
    case 'f32s': b.u32(T.array); b.u32(T.f32); b.u64(v.value.length); b.push(Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength)); break;
    case 'i32s': b.u32(T.array); b.u32(T.i32); b.u64(v.value.length); b.push(Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength)); break;
  }
}

const pad = (n: number) => (ALIGNMENT - (n % ALIGNMENT)) % ALIGNMENT;

/** Writes a GGUF file; tensor data is produced by each tensor's `fill`, a few MB at a time. */
export function writeGguf(path: string, kv: Record<string, GgufValue>, tensors: GgufTensor[]): number {
  const head = new Buf();
  head.push(Buffer.from('GGUF', 'ascii'));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(Object.keys(kv).length);
  for (const [k, v] of Object.entries(kv)) { head.str(k); writeValue(head, v); }
  let offset = 0;
  const sizes = tensors.map((t) => t.dims.reduce((a, d) => a * d, 1) * (t.type === 'f32' ? 4 : 2));
  tensors.forEach((t, i) => {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GGML[t.type]);
    head.u64(offset);
    offset += sizes[i] + pad(sizes[i]);
  });
  head.push(Buffer.alloc(pad(head.length)));
  const fd = openSync(path, 'w');
  try {
    let written = 0;
    for (const p of head.parts) written += writeSync(fd, p);
    const CHUNK = 1 << 22;
    tensors.forEach((t, i) => {
      const count = sizes[i] / (t.type === 'f32' ? 4 : 2);
      for (let start = 0; start < count; start += CHUNK) {
        const n = Math.min(CHUNK, count - start);
        const out = t.type === 'f32' ? new Float32Array(n) : new Uint16Array(n);
        t.fill(out, start);
        written += writeSync(fd, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
      }
      written += writeSync(fd, Buffer.alloc(pad(sizes[i])));
    });
    return written;
  } finally {
    closeSync(fd);
  }
}
