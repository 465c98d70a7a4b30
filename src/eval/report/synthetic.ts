/**
 * Synthetic sweep results for report tests and previews: every table's methods (including the
 * select/plan runners other modules will provide), two datasets, perplexity, three seeds for a
 * few settings. Correctness is drawn per example from a made-up accuracy that falls with the
 * bytes sent, with a seeded stream, so the page looks like a real one. Not measurements.
 */
import { buildResult, type CellResult } from '../sweep/results.js';
import { cellLabel, type CellSettings, type DatasetRef } from '../sweep/config.js';
import { settingsKey } from '../sweep/key.js';
import type { ItemOutcome } from '../sweep/runner.js';
import { Rng, hash32 } from '../tasks/rng.js';

const MODEL = { name: 'zoo-llama-s', path: 'models/zoo-llama-s' };
const INFO = { family: 'llama', layers: 8, kvHeads: 2, headDim: 64, vocab: 8192 };

interface Spec {
  method: string;
  budget?: number | string;
  precision?: string;
  params?: Record<string, unknown>;
  /** Fraction of FP16 bytes sent, and the made-up accuracy drop at that point. */
  ratio: number;
  drop: number;
}

function specs(): Spec[] {
  const out: Spec[] = [{ method: 'full', ratio: 1, drop: 0 }];
  for (const [p, r, d] of [['fp16', 1, 0], ['int8', 0.53, 0.004], ['int4', 0.28, 0.015], ['int2', 0.16, 0.12]] as const) out.push({ method: 'quant', precision: p, ratio: r, drop: d });
  for (const k of [2, 4, 8]) out.push({ method: 'quant', precision: 'int8', params: { lastFp16: k }, ratio: 0.53 + k * 0.03, drop: 0.003 });
  for (const p of [0.75, 0.5, 0.25, 0.1]) {
    out.push({ method: 'select', budget: p, precision: 'int8', params: { selector: 'front' }, ratio: 0.53 * p, drop: 0.25 * (1 - p) + 0.05 });
    out.push({ method: 'select', budget: p, precision: 'int8', params: { selector: 'back' }, ratio: 0.53 * p, drop: 0.06 * (1 - p) });
  }
  for (const [s, d] of [['vnorm', 0.09], ['knorm', 0.12], ['random', 0.2]] as const) out.push({ method: 'select', budget: 0.25, precision: 'int8', params: { selector: s }, ratio: 0.14, drop: d });
  for (const p of [0.5, 0.25, 0.1]) {
    for (const [s, k] of [['q2c', 0.2], ['snapkv', 0.45], ['h2o', 0.8]] as const) out.push({ method: 'select', budget: p, precision: 'int4', params: { selector: s }, ratio: 0.28 * p, drop: k * (1 - p) * 0.5 });
  }
  for (const [b, r] of [['1/16', 1 / 16], ['1/8', 1 / 8]] as const) {
    out.push({ method: 'plan', budget: b, params: { actions: ['int8'] }, ratio: r, drop: 0.05 / (r * 16) });
    out.push({ method: 'plan', budget: b, params: { actions: ['int4', 'int8'] }, ratio: r, drop: 0.04 / (r * 16) });
  }
  // Seed 001 Table 6 (c2c: a cross-model pair through the fuser).
  out.push({ method: 'c2c', budget: 0.25, precision: 'int8', params: { protocol: 'receiver-side', selector: 'delta_proj_vnorm' }, ratio: 0.14, drop: 0.12 });
  out.push({ method: 'c2c', budget: '1/8', params: { protocol: 'receiver-side', planner: 'rd' }, ratio: 1 / 8, drop: 0.1 });
  return out;
}

function outcome(rng: Rng, s: Spec, base: number, T: number, nll: boolean): ItemOutcome {
  const fp16 = 2 * INFO.layers * INFO.kvHeads * T * INFO.headDim * 2;
  const total = Math.round(fp16 * s.ratio);
  const scales = s.method === 'full' || s.precision === 'fp16' ? 0 : Math.round(total * 0.03);
  const indices = s.method === 'select' || s.method === 'plan' ? 4 * Math.round(T * s.ratio) : 0;
  const ms: Record<string, number> = { prefill: T * 0.09 * (0.9 + 0.2 * rng.float()) };
  if (s.method === 'select') ms.select = T * 0.004;
  if (s.method === 'plan') ms.plan = T * 0.02;
  if (s.method !== 'full' && s.precision !== 'fp16') [ms.quantize, ms.dequantize] = [total * 2e-5, total * 1e-5];
  Object.assign(ms, { inject: 0.4 + T * 0.002, append: 3 + 2 * rng.float(), decode: 40 * (0.9 + 0.2 * rng.float()), sample: 1.2 });
  const bytes = { total: total + scales + indices, payload: total, scales, indices, metadata: 0 };
  const kept = s.method === 'select' ? Math.max(1, Math.round(T * Number(s.budget))) : T;
  if (nll) {
    const perToken = 3.1 + 4 * s.drop + 0.05 * rng.float();
    return { nll: perToken * 256, tokens: 256, textBytes: 1100, bytes, contextTokens: T, keptTokens: kept, ms };
  }
  const correct = rng.float() < Math.max(0.02, base - s.drop);
  return { output: correct ? ' B' : ' C', correct, bytes, contextTokens: T, keptTokens: kept, ms };
}

/** Synthetic result lines (see the file comment). */
export function syntheticResults(): CellResult[] {
  const datasets: Array<DatasetRef & { base: number; n: number }> = [
    { name: 'arc', n: 120, base: 0.41 }, { name: 'facts', n: 120, base: 0.93 }, { name: 'wikitext2', n: 20, base: 0, options: { window: 512, stride: 256 } },
  ];
  const out: CellResult[] = [];
  for (const d of datasets) {
    const { base, ...dataset } = d;
    for (const s of specs()) {
      if (d.name === 'wikitext2' && !(s.method === 'full' || (s.method === 'quant' && !s.params))) continue;
      const seeds = s.method === 'full' || (s.method === 'quant' && s.precision === 'int4' && !s.params) || s.params?.selector === 'q2c' ? [0, 1, 2] : [0];
      for (const seed of seeds) {
        const settings: CellSettings = {
          model: MODEL, dataset: { ...dataset, seed }, method: s.method, budget: s.budget ?? null, precision: s.precision ?? null, params: s.params ?? {}, seed,
        };
        const outcomes = Array.from({ length: d.n }, (_, i) => {
          // Same example i is equally hard for every method (paired), method noise on top.
          const hard = new Rng(hash32(`${d.name}:${seed}:${i}`)).float();
          const rng = new Rng(hash32(`${settingsKey(settings)}:${i}`));
          const o = outcome(rng, s, base + 0.5 * (0.5 - hard), 180 + (i % 40) * 6, d.name === 'wikitext2');
          return { id: `${d.name}-${seed}-${i}`, outcome: o };
        });
        out.push(buildResult({
          settings, key: settingsKey(settings), label: cellLabel(settings), config: 'synthetic', outcomes, modelInfo: INFO,
          prompt: { style: d.name === 'arc' ? 'plain' : 'task-suite', template: null }, startedAt: '2026-01-01T00:00:00.000Z', wallMs: 1000, threads: 2, workers: 1,
        }));
      }
    }
  }
  return out;
}
