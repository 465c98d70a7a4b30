/**
 * Fitting the baseline fuser on calibration text (training-free: closed form, CPU, seconds).
 *
 *   1. Both models prefill each calibration text (context + continuation, own BOS each).
 *   2. Receiver tokens are aligned to sharer tokens by character overlap (align.ts); every
 *      receiver content token i and its sharer token j give one row per receiver layer l:
 *      x = the paired sharer layer's unrotated K (V; [K; V] for 'joint') at j, y = the receiver's
 *      unrotated K (V) at i. BOS rows are left out: sinks are special, and each side keeps its own.
 *   3. Per receiver layer, kind and head group: ridge regression (ridge.ts) on the training
 *      split, regularisation chosen from `alphas` by squared error on the validation split.
 *   4. Gates on the validation split (gate.ts): 'loss' (default) = the receiver's next-token loss
 *      on the scored continuation given only the fused context; 'recon' = the closed-form
 *      shrinkage that minimises K/V reconstruction error; or a fixed value.
 */
import type { Session } from '../engine/index.js';
import { ensure } from '../errors.js';
import { fingerprint, type ModelSpec } from '../model/index.js';
import { alignSpans, type AlignPolicy } from './align.js';
import type { CalibItem } from './calib.js';
import { groupInputs, headGroups, groupInputDim, type FuserInputs, type FuserLayer, type FuserMode, type FuserModelInfo, type LinearFuser } from './fuser.js';
import { chooseGates, type GateObjective, type GateProtocol, type GateReport } from './gate.js';
import { pairLayers, usedSharerLayers, type LayerPairing } from './layers.js';
import { tokenSpans } from './offsets.js';
import { RidgeStats, solveRidge, sumSquaredError, totalSumOfSquares } from './ridge.js';
import { unrope } from './rope.js';

export interface FitOptions {
  pairing?: LayerPairing;
  alignment?: AlignPolicy;
  mode?: FuserMode;
  inputs?: FuserInputs;
  /** Ridge strengths relative to mean(diag(Sxx)); the best on validation is kept (default 1e-4 .. 1). */
  alphas?: number[];
  /** Fraction of the items held out for alpha and gate selection (default 0.25). */
  validation?: number;
  /** Gate objective (default 'loss'); `fixedGate` for 'fixed'. */
  gate?: GateObjective;
  fixedGate?: number;
  gateGrid?: number[];
  /** Validation items used by the 'loss' gate search (default 32): each grid point costs a receiver forward per item. */
  gateItems?: number;
  /** The protocol the 'loss' gates are chosen for (default question-only); recorded in the file. */
  protocol?: GateProtocol;
  onProgress?: (message: string) => void;
}

export interface FitReport {
  trainItems: number;
  validationItems: number;
  rows: { train: number; validation: number };
  /** Per receiver layer: chosen alpha and validation R² (1 − SSE / SS around the prior) of K and V. */
  layers: Array<{ sharerLayer: number; alpha: { keys: number; values: number }; r2: { keys: number; values: number } }>;
  gates: GateReport;
  seconds: number;
}

export const DEFAULT_ALPHAS = [1e-4, 1e-3, 1e-2, 1e-1, 1];

/** What a fuser records of a model (fingerprint, shapes, RoPE, BOS). */
export function modelInfo(spec: ModelSpec): FuserModelInfo {
  const fp = fingerprint(spec);
  const c = spec.config;
  return {
    id: fp.id, family: c.family, weightsDigest: fp.weightsDigest, tokenizerDigest: fp.tokenizerDigest,
    layers: c.layers, kvHeads: c.kvHeads, headDim: c.headDim, ropeTheta: c.ropeTheta, ropeScaling: c.ropeScaling,
    bosId: spec.tokenizer.bosId, source: spec.source,
  };
}

type Stats = Array<{ keys: RidgeStats[]; values: RidgeStats[] }>; // [receiver layer] -> per group

/** Accumulates one calibration text's aligned rows into `stats`. Returns the number of rows. */
async function addText(sharer: Session, receiver: Session, text: string, skeleton: LinearFuser, stats: Stats): Promise<number> {
  const sTok = sharer.spec.tokenizer;
  const rTok = receiver.spec.tokenizer;
  const sIds = sTok.encode(text, { addBos: true });
  const rIds = rTok.encode(text, { addBos: true });
  const map = alignSpans(tokenSpans(rTok, rIds, text), tokenSpans(sTok, sIds, text), skeleton.alignment);
  const [{ cache: sc }, { cache: rc }] = [await sharer.prefill(sIds), await receiver.prefill(rIds)];
  const rStart = rTok.bosId !== null && rIds[0] === rTok.bosId ? 1 : 0;
  const sStart = sTok.bosId !== null && sIds[0] === sTok.bosId ? 1 : 0;
  const rows: number[] = [];
  const src: number[] = [];
  for (let i = rStart; i < rIds.length; i++) if (map[i] >= sStart) { rows.push(i); src.push(map[i]); }
  if (!rows.length) return 0;
  const sKeys = new Map<number, Float32Array>();
  for (const l of usedSharerLayers(Int32Array.from(skeleton.layers, (L) => L.sharerLayer))) sKeys.set(l, unrope(sharer.config, sc.keys[l], sc.positions));
  const Dr = skeleton.receiver.headDim;
  const T = rc.length;
  skeleton.layers.forEach((L, l) => {
    const rKeys = unrope(receiver.config, rc.keys[l], rc.positions);
    L.groups.forEach((g, gi) => {
      for (const kind of ['keys', 'values'] as const) {
        const x = groupInputs(sKeys.get(L.sharerLayer)!, sc.values[L.sharerLayer], sc.length, skeleton.sharer.headDim, g.sharerHeads, skeleton.inputs, kind, src);
        const target = kind === 'keys' ? rKeys : rc.values[l];
        const q = g.receiverHeads.length * Dr;
        const y = new Float32Array(q);
        const p = x.length / rows.length;
        const s = stats[l][kind][gi];
        rows.forEach((i, r) => {
          g.receiverHeads.forEach((h, hi) => y.set(target.subarray((h * T + i) * Dr, (h * T + i + 1) * Dr), hi * Dr));
          s.add(x.subarray(r * p, (r + 1) * p), y);
        });
      }
    });
  });
  return rows.length;
}

/** An unfitted fuser: shapes, pairing and groups, zero maps, gate 1. */
function skeletonFor(sharer: ModelSpec, receiver: ModelSpec, o: Required<Pick<FitOptions, 'pairing' | 'alignment' | 'mode' | 'inputs'>>): LinearFuser {
  const s = modelInfo(sharer);
  const r = modelInfo(receiver);
  const pairing = pairLayers(s.layers, r.layers, o.pairing);
  const layers: FuserLayer[] = Array.from(pairing, (sharerLayer) => ({
    sharerLayer, gate: 1,
    groups: headGroups(o.mode, s.kvHeads, r.kvHeads).map((g) => {
      const p = groupInputDim(g.sharerHeads, s.headDim, o.inputs);
      const q = g.receiverHeads.length * r.headDim;
      const zero = () => ({ p, q, W: new Float64Array(p * q), b: new Float64Array(q) });
      return { ...g, keys: zero(), values: zero() };
    }),
    priorKeys: new Float32Array(r.kvHeads * r.headDim), priorValues: new Float32Array(r.kvHeads * r.headDim),
  }));
  return { kind: 'linear-ridge', sharer: s, receiver: r, pairing: o.pairing, alignment: o.alignment, mode: o.mode, inputs: o.inputs, layers, fit: {} };
}

/** Fits the baseline fuser from `sharer` to `receiver` on `items` (see the file comment). */
export async function fitLinearFuser(sharer: Session, receiver: Session, items: CalibItem[], options: FitOptions = {}): Promise<{ fuser: LinearFuser; report: FitReport }> {
  const t0 = performance.now();
  const o = { pairing: options.pairing ?? 'last', alignment: options.alignment ?? 'longest', mode: options.mode ?? 'layer', inputs: options.inputs ?? 'joint' } as const;
  const alphas = options.alphas ?? DEFAULT_ALPHAS;
  const frac = options.validation ?? 0.25;
  ensure(items.length >= 2, 'BAD_ARGUMENT', `fitting needs at least 2 calibration items (training and validation), got ${items.length}`);
  ensure(frac > 0 && frac < 1, 'BAD_ARGUMENT', `validation fraction must be in (0, 1), got ${frac}`);
  ensure(alphas.length > 0 && alphas.every((a) => Number.isFinite(a) && a >= 0), 'BAD_ARGUMENT', `alphas must be finite numbers >= 0, got ${JSON.stringify(alphas)}`);
  const fuser = skeletonFor(sharer.spec, receiver.spec, o);
  const nVal = Math.min(items.length - 1, Math.max(1, Math.round(items.length * frac)));
  const train = items.slice(0, items.length - nVal);
  const val = items.slice(items.length - nVal);
  const newStats = (): Stats => fuser.layers.map((L) => ({
    keys: L.groups.map((g) => new RidgeStats(g.keys.p, g.keys.q)), values: L.groups.map((g) => new RidgeStats(g.values.p, g.values.q)),
  }));
  const trainStats = newStats();
  const valStats = newStats();
  const rows = { train: 0, validation: 0 };
  for (const [split, list, stats] of [['train', train, trainStats], ['validation', val, valStats]] as const) {
    for (let i = 0; i < list.length; i++) {
      rows[split] += await addText(sharer, receiver, list[i].context + list[i].continuation, fuser, stats);
      if ((i + 1) % 16 === 0 || i + 1 === list.length) options.onProgress?.(`${split}: ${i + 1}/${list.length} texts, ${rows[split]} rows`);
    }
  }
  ensure(rows.train > 0 && rows.validation > 0, 'BAD_ARGUMENT', 'calibration produced no aligned rows (empty texts?)');
  const layerReport: FitReport['layers'] = [];
  const Dr = fuser.receiver.headDim;
  fuser.layers.forEach((L, l) => {
    const entry = { sharerLayer: L.sharerLayer, alpha: { keys: 0, values: 0 }, r2: { keys: 0, values: 0 } };
    for (const kind of ['keys', 'values'] as const) {
      let sse = 0;
      let sst = 0;
      const prior = kind === 'keys' ? L.priorKeys : L.priorValues;
      L.groups.forEach((g, gi) => {
        const tr = trainStats[l][kind][gi];
        const va = valStats[l][kind][gi];
        let best: ReturnType<typeof solveRidge> | null = null;
        let bestErr = Infinity;
        for (const a of alphas) {
          const m = solveRidge(tr, a);
          const e = sumSquaredError(va, m);
          if (e < bestErr) { best = m; bestErr = e; entry.alpha[kind] = a; }
        }
        g[kind] = { p: best!.p, q: best!.q, W: best!.W, b: best!.b };
        const mean = Float64Array.from(tr.sy, (v) => v / tr.n);
        g.receiverHeads.forEach((h, hi) => prior.set(Float32Array.from(mean.subarray(hi * Dr, (hi + 1) * Dr)), h * Dr));
        sse += bestErr;
        sst += totalSumOfSquares(va, mean);
      });
      entry.r2[kind] = sst > 0 ? 1 - sse / sst : 0;
    }
    layerReport.push(entry);
  });
  options.onProgress?.(`maps fitted; validation R² ${layerReport.map((e) => `${e.r2.keys.toFixed(2)}/${e.r2.values.toFixed(2)}`).join(' ')} (K/V per layer)`);
  const gates = await chooseGates(sharer, receiver, fuser, val, valStats, {
    objective: options.gate ?? 'loss', protocol: options.protocol, fixed: options.fixedGate, grid: options.gateGrid, items: options.gateItems, onProgress: options.onProgress,
  });
  fuser.layers.forEach((L, l) => { L.gate = gates.gates[l]; });
  const report: FitReport = { trainItems: train.length, validationItems: val.length, rows, layers: layerReport, gates, seconds: (performance.now() - t0) / 1000 };
  fuser.fit = {
    method: 'ridge regression on aligned K/V rows (keys unrotated), per receiver layer; gates on a validation split',
    protocol: options.protocol ?? 'question-only',
    calibration: { items: items.length, first: items[0]?.id, last: items[items.length - 1]?.id }, alphas, validation: frac,
    report: { ...report, gates: { ...gates } },
  };
  return { fuser, report };
}
