/**
 * Choosing the per-layer gates on the validation split.
 *
 *   recon  closed form per layer: the g ∈ [0, 1] minimising the validation error of
 *          prior + g·(Π − prior) against the receiver's own K and V (each normalised by its
 *          error around the prior, so K and V weigh the same). The error is quadratic in g, so
 *          three evaluations from the ridge statistics give it exactly.
 *   loss   the receiver's mean negative log-likelihood of the scored continuation tokens, given
 *          its prefix and the fused slots only (the question-only protocol; with `protocol:
 *          'receiver-side'`, given its own cache of the context fused with the sharer's, where
 *          gate 0 is the receiver reading the context itself): coordinate descent
 *          over layers on a grid, starting from the recon gates, until a pass changes nothing.
 *          This is the objective that matters; recon only says how good the maps are.
 *   fixed  every gate = `fixed`.
 * The report also gives the loss of the receiver alone (no slots) and with its own cache of the
 * context (the oracle it could reach by reading the text), for scale.
 */
import type { Session } from '../engine/index.js';
import { ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import type { CalibItem } from './calib.js';
import type { LinearFuser } from './fuser.js';
import { alignSpans } from './align.js';
import { tokenSpans } from './offsets.js';
import { contentStart, fuseIntoReceiver, fuseSlots, projectReceived, receiverPrefix, slotLayout, transmittedCache, type Projected } from './protocol.js';
import { sumSquaredError, totalSumOfSquares, type RidgeStats } from './ridge.js';

export type GateObjective = 'loss' | 'recon' | 'fixed';
export const GATE_OBJECTIVES: readonly GateObjective[] = ['loss', 'recon', 'fixed'];

/** The protocol the gates are chosen for (fusion.ts): the receiver's cache differs between the two. */
export type GateProtocol = 'question-only' | 'receiver-side';

export interface GateReport {
  objective: GateObjective;
  protocol?: GateProtocol;
  gates: number[];
  /** The closed-form reconstruction gates (always computed). */
  recon: number[];
  /** Mean NLL per scored token on the validation items ('loss' only). */
  nll?: { alone: number; oracle: number; projected: number; chosen: number; items: number; tokens: number; evaluations: number };
}

export interface GateOptions {
  objective: GateObjective;
  /** 'loss' only: the receiver's cache is prefix + slots (question-only) or its own fused cache (receiver-side). */
  protocol?: GateProtocol;
  fixed?: number;
  grid?: number[];
  items?: number;
  onProgress?: (message: string) => void;
}

type Stats = Array<{ keys: RidgeStats[]; values: RidgeStats[] }>;

/** Per layer, the gate minimising normalised K + V reconstruction error on `stats`. */
export function reconGates(fuser: LinearFuser, stats: Stats): number[] {
  return fuser.layers.map((L, l) => {
    const err = (g: number) => {
      let total = 0;
      for (const kind of ['keys', 'values'] as const) {
        const prior = kind === 'keys' ? L.priorKeys : L.priorValues;
        let sse = 0;
        let sst = 0;
        L.groups.forEach((grp, gi) => {
          const s = stats[l][kind][gi];
          const m = grp[kind];
          const mean = Float64Array.from({ length: m.q }, (_, c) => prior[grp.receiverHeads[Math.floor(c / fuser.receiver.headDim)] * fuser.receiver.headDim + (c % fuser.receiver.headDim)]);
          const W = m.W.map((w) => g * w);
          const b = m.b.map((v, c) => mean[c] + g * (v - mean[c]));
          sse += sumSquaredError(s, { p: m.p, q: m.q, W, b });
          sst += totalSumOfSquares(s, mean);
        });
        total += sst > 0 ? sse / sst : 0;
      }
      return total;
    };
    const e0 = err(0);
    const eh = err(0.5);
    const e1 = err(1);
    const a = 2 * (e1 - 2 * eh + e0);  // err(g) = e0 − 2g·de + g²·dd with dd = a, de = (e0 − e1 + a) / 2
    const de = (e0 - e1 + a) / 2;
    const g = a > 0 ? de / a : e1 < e0 ? 1 : 0;
    return Math.min(1, Math.max(0, g));
  });
}

interface ValCase {
  projected: Projected;
  /** Receiver-side protocol: the sent cache, the receiver's own cache of the context, and the alignment. */
  sent: KvCache;
  own?: KvCache;
  align?: Int32Array;
  positions: Int32Array;
  nextPosition: number;
  context: number[];
  continuation: number[];
  scoredFrom: number;
}

/** Sum of −log p over tokens[from..] of logits rows (row k predicts token k + 1). */
function nllOf(logits: Float32Array, tokens: number[], from: number, V: number): number {
  let s = 0;
  for (let k = from; k < tokens.length; k++) {
    const row = logits.subarray((k - 1) * V, k * V);
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (row[v] > max) max = row[v];
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(row[v] - max);
    s += Math.log(z) + max - row[tokens[k]];
  }
  return s;
}

async function buildCases(sharer: Session, receiver: Session, fuser: LinearFuser, items: CalibItem[], protocol: GateProtocol): Promise<ValCase[]> {
  const sTok = sharer.spec.tokenizer;
  const rTok = receiver.spec.tokenizer;
  const cases: ValCase[] = [];
  for (const it of items) {
    const sIds = sTok.encode(it.context, { addBos: true });
    const { cache } = await sharer.prefill(sIds);
    const sent = transmittedCache(fuser, cache);
    const layout = slotLayout(fuser, sent.positions, cache.length, contentStart(sIds, sTok.bosId) === 1);
    const continuation = rTok.encode(it.continuation);
    const head = rTok.encode(it.continuation.slice(0, it.scoreFrom));
    let k = 0;
    while (k < head.length && k < continuation.length && head[k] === continuation[k]) k++;
    const scoredFrom = Math.max(1, k);
    if (scoredFrom >= continuation.length) continue;
    const context = rTok.encode(it.context, { addBos: true });
    const c: ValCase = { projected: projectReceived(fuser, sent), sent, positions: layout.positions, nextPosition: layout.nextPosition, context, continuation, scoredFrom };
    if (protocol === 'receiver-side') {
      c.own = (await receiver.prefill(context)).cache;
      c.align = alignSpans(tokenSpans(rTok, context, it.context), tokenSpans(sTok, sIds, it.context), fuser.alignment);
    }
    cases.push(c);
  }
  return cases;
}

/** Chooses gates (see the file comment). */
export async function chooseGates(sharer: Session, receiver: Session, fuser: LinearFuser, val: CalibItem[], valStats: Stats, options: GateOptions): Promise<GateReport> {
  const recon = reconGates(fuser, valStats);
  const L = fuser.layers.length;
  if (options.objective === 'fixed') {
    const g = options.fixed ?? 1;
    ensure(Number.isFinite(g) && g >= 0 && g <= 1, 'BAD_ARGUMENT', `fixed gate must be in [0, 1], got ${g}`);
    return { objective: 'fixed', gates: new Array(L).fill(g), recon };
  }
  if (options.objective === 'recon') return { objective: 'recon', gates: recon.slice(), recon };
  ensure(options.objective === 'loss', 'BAD_ARGUMENT', `gate objective must be one of ${GATE_OBJECTIVES.join(', ')}, got ${JSON.stringify(options.objective)}`);
  const grid = options.grid ?? [0, 0.25, 0.5, 0.75, 1];
  ensure(grid.length > 0 && grid.every((g) => g >= 0 && g <= 1), 'BAD_ARGUMENT', `gate grid values must be in [0, 1], got ${JSON.stringify(grid)}`);
  const protocol = options.protocol ?? 'question-only';
  const cases = await buildCases(sharer, receiver, fuser, val.slice(0, options.items ?? 32), protocol);
  ensure(cases.length > 0, 'BAD_ARGUMENT', 'no validation item has a scored continuation');
  const prefix = await receiverPrefix(receiver);
  const V = receiver.config.vocabSize;
  const tokens = cases.reduce((a, c) => a + c.continuation.length - c.scoredFrom, 0);
  let evaluations = 0;
  const mean = async (cacheOf: (c: ValCase) => Promise<{ cache: KvCache; next: number }>) => {
    let s = 0;
    for (const c of cases) {
      const { cache, next } = await cacheOf(c);
      const seq = receiver.inject(cache, { nextPosition: next });
      const { logits } = await seq.append(c.continuation, { logits: 'all' });
      s += nllOf(logits, c.continuation, c.scoredFrom, V);
    }
    evaluations++;
    return s / tokens;
  };
  const fused = (gates: number[]) => mean(async (c) => {
    if (protocol === 'receiver-side') {
      const cache = fuseIntoReceiver(fuser, c.own!, c.align!, c.sent, gates);
      return { cache, next: cache.nextPosition };
    }
    const slots = fuseSlots(fuser, c.projected, c.positions, gates);
    return { cache: prefix.length ? prefix.concat(slots) : slots, next: c.nextPosition };
  });
  const alone = await mean(async () => ({ cache: prefix, next: prefix.length }));
  const oracle = await mean(async (c) => { const { cache } = await receiver.prefill(c.context); return { cache, next: cache.nextPosition }; });
  const projected = await fused(new Array(L).fill(1));
  // Start from the grid points nearest the recon gates; receiver-side, from the better of those
  // and every gate closed (the receiver with its own context: a safe state that coordinate
  // descent from an open start may not reach). Then coordinate descent.
  const starts = [recon.map((r) => grid.reduce((a, b) => (Math.abs(b - r) < Math.abs(a - r) ? b : a)))];
  if (protocol === 'receiver-side') starts.push(new Array(L).fill(Math.min(...grid)));
  let gates = starts[0];
  let best = Infinity;
  for (const s of starts) {
    const v = await fused(s);
    if (v < best - 1e-9) { best = v; gates = s.slice(); }
  }
  for (let pass = 0; pass < 3; pass++) {
    let changed = false;
    for (let l = 0; l < L; l++) {
      for (const g of grid) {
        if (g === gates[l]) continue;
        const trial = gates.slice();
        trial[l] = g;
        const v = await fused(trial);
        if (v < best - 1e-9) { best = v; gates[l] = g; changed = true; }
      }
    }
    options.onProgress?.(`gate pass ${pass + 1}: nll ${best.toFixed(4)} (alone ${alone.toFixed(4)}, oracle ${oracle.toFixed(4)}, g=1 ${projected.toFixed(4)}), gates ${gates.join(' ')}`);
    if (!changed) break;
  }
  return { objective: 'loss', protocol, gates, recon, nll: { alone, oracle, projected, chosen: best, items: cases.length, tokens, evaluations } };
}
