/**
 * The report's tables, each rendered from whatever cells match it (a table with no matching
 * cells is left out): seed 001's PTQ, front/back pruning, selection at p = 0.25, RD budgets and
 * mixed precision; seed 002's Q2C vs SnapKV vs H2O and per-stage latency; repeats over seeds;
 * and every cell with its paired comparison against the baseline.
 */
import { canonicalJson } from '../sweep/key.js';
import { type Agg, rowLabel } from './analyze.js';
import { REFERENCE, type ReferenceTable } from './reference.js';
import { esc, formatBytes } from './svg.js';

const pct = (x: number) => (100 * x).toFixed(1);
const str = (v: unknown) => (typeof v === 'string' ? v : canonicalJson(v));

/** One table cell: value, interval, and the paired difference from the baseline. */
export function valueCell(a: Agg | undefined): string {
  if (!a) return '<td class="na">–</td>';
  if (a.metric === 'perplexity') {
    return `<td><b>${a.value.toFixed(3)}</b> <span class="ci">[${a.ci.low.toFixed(3)}, ${a.ci.high.toFixed(3)}] bits/byte</span></td>`;
  }
  const seeds = a.seeds.length > 1 ? ` <span class="ci">${a.seeds.length} seeds, sd ${pct(a.sd ?? 0)}</span>` : '';
  const d = a.paired
    ? `<br><span class="delta ${a.paired.p < 0.05 ? 'sig' : ''}" title="vs ${esc(a.paired.vs)} on ${a.paired.pairs} paired examples: paired bootstrap 95% CI, McNemar p">Δ ${a.paired.diff >= 0 ? '+' : ''}${pct(a.paired.diff)} [${pct(a.paired.ci.low)}, ${pct(a.paired.ci.high)}], p${formatP(a.paired.p)}</span>`
    : '';
  return `<td><b>${pct(a.value)}</b> <span class="ci">[${pct(a.ci.low)}, ${pct(a.ci.high)}]</span>${seeds}${d}</td>`;
}

/** "=0.042" or "<0.001", to follow a "p". */
export function formatP(p: number): string {
  return p < 0.001 ? '<0.001' : `=${p.toFixed(3)}`;
}

interface Matrix {
  title: string;
  caption: string;
  rows: Array<{ key: string; label: string }>;
  cols: Array<{ key: string; label: string }>;
  get(row: string, col: string): Agg | undefined;
  reference?: ReferenceTable;
}

function matrix(m: Matrix, id: string): string {
  const head = `<tr><th></th>${m.cols.map((c) => `<th>${esc(c.label)}</th>`).join('')}</tr>`;
  const body = m.rows.map((r) => `<tr><th>${esc(r.label)}</th>${m.cols.map((c) => valueCell(m.get(r.key, c.key))).join('')}</tr>`).join('');
  const ref = m.reference ? referenceTable(m.reference) : '';
  return `<div class="tbl" data-table="${id}"><h3>${esc(m.title)}</h3><p class="cap">${esc(m.caption)}</p><div class="pair"><table>${head}${body}</table>${ref}</div></div>`;
}

export function referenceTable(t: ReferenceTable): string {
  return `<details class="ref" open><summary>${esc(t.caption)}</summary><table><tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${
    t.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table></details>`;
}

const uniq = <T,>(xs: T[]) => [...new Set(xs)];
const byModel = (aggs: Agg[]) => uniq(aggs.map((a) => a.model)).map((m) => [m, aggs.filter((a) => a.model === m)] as const);
const byModelDataset = (aggs: Agg[]) => uniq(aggs.map((a) => `${a.model}\u0000${a.dataset}`)).map((k) => {
  const [model, dataset] = k.split('\u0000');
  return [model, dataset, aggs.filter((a) => a.model === model && a.dataset === dataset)] as const;
});

/** Rows ordered by bytes, largest first (the baseline on top). */
function rowsOf(aggs: Agg[], key: (a: Agg) => string, label: (a: Agg) => string): Matrix['rows'] {
  const seen = new Map<string, { label: string; bytes: number }>();
  for (const a of aggs) if (!seen.has(key(a))) seen.set(key(a), { label: label(a), bytes: a.bytes });
  return [...seen.entries()].sort((x, y) => y[1].bytes - x[1].bytes).map(([k, v]) => ({ key: k, label: v.label }));
}

function colsOfDatasets(aggs: Agg[]): Matrix['cols'] {
  return uniq(aggs.map((a) => a.dataset)).map((d) => ({ key: d, label: d }));
}

const budgetValue = (b: unknown) => (typeof b === 'number' ? b : typeof b === 'string' && /^\d+\/\d+$/.test(b) ? Number(b.split('/')[0]) / Number(b.split('/')[1]) : NaN);

/** Every table that the aggregated cells can fill, as HTML. */
export function renderTables(aggs: Agg[]): string[] {
  const acc = aggs.filter((a) => a.metric === 'accuracy');
  const out: string[] = [];

  // Seed 001 Table 1: full vs PTQ (quant with no params).
  const ptq = acc.filter((a) => a.method === 'full' || (a.method === 'quant' && Object.keys(a.params).length === 0));
  for (const [model, as] of byModel(ptq)) {
    if (!as.some((a) => a.method === 'quant')) continue;
    const key = (a: Agg) => `${a.method}:${str(a.precision)}`;
    out.push(matrix({
      title: `Post-training quantization (seed 001 Table 1) — ${model}`, caption: 'Accuracy % [95% CI]; Δ: paired difference vs the full cache on the same examples [95% paired-bootstrap CI], McNemar p.',
      rows: rowsOf(as, key, rowLabel), cols: colsOfDatasets(as), get: (r, c) => as.find((a) => key(a) === r && a.dataset === c), reference: REFERENCE.ptq,
    }, 'ptq'));
  }

  // Seed 001 Tables 2-3: front/back truncation, columns = kept fraction.
  const prune = acc.filter((a) => a.method === 'select' && ['front', 'back'].includes(a.params.selector as string));
  for (const [model, dataset, as] of byModelDataset(prune)) {
    const key = (a: Agg) => `${a.params.selector}:${str(a.precision)}`;
    const cols = uniq(as.map((a) => str(a.budget))).sort((x, y) => budgetValue(y) - budgetValue(x)).map((b) => ({ key: b, label: `p=${b}` }));
    out.push(matrix({
      title: `Front vs back truncation (seed 001 Tables 2-3) — ${model}, ${dataset}`, caption: 'Accuracy % by kept fraction p of the context tokens.',
      rows: rowsOf(as, key, (a) => `${a.params.selector} ${str(a.precision)}`), cols, get: (r, c) => as.find((a) => key(a) === r && str(a.budget) === c), reference: REFERENCE.pruning,
    }, 'pruning'));
  }

  // Seed 001 Table 4: selectors at p = 0.25.
  const sel = acc.filter((a) => a.method === 'select' && budgetValue(a.budget) === 0.25);
  for (const [model, as] of byModel(sel)) {
    const key = (a: Agg) => rowLabel({ ...a, budget: null });
    out.push(matrix({
      title: `Token selection at p = 0.25 (seed 001 Table 4) — ${model}`, caption: 'Accuracy % keeping a quarter of the context tokens.',
      rows: rowsOf(as, key, key), cols: colsOfDatasets(as), get: (r, c) => as.find((a) => key(a) === r && a.dataset === c), reference: REFERENCE.selection,
    }, 'selection'));
  }

  // Seed 001 Table 5: RD planning at 1/16 and 1/8 of the FP16 bytes.
  const rd = acc.filter((a) => a.method === 'plan' && [1 / 16, 1 / 8].some((b) => Math.abs(budgetValue(a.budget) - b) < 1e-9));
  for (const [model, as] of byModel(rd)) {
    const key = (a: Agg) => rowLabel(a);
    out.push(matrix({
      title: `Rate-distortion planning at 1/16 and 1/8 budgets (seed 001 Table 5) — ${model}`, caption: 'Accuracy %; budget = fraction of the FP16 cache bytes.',
      rows: rowsOf(as, key, key), cols: colsOfDatasets(as), get: (r, c) => as.find((a) => key(a) === r && a.dataset === c), reference: REFERENCE.rd,
    }, 'rd'));
  }

  // Seed 001 Table 6: the cross-model pair (c2c cells: the fuser's settings and its baselines).
  const hetero = acc.filter((a) => a.method === 'c2c');
  for (const [model, as] of byModel(hetero)) {
    const key = (a: Agg) => rowLabel(a);
    out.push(matrix({
      title: `Heterogeneous pair (seed 001 Table 6) — ${model}`, caption: 'Accuracy % through the cross-model fuser; the receiver reading the context itself (mode receiver-full) beside it.',
      rows: rowsOf(as, key, key), cols: colsOfDatasets(as), get: (r, c) => as.find((a) => key(a) === r && a.dataset === c), reference: REFERENCE.hetero,
    }, 'hetero'));
  }

  // Seed 001 Table 7: mixed precision (last k layers in FP16).
  const mixed = acc.filter((a) => (a.method === 'quant' || a.method === 'plan') && Number(a.params.lastFp16) > 0);
  for (const [model, as] of byModel(mixed)) {
    const key = (a: Agg) => rowLabel(a);
    out.push(matrix({
      title: `Mixed precision (seed 001 Table 7) — ${model}`, caption: 'Accuracy % with the last k layers kept in FP16.',
      rows: rowsOf(as, key, key), cols: colsOfDatasets(as), get: (r, c) => as.find((a) => key(a) === r && a.dataset === c), reference: REFERENCE.mixed,
    }, 'mixed'));
  }

  // Seed 002: Q2C vs SnapKV vs H2O by retention.
  const attn = acc.filter((a) => a.method === 'select' && ['q2c', 'snapkv', 'h2o'].includes(a.params.selector as string));
  for (const [model, dataset, as] of byModelDataset(attn)) {
    const key = (a: Agg) => rowLabel({ ...a, budget: null });
    const cols = uniq(as.map((a) => str(a.budget))).sort((x, y) => budgetValue(y) - budgetValue(x)).map((b) => ({ key: b, label: `p=${b}` }));
    out.push(matrix({
      title: `Q2C vs SnapKV vs H2O (seed 002) — ${model}, ${dataset}`, caption: 'Accuracy % by kept fraction p.',
      rows: rowsOf(as, key, key), cols, get: (r, c) => as.find((a) => key(a) === r && str(a.budget) === c), reference: REFERENCE.q2c,
    }, 'q2c'));
  }

  out.push(...latencyTables(aggs), ...seedTables(aggs), allCells(aggs));
  return out;
}

export const STAGE_ORDER = ['prefill', 'select', 'plan', 'quantize', 'encode', 'transfer', 'verify', 'decodeCard', 'dequantize', 'inject', 'append', 'decode', 'sample', 'score'];

export function stagesOf(aggs: Agg[]): string[] {
  const present = uniq(aggs.flatMap((a) => Object.keys(a.timings)));
  return [...STAGE_ORDER.filter((s) => present.includes(s)), ...present.filter((s) => !STAGE_ORDER.includes(s)).sort()];
}

function latencyTables(aggs: Agg[]): string[] {
  return byModelDataset(aggs).map(([model, dataset, as]) => {
    const stages = stagesOf(as);
    const rows = [...as].sort((x, y) => y.bytes - x.bytes);
    const head = `<tr><th></th><th>bytes</th>${stages.map((s) => `<th>${esc(s)}</th>`).join('')}<th>total</th></tr>`;
    const body = rows.map((a) => {
      const total = stages.reduce((t, s) => t + (a.timings[s] ?? 0), 0);
      return `<tr><th>${esc(rowLabel(a))}</th><td>${formatBytes(a.bytes)}</td>${stages.map((s) => `<td>${a.timings[s] === undefined ? '–' : a.timings[s].toFixed(2)}</td>`).join('')}<td><b>${total.toFixed(2)}</b></td></tr>`;
    }).join('');
    return `<div class="tbl" data-table="latency"><h3>Per-stage latency (seed 002) — ${esc(model)}, ${esc(dataset)}</h3><p class="cap">Mean milliseconds per example on the machine that ran the sweep (see each cell's run.threads and run.workers); decode = forward passes after the first token.</p><div class="pair"><table>${head}${body}</table>${referenceTable(REFERENCE.latency)}</div></div>`;
  });
}

function seedTables(aggs: Agg[]): string[] {
  const multi = aggs.filter((a) => a.seeds.length > 1);
  if (!multi.length) return [];
  const body = multi.map((a) => {
    const f = (x: number) => (a.metric === 'accuracy' ? pct(x) : x.toFixed(3));
    const per = a.cells.map((r) => `${r.seed}: ${f(r.metric === 'accuracy' ? (r.summary as { accuracy: number }).accuracy : (r.summary as { bitsPerByte: number }).bitsPerByte)}`).join(', ');
    return `<tr><th>${esc(`${a.model} · ${a.dataset} · ${rowLabel(a)}`)}</th><td>${a.seeds.length}</td><td><b>${f(a.value)}</b> ± ${f(a.sd ?? 0)}</td><td>[${f(a.ci.low)}, ${f(a.ci.high)}]</td><td class="ci">${esc(per)}</td></tr>`;
  }).join('');
  return [`<div class="tbl" data-table="seeds"><h3>Repeats over seeds</h3><p class="cap">Mean ± sample sd over seeds, Student-t 95% interval of the mean.</p><table><tr><th>setting</th><th>seeds</th><th>mean ± sd</th><th>95% CI</th><th>per seed</th></tr>${body}</table></div>`];
}

function allCells(aggs: Agg[]): string {
  const rows = [...aggs].sort((x, y) => (x.model + x.dataset).localeCompare(y.model + y.dataset) || y.bytes - x.bytes);
  const body = rows.map((a) => `<tr><th>${esc(a.model)}</th><td>${esc(a.dataset)}</td><td>${esc(rowLabel(a))}</td><td>${a.n}</td>${valueCell(a)}<td>${formatBytes(a.bytes)}</td><td>${(100 * a.ratio).toFixed(1)}%</td><td>${(100 * a.keptFraction).toFixed(0)}%</td></tr>`).join('');
  return `<div class="tbl" data-table="all"><h3>Every setting</h3><p class="cap">Accuracy % (or bits per byte for perplexity) [95% CI]; bytes = mean transmitted per example (payload + scales + indices + metadata); ratio = vs the FP16 full cache; kept = context tokens handed over.</p><table><tr><th>model</th><th>dataset</th><th>method</th><th>n</th><th>result</th><th>bytes</th><th>ratio</th><th>kept</th></tr>${body}</table></div>`;
}
