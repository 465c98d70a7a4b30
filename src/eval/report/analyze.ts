/**
 * From result lines to what a report shows: cells of the same setting across seeds aggregated
 * (mean; one seed: its Wilson interval; several: a Student-t interval over seeds), each setting
 * compared with its baseline on the same examples (full cache, else quant fp16: paired bootstrap
 * of the difference and McNemar's p), and names for rows and series.
 */
import { canonicalJson, settingsKey } from '../sweep/key.js';
import type { AccuracySummary, CellResult, PerplexitySummary } from '../sweep/results.js';
import { mcnemar, pairedBootstrap, summarizeRepeats, type Interval } from '../stats.js';

export interface Agg {
  id: string;
  cells: CellResult[];
  model: string;
  /** Dataset name plus its options: one column of a table. */
  dataset: string;
  method: string;
  budget: CellResult['budget'];
  precision: CellResult['precision'];
  params: Record<string, unknown>;
  metric: CellResult['metric'];
  /** Accuracy (0..1) or bits per byte. */
  value: number;
  ci: Interval;
  seeds: number[];
  /** Standard deviation over seeds (several seeds only). */
  sd?: number;
  n: number;
  /** Mean transmitted bytes per example, and as a fraction of the FP16 full cache. */
  bytes: number;
  ratio: number;
  keptFraction: number;
  timings: Record<string, number>;
  /** Versus the baseline on the same examples (accuracy only; absent for the baseline itself). */
  paired?: { vs: string; diff: number; ci: Interval; p: number; pairs: number };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function datasetLabel(r: Pick<CellResult, 'dataset'>): string {
  const d = r.dataset;
  const opts = d.options && Object.keys(d.options).length ? ` ${canonicalJson(d.options)}` : '';
  return `${d.name}${opts}${d.prompt && d.prompt !== 'auto' ? ` (${d.prompt})` : ''}`;
}

/** The setting without its seed: what aggregates across seeds. */
function settingId(r: CellResult): string {
  const fixed = r.dataset.seed !== r.seed; // a dataset seed that does not follow the cell seed is part of the setting
  return settingsKey({ model: r.model, dataset: { ...r.dataset, seed: fixed ? r.dataset.seed : undefined }, method: r.method, budget: r.budget, precision: r.precision, params: r.params });
}

/** Same model, dataset and seed: the cells whose examples pair up. */
function pairingId(r: CellResult): string {
  return settingsKey({ model: r.model, dataset: r.dataset, seed: r.seed });
}

function isBaseline(r: CellResult): 0 | 1 | 2 {
  if (r.method === 'full') return 2;
  if (r.method === 'quant' && r.precision === 'fp16' && Object.keys(r.params).length === 0) return 1;
  return 0;
}

export function aggregate(results: readonly CellResult[]): Agg[] {
  // The latest line wins when a key appears twice (results files concatenated).
  const byKey = new Map(results.map((r) => [r.key, r]));
  const cells = [...byKey.values()];
  const baselines = new Map<string, CellResult>();
  for (const r of cells) {
    const id = pairingId(r);
    const cur = baselines.get(id);
    if (isBaseline(r) && (!cur || isBaseline(r) > isBaseline(cur))) baselines.set(id, r);
  }
  const groups = new Map<string, CellResult[]>();
  for (const r of cells) groups.set(settingId(r), [...(groups.get(settingId(r)) ?? []), r]);
  return [...groups.entries()].map(([id, rs]) => {
    rs.sort((a, b) => a.seed - b.seed);
    const r0 = rs[0];
    const values = rs.map(metricValue);
    let ci: Interval;
    let sd: number | undefined;
    if (rs.length === 1) {
      const s = r0.summary as AccuracySummary & PerplexitySummary;
      ci = r0.metric === 'accuracy' ? s.wilson95 : s.bitsPerByte95;
    } else {
      const rep = summarizeRepeats(values);
      [ci, sd] = [rep.ci95, rep.sd];
    }
    const agg: Agg = {
      id, cells: rs, model: r0.model.name, dataset: datasetLabel(r0), method: r0.method, budget: r0.budget, precision: r0.precision, params: r0.params,
      metric: r0.metric, value: mean(values), ci, sd, seeds: rs.map((r) => r.seed), n: rs.reduce((a, r) => a + r.examples.length, 0),
      bytes: mean(rs.map((r) => r.bytes.mean.total)), ratio: mean(rs.map((r) => r.bytes.ratio)),
      keptFraction: mean(rs.map((r) => (r.bytes.contextTokens ? r.bytes.keptTokens / r.bytes.contextTokens : 1))),
      timings: meanTimings(rs),
    };
    if (r0.metric === 'accuracy') agg.paired = pairWithBaseline(rs, baselines);
    return agg;
  });
}

export function metricValue(r: CellResult): number {
  return r.metric === 'accuracy' ? (r.summary as AccuracySummary).accuracy : (r.summary as PerplexitySummary).bitsPerByte;
}

function meanTimings(rs: CellResult[]): Record<string, number> {
  const stages = [...new Set(rs.flatMap((r) => Object.keys(r.timings)))];
  return Object.fromEntries(stages.map((s) => [s, mean(rs.map((r) => r.timings[s] ?? 0))]));
}

/** Example-level pairs with each seed's baseline, pooled over seeds. */
function pairWithBaseline(rs: CellResult[], baselines: Map<string, CellResult>): Agg['paired'] {
  const a: boolean[] = [];
  const b: boolean[] = [];
  let vs = '';
  for (const r of rs) {
    const base = baselines.get(pairingId(r));
    if (!base || base.key === r.key) return undefined;
    vs = rowLabel(base);
    const got = new Map(base.examples.map((e) => [e.id, e.correct === true]));
    for (const e of r.examples) {
      if (!got.has(e.id)) continue;
      a.push(got.get(e.id)!);
      b.push(e.correct === true);
    }
  }
  if (a.length === 0) return undefined;
  const boot = pairedBootstrap(a, b);
  return { vs, diff: boot.estimate, ci: { low: boot.low, high: boot.high }, p: mcnemar(a, b).pValue, pairs: a.length };
}

/** Strings as they are, lists of strings joined with "+" (actions: int4+int8), else canonical JSON. */
/**
 * Quant presets that form one curve (same grouping, fewer bits): KIVI pairing for fp16 and the
 * plain names, then one curve per suffix (-head, -token, -g32), nf4 alone, objects as "custom".
 */
export function quantFamily(precision: unknown): string {
  if (typeof precision !== 'string') return 'custom';
  if (['fp16', 'int8', 'int4', 'int2'].includes(precision)) return 'KIVI';
  const dash = precision.indexOf('-');
  return dash < 0 ? precision : `per-${precision.slice(dash + 1)}`.replace('per-g', 'group ');
}

const str = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join('+') : canonicalJson(v));

/** A short name for a setting's method, budget, precision and params (a table row). */
export function rowLabel(r: Pick<CellResult, 'method' | 'budget' | 'precision' | 'params'>): string {
  const p = { ...r.params };
  const parts: string[] = [];
  if (r.method === 'full') parts.push('full (FP16)');
  else if (r.method === 'quant') parts.push(str(r.precision));
  else if (r.method === 'select') {
    parts.push(String(p.selector ?? 'select'));
    delete p.selector;
  } else parts.push(r.method);
  if (r.method !== 'quant' && r.precision !== null) parts.push(str(r.precision));
  if (r.budget !== null) parts.push(r.method === 'select' ? `p=${str(r.budget)}` : `budget ${str(r.budget)}`);
  if (p.lastFp16) parts.push(`+ last-${p.lastFp16} FP16`);
  delete p.lastFp16;
  for (const [k, v] of Object.entries(p)) parts.push(`${k}=${str(v)}`);
  return parts.join(' ');
}

/**
 * The curve a setting belongs to in accuracy-vs-bytes figures: everything but what moves along
 * the curve (the budget; for quant, the precision). Returns [series name, point label].
 */
export function seriesOf(a: Pick<Agg, 'method' | 'budget' | 'precision' | 'params'>): [string, string] {
  const { budget, precision, params } = a;
  if (a.method === 'full') return ['full (FP16)', 'full'];
  if (a.method === 'quant') {
    const extra = Object.entries(params).map(([k, v]) => (k === 'lastFp16' ? `last-${v} FP16` : `${k}=${str(v)}`)).join(' ');
    return [`quant ${quantFamily(precision)}${extra ? ' ' + extra : ''}`, str(precision)];
  }
  const name = rowLabel({ method: a.method, budget: null, precision, params });
  return [name, budget === null ? '' : a.method === 'select' ? `p=${str(budget)}` : str(budget)];
}
