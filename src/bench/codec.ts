/**
 * Codec throughput: quantize+pack and unpack+dequantize of a whole KV cache with Qwen2.5-0.5B's
 * shapes (24 layers, 2 KV heads, head dim 64) at 4K tokens, on one core (JavaScript is single
 * threaded). GB/s counts float32 input bytes (K and V): 2·24·2·4096·64·4 B = 100.7 MB per pass.
 * Data is normal(0, 1) from a seeded PRNG. Targets: encode >= 1 GB/s, decode >= 2 GB/s.
 *
 *   npm run bench:codec            (after npx tsc -p .)
 *   node dist/bench/codec.js --tokens 1024 --reps 5
 */
import { parseArgs } from 'node:util';
import { KvCache } from '../kv/kv-cache.js';
import {
  createRng, decode, fillNormal, kivi, quantizeCache, quantizedCacheBytes, specLabel,
  type CacheQuantOptions, type QuantizedCache,
} from '../quant/index.js';
import { measure, printTable, writeResults, type Row } from './report.js';

const TARGET_ENCODE_GBPS = 1;
const TARGET_DECODE_GBPS = 2;

const { values: args } = parseArgs({
  options: {
    tokens: { type: 'string', default: '4096' },
    reps: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '3' },
  },
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

const cache = makeCache();
const inputBytes = cache.floatBytes;
const outK = cache.keys.map((k) => new Float32Array(k.length));
const outV = cache.values.map((v) => new Float32Array(v.length));
console.log(`codec benchmark: ${shape.layers} layers x ${shape.kvHeads} KV heads x ${T} tokens x ${shape.headDim} dims, ` +
  `${(inputBytes / 1e6).toFixed(1)} MB float32; median of ${reps} after ${warmup} warm-up\n`);

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
  shape: { ...shape, tokens: T },
  inputBytes,
  data: 'normal(0,1), mulberry32 seed 0x6b7677',
  method: `median of ${reps} after ${warmup} warm-up; encode = quantizeCache, decode = decode() of every section into preallocated buffers`,
  targets: { encodeGBps: TARGET_ENCODE_GBPS, decodeGBps: TARGET_DECODE_GBPS },
  rows,
});
console.log(`\nwrote ${path}`);
