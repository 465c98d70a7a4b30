/**
 * The self-contained HTML report: inline CSS and SVG, no scripts, no external assets. Sections:
 * accuracy (or bits per byte) versus transmitted bytes per (model, dataset), per-stage latency
 * bars, then the tables (tables.ts).
 */
import { aggregate, seriesOf, rowLabel, type Agg } from './analyze.js';
import { esc, formatBytes, lineChart, stackedBars, type Series } from './svg.js';
import { renderTables, stagesOf } from './tables.js';
import type { CellResult } from '../sweep/results.js';

export interface ReportOptions {
  title?: string;
  /** The results files the cells came from (listed in the header). */
  sources?: string[];
  /** Shown in the header; default now (tests pass a fixed one). */
  generatedAt?: string;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1500px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 4px}.meta{color:#555;font-size:13px}.cap{color:#555;font-size:12px;margin:2px 0 6px}
.figs{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #e3e3e3;border-radius:6px;padding:6px;background:#fff}
figcaption{font-size:12px;color:#555;max-width:700px;padding:2px 6px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f6f6f6;text-align:left;font-weight:600}td.na{color:#aaa;text-align:center}
.ci{color:#666;font-size:11px}.delta{font-size:11px;color:#555}.delta.sig{color:#b00;font-weight:600}
details.ref{margin:4px 0 10px;font-size:12px;color:#555}details.ref summary{cursor:pointer;max-width:360px}
details.ref table{font-size:12px;color:#555}.pair{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
.chart text{font-family:system-ui,sans-serif}.chart .ttl{font-size:14px;font-weight:600}.chart .tick{font-size:11px;fill:#444}
.chart .axis{font-size:12px;fill:#222}.chart .leg{font-size:11px;fill:#222}.chart .lbl{font-size:10px}
.chart .grid{stroke:#eee}.chart .frame{fill:none;stroke:#999}.chart .ser{stroke-width:1.6}.chart .err{stroke-width:1.2}
.chart .base{stroke-dasharray:5 4;stroke-width:1.2}
`;

function groupBy<T>(xs: T[], key: (x: T) => string): Array<[string, T[]]> {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return [...m.entries()];
}

/**
 * Which figure a setting is drawn in, so no chart carries more than a handful of curves:
 * precision and cache length (seed 001 Figures 1-2: quantization, front/back truncation), token
 * selectors, budget planning and mixed precision, and anything else (e.g. handoff runners).
 * The full-cache baseline is drawn in every figure.
 */
export function figureFamily(a: Pick<Agg, 'method' | 'params' | 'metric'>): string {
  if (a.metric === 'perplexity') return 'Perplexity';
  if (a.method === 'quant') return Object.keys(a.params).length ? 'Planning and mixed precision' : 'Precision and cache length';
  if (a.method === 'select') return ['front', 'back'].includes(a.params.selector as string) ? 'Precision and cache length' : 'Token selection';
  if (a.method === 'plan') return 'Planning and mixed precision';
  return a.method === 'full' ? '' : 'Other methods';
}

/** Accuracy (or bits/byte) vs mean transmitted bytes, one series per method curve. */
function tradeoffFigure(model: string, dataset: string, family: string, aggs: Agg[]): string {
  const accuracy = aggs[0].metric === 'accuracy';
  const scale = (v: number) => (accuracy ? 100 * v : v);
  const digits = accuracy ? 1 : 3;
  const series: Series[] = groupBy(aggs, (a) => seriesOf(a)[0]).map(([name, as]) => ({
    name,
    baseline: as[0].method === 'full',
    line: as[0].method !== 'full',
    points: as.map((a) => ({
      x: a.bytes, y: scale(a.value), low: scale(a.ci.low), high: scale(a.ci.high), label: seriesOf(a)[1],
      title: `${rowLabel(a)}: ${scale(a.value).toFixed(digits)}${accuracy ? '%' : ' bits/byte'} [${scale(a.ci.low).toFixed(digits)}, ${scale(a.ci.high).toFixed(digits)}], ${formatBytes(a.bytes)} (${(100 * a.ratio).toFixed(1)}% of FP16), n=${a.n}`,
    })),
  }));
  const svg = lineChart(series, {
    title: `${family} · ${model} · ${dataset}`, xLabel: 'transmitted bytes per example (log scale)', yLabel: accuracy ? 'accuracy (%)' : 'bits per byte (lower is better)',
    xLog: true, xFormat: formatBytes, yFormat: (y) => (accuracy ? `${+y.toFixed(1)}` : y.toFixed(2)), width: 680,
  });
  const cap = accuracy
    ? 'Each point: one setting, mean over seeds; bars: 95% CI (Wilson for one seed, Student-t over seeds otherwise). Labels: kept fraction p, precision or budget. Dashed: the full cache.'
    : 'WikiText-2 bits per byte with a bootstrap 95% CI over windows. Dashed: the full cache.';
  return `<figure data-model="${esc(model)}" data-dataset="${esc(dataset)}" data-family="${esc(family)}">${svg}<figcaption>${esc(cap)}</figcaption></figure>`;
}

/** Every trade-off figure of one (model, dataset). */
function tradeoffFigures(model: string, dataset: string, aggs: Agg[]): string {
  const base = aggs.filter((a) => a.method === 'full');
  const families = [...new Set(aggs.map(figureFamily).filter(Boolean))];
  return families.map((fam) => {
    const members = aggs.filter((a) => figureFamily(a) === fam);
    return tradeoffFigure(model, dataset, fam, fam === 'Perplexity' ? members : [...base, ...members]);
  }).join('');
}

function latencyFigure(model: string, dataset: string, aggs: Agg[]): string {
  const stages = stagesOf(aggs);
  const rows = [...aggs].sort((x, y) => y.bytes - x.bytes).map((a) => ({ label: rowLabel(a), parts: a.timings }));
  return `<figure>${stackedBars(rows, stages, { title: `Per-stage latency · ${model} · ${dataset}`, width: 680 })}<figcaption>Mean milliseconds per example, by stage, in pipeline order.</figcaption></figure>`;
}

/** The whole page for a set of result lines. */
export function renderReport(results: readonly CellResult[], options: ReportOptions = {}): string {
  const aggs = aggregate(results);
  const title = options.title ?? 'kvwire evaluation report';
  const groups = groupBy(aggs, (a) => `${a.model}\u0000${a.dataset}`);
  const models = [...new Set(results.map((r) => `${r.model.name} (${r.model.path}; ${r.modelInfo.family}, ${r.modelInfo.layers} layers, ${r.modelInfo.kvHeads} KV heads × ${r.modelInfo.headDim})`))];
  const configs = [...new Set(results.map((r) => r.config))];
  const figs = groups.map(([k, as]) => tradeoffFigures(k.split('\u0000')[0], k.split('\u0000')[1], as)).join('');
  const lat = groups.filter(([, as]) => as.some((a) => Object.keys(a.timings).length)).map(([k, as]) => latencyFigure(k.split('\u0000')[0], k.split('\u0000')[1], as)).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="meta">${results.length} cells from ${esc((options.sources ?? []).join(', ') || 'results')} · configs: ${esc(configs.join(', '))} · generated ${esc(options.generatedAt ?? new Date().toISOString())}</p>
<p class="meta">Models: ${models.map(esc).join('; ')}</p>
<p class="meta">Bytes are counted exactly per example: K/V payload, scales and zero points, selection indices and container metadata (as each method reports them). Intervals are 95%. Differences are paired, on the same examples, against the full cache (else FP16).</p>
<h2>Accuracy versus transmitted bytes</h2>
<div class="figs">${figs}</div>
${lat ? `<h2>Per-stage latency</h2><div class="figs">${lat}</div>` : ''}
<h2>Tables</h2>
${renderTables(aggs).join('\n')}
</body></html>
`;
}
