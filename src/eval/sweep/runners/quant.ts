/**
 * 'quant': every layer's K and V quantized and really packed (src/quant), unpacked, injected.
 * Bytes are the packed codes plus fp16 scales and zero points (quantizedCacheBytes), exactly.
 *
 * precision: a preset name (PRESETS below) or an object { keys: QuantSpec, values: QuantSpec,
 * recentWindow? } as src/quant takes it. params:
 *   lastFp16: k        keep the last k layers in fp16 (seed 001's mixed precision, Table 7)
 *   recentWindow: R    keep the last R context tokens of every head in fp16 (KIVI's residual)
 *   fake: true         fake-quantize (no packing; same floats) for ablations; bytes by formula
 */
import { KvwireError } from '../../../errors.js';
import { KvCache } from '../../../kv/index.js';
import {
  dequantizeCache, fakeQuantizeCache, kivi, quantizeCache, quantizedCacheBytes, sectionBytes, validateSpec,
  type CacheQuantOptions, type QuantSpec,
} from '../../../quant/index.js';
import type { CellSettings } from '../config.js';
import type { ByteAccount, CellRunner } from '../runner.js';
import { runHandoff, since } from './handoff-path.js';

const FP16: QuantSpec = { format: 'fp16' };

/** Named precisions. KIVI pairing: keys asym per channel, values asym per token (Liu et al. 2024). */
export const PRESETS: Readonly<Record<string, CacheQuantOptions>> = {
  fp16: { keys: FP16, values: FP16 },
  int8: kivi('int8'),
  int4: kivi('int4'),
  'int4-g32': kivi('int4', { group: 32 }),
  int2: kivi('int2', { group: 32 }),
  nf4: kivi('nf4'),
  // Seed 001's setting: one symmetric scale per head.
  'int8-head': { keys: { format: 'int8', scheme: 'sym', axis: 'head' }, values: { format: 'int8', scheme: 'sym', axis: 'head' } },
  'int4-head': { keys: { format: 'int4', scheme: 'sym', axis: 'head' }, values: { format: 'int4', scheme: 'sym', axis: 'head' } },
  // Per-token asymmetric for both (the common KV-quant baseline).
  'int8-token': { keys: { format: 'int8', scheme: 'asym', axis: 'token' }, values: { format: 'int8', scheme: 'asym', axis: 'token' } },
  'int4-token': { keys: { format: 'int4', scheme: 'asym', axis: 'token' }, values: { format: 'int4', scheme: 'asym', axis: 'token' } },
};

/** The quantization options of a cell (precision + recentWindow param). */
export function quantOptions(cell: Pick<CellSettings, 'precision' | 'params'>): CacheQuantOptions {
  const p = cell.precision;
  let options: CacheQuantOptions;
  if (typeof p === 'string') {
    if (!Object.hasOwn(PRESETS, p)) throw new KvwireError('BAD_CONFIG', `unknown precision "${p}"; presets: ${Object.keys(PRESETS).join(', ')}, or an object {keys, values}`, { path: 'precisions' });
    options = { ...PRESETS[p] };
  } else if (p && typeof p === 'object') {
    const { keys, values, recentWindow } = p as Record<string, unknown>;
    options = { keys: keys as QuantSpec, values: values as QuantSpec, recentWindow: recentWindow as number | undefined };
  } else {
    throw new KvwireError('BAD_CONFIG', 'method quant needs a precision', { path: 'precisions' });
  }
  try {
    validateSpec(options.keys);
    validateSpec(options.values);
  } catch (cause) {
    throw new KvwireError('BAD_CONFIG', `precision ${JSON.stringify(p)}: ${(cause as Error).message}`, { path: 'precisions', cause });
  }
  const r = cell.params.recentWindow;
  if (r !== undefined) {
    if (!Number.isInteger(r) || (r as number) < 0) throw new KvwireError('BAD_CONFIG', `params.recentWindow must be an integer >= 0, got ${JSON.stringify(r)}`, { path: 'params.recentWindow' });
    options.recentWindow = r as number;
  }
  return options;
}

/** Layer `l` of a cache as a one-layer cache (no copy). */
function layerOf(cache: KvCache, l: number): KvCache {
  return new KvCache({ layers: 1, kvHeads: cache.kvHeads, headDim: cache.headDim }, [cache.keys[l]], [cache.values[l]], cache.positions, cache.tokens);
}

/** Bytes of one layer coded with `o`, by formula (fake mode). */
function formulaBytes(cache: KvCache, o: CacheQuantOptions): { payload: number; scales: number } {
  const R = Math.min(o.recentWindow ?? 0, cache.length);
  const T = cache.length;
  let payload = 0;
  let scales = 0;
  for (const spec of [o.keys, o.values]) {
    const body = T > R ? sectionBytes(spec, T - R, cache.headDim) : { codes: 0, scales: 0, zeros: 0 };
    const recent = R > 0 ? sectionBytes(FP16, R, cache.headDim) : { codes: 0, scales: 0, zeros: 0 };
    payload += cache.kvHeads * (body.codes + recent.codes);
    scales += cache.kvHeads * (body.scales + body.zeros + recent.scales + recent.zeros);
  }
  return { payload, scales };
}

export const quantRunner: CellRunner = {
  method: 'quant',
  description: 'quantize + pack every layer (presets or a QuantSpec pair), unpack, inject; params lastFp16, recentWindow, fake',
  validate(cell) {
    if (cell.budget !== null) throw new KvwireError('BAD_CONFIG', `method quant takes no budget (the precision is the budget), got ${JSON.stringify(cell.budget)}`, { path: 'budgets' });
    quantOptions(cell);
    for (const k of Object.keys(cell.params)) {
      if (!['lastFp16', 'recentWindow', 'fake'].includes(k)) throw new KvwireError('BAD_CONFIG', `method quant: unknown param "${k}" (lastFp16, recentWindow, fake)`, { path: `params.${k}` });
    }
    const k = cell.params.lastFp16;
    if (k !== undefined && (!Number.isInteger(k) || (k as number) < 0)) throw new KvwireError('BAD_CONFIG', `params.lastFp16 must be an integer >= 0, got ${JSON.stringify(k)}`, { path: 'params.lastFp16' });
    if (cell.params.fake !== undefined && typeof cell.params.fake !== 'boolean') throw new KvwireError('BAD_CONFIG', 'params.fake must be true or false', { path: 'params.fake' });
  },
  runItem(ctx, item) {
    const options = quantOptions(ctx.cell);
    const lastFp16 = (ctx.cell.params.lastFp16 as number | undefined) ?? 0;
    const fake = ctx.cell.params.fake === true;
    return runHandoff(ctx, item, (prefilled) => {
      const cache = prefilled.cache;
      const L = cache.layers;
      const keys: Float32Array[] = [];
      const values: Float32Array[] = [];
      const bytes: ByteAccount = { total: 0, payload: 0, scales: 0, indices: 0, metadata: 0 };
      let quantizeMs = 0;
      let dequantizeMs = 0;
      // Layer by layer so the last k layers can use fp16 (one quantizeCache per layer costs nothing extra).
      for (let l = 0; l < L; l++) {
        const o = l >= L - lastFp16 ? { keys: FP16, values: FP16 } : options;
        const layer = layerOf(cache, l);
        let t0 = performance.now();
        let out: KvCache;
        if (fake) {
          out = fakeQuantizeCache(layer, o);
          quantizeMs += since(t0);
          const b = formulaBytes(layer, o);
          bytes.payload += b.payload;
          bytes.scales += b.scales;
        } else {
          const q = quantizeCache(layer, o);
          quantizeMs += since(t0);
          const total = quantizedCacheBytes(q);
          const scaleBytes = [...q.keys, ...q.values].flat().reduce((a, h) =>
            a + [h.body, h.recent].reduce((s, sec) => s + (sec ? 2 * sec.scales.length + 2 * (sec.zeros?.length ?? 0) : 0), 0), 0);
          bytes.payload += total - scaleBytes;
          bytes.scales += scaleBytes;
          t0 = performance.now();
          out = dequantizeCache(q);
          dequantizeMs += since(t0);
        }
        keys.push(out.keys[0]);
        values.push(out.values[0]);
      }
      bytes.total = bytes.payload + bytes.scales;
      const handed = new KvCache(cache.shape, keys, values, cache.positions.slice(), cache.tokens.slice());
      const ms: Record<string, number> = fake ? { quantize: quantizeMs } : { quantize: quantizeMs, dequantize: dequantizeMs };
      return { cache: handed, bytes, ms };
    });
  },
};
