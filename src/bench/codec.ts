/**
 * Codec throughput: quantize+pack and unpack+dequantize of a whole KV cache with Qwen2.5-0.5B's
 * shapes (24 layers, 2 KV heads, head dim 64) at 4K tokens, on one core (JavaScript is single
 * threaded). GB/s counts float32 input bytes (K and V): 2·24·2·4096·64·4 B = 100.7 MB per pass.
 * Data is normal(0, 1) from a seeded PRNG. Targets: encode >= 1 GB/s, decode >= 2 GB/s.
 *
 *   npm run bench:codec            (after npx tsc -p .)
 *   node dist/bench/codec.js --tokens 1024 --reps 5
 *
 * `--card`: the whole card path instead, as the handoff's sharer and receiver run it, on random
 * K/V and a random question-attention mass (14 query heads): plan (compress + card writer set-up),
 * encode (every section), decode (CardDecoder fed 64 KiB pieces, reusing its arrays through a
 * FloatPool where the build has one, as the receiver does) and KvBuffer.fromCache (inject's
 * layout change, into pooled arrays where the build pools them, as Session.inject does), median
 * ms per --compressions. `--root DIR` runs another build's dist/ (a git
 * worktree of an older commit, built with tsc) in the same way, for before/after on one machine.
 * Beside them, `floor`: what any verified codec of that card must spend on this machine, timed in
 * the same loop: SHA-256 over the card twice (the sharer hashes, the receiver verifies) plus one
 * copy of the decoded K/V floats into already-mapped memory (every carried float read once and
 * written once). `codec / floor` says how far encode + decode are from it.
 *
 * Every table says which kernels ran: 'wasm' (WebAssembly SIMD) or 'js' (KVWIRE_NO_WASM=1, or a
 * build without them).
 */
import { KvCache } from '../kv/kv-cache.js';
import {
  createRng, decode, fillNormal, kivi, quantizeCache, quantizedCacheBytes, specLabel,
  type CacheQuantOptions, type QuantizedCache,
} from '../quant/index.js';
import { benchArgs, measure, printTable, writeResults, type Row } from './report.js';
import os from 'node:os';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../util/data.js';
import { kernelPath } from '../quant/wasm/kernels.js';

const TARGET_ENCODE_GBPS = 1;
const TARGET_DECODE_GBPS = 2;

const { values: args } = benchArgs('codec', {
  tokens: { type: 'string', default: '4096' },
  reps: { type: 'string', default: '9' },
  warmup: { type: 'string', default: '3' },
  card: { type: 'boolean' },
  root: { type: 'string' },
  compressions: { type: 'string', default: 'int4-q2c25,int4,int8,fp16' },
});
const T = Number(args.tokens);
const reps = Number(args.reps);
const warmup = Number(args.warmup);
const shape = { layers: 24, kvHeads: 2, headDim: 64 }; // Qwen2.5-0.5B

const configs: Array<{ name: string; options: CacheQuantOptions }> = [
  { name: 'int8 KIVI', options: kivi('int8') },
  { name: 'int4 KIVI', options: kivi('int4') },
  { name: 'int2 KIVI', options: kivi('int2') },
  { name: 'nf4 group64', options: both({ format: 'nf4', scheme: 'sym', axis: 'group', group: 64 }) },
  { name: 'int8 sym/token', options: both({ format: 'int8', scheme: 'sym', axis: 'token' }) },
  { name: 'int4 sym/token', options: both({ format: 'int4', scheme: 'sym', axis: 'token' }) },
  { name: 'int2 asym/group32', options: both({ format: 'int2', scheme: 'asym', axis: 'group', group: 32 }) },
];

function both(spec: CacheQuantOptions['keys']): CacheQuantOptions {
  return { keys: spec, values: spec };
}

function makeCache(): KvCache {
  const rng = createRng(0x6b7677);
  const per = shape.kvHeads * T * shape.headDim;
  const layer = () => fillNormal(new Float32Array(per), rng);
  const keys = Array.from({ length: shape.layers }, layer);
  const values = Array.from({ length: shape.layers }, layer);
  const positions = Int32Array.from({ length: T }, (_, t) => t);
  return new KvCache(shape, keys, values, positions, new Int32Array(T));
}

/** Decodes every section into preallocated buffers (the codec, not the allocator, is timed). */
function decodeInto(q: QuantizedCache, outK: Float32Array[], outV: Float32Array[]): void {
  const size = T * shape.headDim;
  for (let l = 0; l < shape.layers; l++) {
    for (let h = 0; h < shape.kvHeads; h++) {
      decode(q.keys[l][h].body!, outK[l].subarray(h * size, (h + 1) * size));
      decode(q.values[l][h].body!, outV[l].subarray(h * size, (h + 1) * size));
    }
  }
}

function rmse(cache: KvCache, outK: Float32Array[], outV: Float32Array[]): number {
  let sum = 0;
  let n = 0;
  for (let l = 0; l < shape.layers; l++) {
    for (const [a, b] of [[cache.keys[l], outK[l]], [cache.values[l], outV[l]]]) {
      for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
      n += a.length;
    }
  }
  return Math.sqrt(sum / n);
}

/** --card: plan / encode / decode / fromCache of whole cards from the build at `root`. */
async function cardPath(root: string): Promise<void> {
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const from = async (m: string): Promise<any> => import(pathToFileURL(join(root, 'dist', m)).href);
  const { KvCache: Cache } = await from('kv/kv-cache.js');
  const quant = await from('quant/index.js');
  const { compress, parseCompression } = await from('agent/compression.js');
  const card = await from('card/index.js');
  const { KvBuffer } = await from('engine/kv-buffer.js');
  const kernels: string = await from('quant/wasm/kernels.js').then((m) => m.kernelPath(), () => 'js');
  const heads = 14;
  const rng = quant.createRng(7);
  const per = shape.kvHeads * T * shape.headDim;
  const layer = () => quant.fillNormal(new Float32Array(per), rng);
  const src = new Cache(shape, Array.from({ length: shape.layers }, layer), Array.from({ length: shape.layers }, layer),
    Int32Array.from({ length: T }, (_, t) => t), Int32Array.from({ length: T }, (_, t) => 300 + t));
  const mass = Array.from({ length: shape.layers }, () => Float32Array.from({ length: heads * T }, () => rng() ** 8));
  const attention = { heads, contextMass: () => Promise.reject(new Error('unused')), questionMass: () => Promise.resolve(mass) };
  const model = { id: '0123456789abcdef', family: 'qwen2', shape: 'random', weightsDigest: 'a', tokenizerDigest: 'b' };
  const pool = card.FloatPool ? new card.FloatPool() : null;
  const kvPool = KvBuffer.prototype.release && card.FloatPool ? new card.FloatPool() : null;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  // The floor's copy target: one reused array per size, mapped before the first timed copy.
  const scratch = new Map<number, Float32Array>();
  const scratchOf = (n: number) => scratch.get(n) ?? scratch.set(n, new Float32Array(n).fill(1)).get(n)!;
  const rows: Row[] = [];
  for (const name of args.compressions!.split(',')) {
    const ms = { plan: [] as number[], encode: [] as number[], decode: [] as number[], fromCache: [] as number[], floor: [] as number[] };
    let bytes = 0;
    for (let r = 0; r < warmup + reps; r++) {
      const keep = r >= warmup;
      let t = performance.now();
      const kept = await compress(src, parseCompression(name), { attention });
      const writer = kept.source
        ? card.createCardWriter(kept.source, { rows: kept.indices ?? undefined, model, precision: kept.precision, nextPosition: T, scores: kept.scores })
        : card.createCardWriter(kept.cache, { model, precision: kept.precision, nextPosition: T, scores: kept.scores });
      if (keep) ms.plan.push(performance.now() - t);
      t = performance.now();
      while (writer.step() !== null);
      const bytesOf = writer.result().bytes as Uint8Array;
      if (keep) ms.encode.push(performance.now() - t);
      bytes = bytesOf.length;
      t = performance.now();
      const dec = new card.CardDecoder(pool ? { pool } : {});
      for (let o = 0; o < bytesOf.length; o += 65536) dec.push(bytesOf.subarray(o, o + 65536));
      const got = dec.finish();
      if (keep) ms.decode.push(performance.now() - t);
      t = performance.now();
      // As Session.inject does: token-major arrays from the pool that closed sequences fill.
      const buffer = KvBuffer.fromCache(got.cache, 64, kvPool ?? undefined);
      if (keep) ms.fromCache.push(performance.now() - t);
      if (kvPool && buffer.release) buffer.release(kvPool);
      t = performance.now();
      for (let side = 0; side < 2; side++) createHash('sha256').update(bytesOf).digest();
      for (const a of [...got.cache.keys, ...got.cache.values] as Float32Array[]) scratchOf(a.length).set(a);
      if (keep) ms.floor.push(performance.now() - t);
      pool?.give([...got.cache.keys, ...got.cache.values]);
    }
    const codec = median(ms.encode) + median(ms.decode);
    rows.push({
      card: name, kernels, bytes, 'plan ms': median(ms.plan), 'encode ms': median(ms.encode), 'decode ms': median(ms.decode),
      'fromCache ms': median(ms.fromCache), 'floor ms': median(ms.floor), 'codec / floor': codec / median(ms.floor),
    });
  }
  printTable(rows);
  const path = writeResults(`codec-card-${T}${args.root ? '-' + basename(args.root) : ''}`, {
    command: `node dist/bench/codec.js ${process.argv.slice(2).join(' ')}`, root, kernels, shape: { ...shape, tokens: T }, loadAverage: os.loadavg(),
    method: `median of ${reps} after ${warmup} warm-up; floor = SHA-256 of the card twice + one copy of the decoded floats into mapped memory`, rows,
  });
  console.log(`\nwrote ${path}`);
}

if (args.card) {
  await cardPath(args.root ?? repoRoot);
  process.exit(0);
}

const cache = makeCache();
const inputBytes = cache.floatBytes;
const outK = cache.keys.map((k) => new Float32Array(k.length));
const outV = cache.values.map((v) => new Float32Array(v.length));
console.log(`codec benchmark: ${shape.layers} layers x ${shape.kvHeads} KV heads x ${T} tokens x ${shape.headDim} dims, ` +
  `${(inputBytes / 1e6).toFixed(1)} MB float32; median of ${reps} after ${warmup} warm-up; kernels: ${kernelPath()}\n`);

const rows: Row[] = [];
for (const { name, options } of configs) {
  let q = quantizeCache(cache, options);
  const enc = measure(() => { q = quantizeCache(cache, options); }, { warmup, reps });
  const dec = measure(() => decodeInto(q, outK, outV), { warmup, reps });
  const bytes = quantizedCacheBytes(q);
  const encGBps = inputBytes / enc.medianMs / 1e6;
  const decGBps = inputBytes / dec.medianMs / 1e6;
  rows.push({
    config: name,
    keys: specLabel(options.keys),
    values: specLabel(options.values),
    'bits/value': (8 * bytes) / (inputBytes / 4),
    rmse: rmse(cache, outK, outV),
    'enc ms': enc.medianMs,
    'enc GB/s': encGBps,
    'dec ms': dec.medianMs,
    'dec GB/s': decGBps,
    'enc>=1': encGBps >= TARGET_ENCODE_GBPS ? 'pass' : 'FAIL',
    'dec>=2': decGBps >= TARGET_DECODE_GBPS ? 'pass' : 'FAIL',
  });
}

printTable(rows);
const path = writeResults('codec', {
  command: 'npm run bench:codec',
  kernels: kernelPath(),
  shape: { ...shape, tokens: T },
  inputBytes,
  data: 'normal(0,1), mulberry32 seed 0x6b7677',
  method: `median of ${reps} after ${warmup} warm-up; encode = quantizeCache, decode = decode() of every section into preallocated buffers`,
  targets: { encodeGBps: TARGET_ENCODE_GBPS, decodeGBps: TARGET_DECODE_GBPS },
  rows,
});
console.log(`\nwrote ${path}`);
