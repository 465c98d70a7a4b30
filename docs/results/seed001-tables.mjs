#!/usr/bin/env node
/**
 * Seed 001's tables from a sweep results file (npm run repro:seed001), as markdown: every number
 * is read from the results, none is typed in. Per table and dataset, one row per setting: seed
 * 001's number for reference (its column: OpenBookQA beside instr, ARC-C beside arith; Qwen3-0.6B
 * <- Qwen2.5-0.5B with C2C, so not comparable in level), then ours per zoo model as accuracy % with
 * its Wilson 95% interval, a dagger where McNemar's test against the full cache of the same model
 * and examples gives p < 0.05, and the mean bytes sent as a fraction of the FP16 cache.
 *
 *   node docs/results/seed001-tables.mjs bench/results/seed001.jsonl > bench/results/seed001.md
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { mcnemar } = await import(resolve(root, 'dist/eval/stats.js'));
const { REFERENCE } = await import(resolve(root, 'dist/eval/report/reference.js'));

const file = process.argv[2] ?? resolve(root, 'bench/results/seed001.jsonl');
const results = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const models = [...new Set(results.filter((r) => r.method !== 'c2c').map((r) => r.model.name))];
const DATASETS = [['instr', 'OpenBookQA'], ['arith', 'ARC-C']];

const pct = (x) => (100 * x).toFixed(1);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const find = (model, dataset, method, budget, precision, params) => results.find((r) => r.model.name === model && r.dataset.name === dataset &&
  r.method === method && same(r.budget, budget) && same(r.precision, precision) && same(r.params, params));

function cell(r) {
  if (!r) return '—';
  const s = r.summary;
  const full = results.find((x) => x.model.name === r.model.name && x.dataset.name === r.dataset.name && x.seed === r.seed &&
    x.method === (r.method === 'c2c' ? 'c2c' : 'full') && (r.method !== 'c2c' || x.params.mode === 'receiver-full'));
  let mark = '';
  if (full && full !== r) {
    const byId = new Map(full.examples.map((e) => [e.id, e.correct === true]));
    const pairs = r.examples.filter((e) => byId.has(e.id));
    if (pairs.length && mcnemar(pairs.map((e) => byId.get(e.id)), pairs.map((e) => e.correct === true)).pValue < 0.05) mark = '†';
  }
  return `${pct(s.accuracy)}${mark} [${pct(s.wilson95.low)}, ${pct(s.wilson95.high)}]`;
}
const ratio = (r) => (r ? r.bytes.ratio.toFixed(3) : '—');

/** One markdown table: rows = [label, seedRow(col) | null, method, budget, precision, params]. */
function table(title, rows, referenceOf) {
  const out = [`### ${title}`, ''];
  for (const [ds, theirs] of DATASETS) {
    if (!results.some((r) => r.dataset.name === ds)) continue;
    out.push(`**${ds}** (seed 001 column: ${theirs}; n = ${results.find((r) => r.dataset.name === ds)?.summary.n} per cell)`, '');
    out.push(`| setting | seed 001 | ${models.join(' | ')} | bytes / FP16 (${models.map((m) => m.replace(/^kvw-/, '')).join(', ')}) |`);
    out.push(`|---|---:|${models.map(() => '---:').join('|')}|---|`);
    for (const [label, ref, method, budget, precision, params] of rows) {
      const rs = models.map((m) => find(m, ds, method, budget, precision, params));
      if (rs.every((r) => !r)) continue;
      out.push(`| ${label} | ${ref ? referenceOf(ref, theirs) : ''} | ${rs.map(cell).join(' | ')} | ${rs.map(ratio).join(', ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** Seed 001's number in reference table `key`, for the row whose first cell is `row`, column `col`. */
function ref(key) {
  const t = REFERENCE[key];
  return (row, col) => {
    const r = t.rows.find((x) => x[0] === row);
    const c = t.header.indexOf(col);
    return r && c >= 0 ? r[c] : '';
  };
}
const ptq = ref('ptq');
const pruning = (order, p) => (lbl, theirs) => {
  const t = REFERENCE.pruning;
  const r = t.rows.find((x) => x[0] === order && x[1] === theirs);
  return r ? r[t.header.indexOf(`p=${p}`)] : '';
};

const sections = [];
sections.push(table('Table 1: post-training quantization (whole cache)', [
  ['full cache (fp32 in process, counted as FP16)', ['FP16 baseline'], 'full', null, null, {}],
  ['FP16', null, 'quant', null, 'fp16', {}],
  ['INT8 (KIVI: keys per channel, values per token)', null, 'quant', null, 'int8', {}],
  ['INT4 (KIVI)', null, 'quant', null, 'int4', {}],
  ['INT8, one symmetric scale per head (seed 001\'s PTQ)', ['INT8 PTQ'], 'quant', null, 'int8-head', {}],
  ['INT4, one symmetric scale per head (seed 001\'s PTQ)', ['INT4 PTQ'], 'quant', null, 'int4-head', {}],
  ['NF4 (KIVI pairing)', null, 'quant', null, 'nf4', {}],
  ['INT2 (KIVI, groups of 32)', null, 'quant', null, 'int2', {}],
], (row, col) => ptq(row[0], col)));

const pruneRows = [];
for (const order of ['front', 'back']) for (const p of [0.75, 0.5, 0.25, 0.1]) {
  pruneRows.push([`${order} p = ${p}, INT8`, [order, p], 'select', p, 'int8', { selector: order }]);
}
sections.push(table('Tables 2-3: front vs back truncation (kept fraction p, INT8)', pruneRows, ([order, p], theirs) => pruning(order, p)(null, theirs)));

const sel = ref('selection');
sections.push(table('Table 4: token selection at p = 0.25, INT8', [
  ['full cache', null, 'full', null, null, {}],
  ...['vnorm', 'knorm', 'random', 'front', 'back', 'h2o', 'snapkv', 'q2c'].map((s) => [s, s === 'vnorm' ? ['vnorm'] : null, 'select', 0.25, 'int8', { selector: s }]),
], (row, col) => sel(row[0], col)));

const rd = ref('rd');
sections.push(table('Table 5: rate-distortion plans at a fraction of the FP16 bytes', [
  ['full cache', null, 'full', null, null, {}],
  ...[['1/16', 'RD 1/16'], ['1/8', 'RD 1/8']].flatMap(([b, name]) => [
    [`${name} (drop+int8)`, [`${name} (drop+int8)`], 'plan', b, null, { actions: ['int8'] }],
    [`${name} (drop+int4+int8)`, [`${name} (drop+int4+int8)`], 'plan', b, null, { actions: ['int4', 'int8'] }],
  ]),
], (row, col) => rd(row[0], col)));

const mixed = ref('mixed');
sections.push(table('Table 7: mixed precision (INT8, last k layers FP16)', [
  ['full cache', null, 'full', null, null, {}],
  ['INT8, every layer', null, 'quant', null, 'int8', {}],
  ...[2, 4, 8].map((k) => [`INT8 + last-${k} FP16`, [`INT8 + last-${k} FP16`], 'quant', null, 'int8', { lastFp16: k }]),
], (row, col) => mixed(row[0], col)));

sections.push(table('Figures 1-2 (points): front/back truncation with INT4 rows', [
  ['full cache', null, 'full', null, null, {}],
  ...['front', 'back'].flatMap((o) => [0.75, 0.5, 0.25, 0.1].map((p) => [`${o} p = ${p}, INT4`, null, 'select', p, 'int4', { selector: o }])),
], () => ''));

// Table 6: the hetero pair, one column per dataset.
const hetero = results.filter((r) => r.method === 'c2c');
if (hetero.length) {
  const T6 = { 'M9 delta (p = 0.25)': ['40.0', '44.6'], 'M10 RD (1/8)': ['40.4', '46.0'] };
  const rows = [
    ['receiver reads the context alone (no cache sent)', null, { mode: 'receiver-full' }, null, null],
    ['fused, every token FP16', null, { protocol: 'receiver-side' }, null, null],
    ['M9 delta_proj_vnorm p = 0.25, INT8', 'M9 delta (p = 0.25)', { protocol: 'receiver-side', selector: 'delta_proj_vnorm' }, 0.25, 'int8'],
    ['M10 RD 1/8 (drop+int4+int8)', 'M10 RD (1/8)', { protocol: 'receiver-side', planner: 'rd' }, '1/8', null],
  ];
  const out = ['### Table 6: heterogeneous pair through the ridge fuser', '', `pair: ${hetero[0].model.name} (${hetero[0].model.path} -> ${hetero[0].model.receiver})`, '',
    '| setting | seed 001 OBQA | seed 001 ARC-C | instr | arith | bytes sent (instr, mean) |', '|---|---:|---:|---:|---:|---:|'];
  for (const [label, key, params, budget, precision] of rows) {
    const rs = ['instr', 'arith'].map((ds) => hetero.find((r) => r.dataset.name === ds && same(r.params, params) && same(r.budget, budget) && same(r.precision, precision)));
    out.push(`| ${label} | ${key ? T6[key][0] : ''} | ${key ? T6[key][1] : ''} | ${rs.map(cell).join(' | ')} | ${rs[0] ? Math.round(rs[0].bytes.mean.total) : '—'} |`);
  }
  sections.push(out.join('\n') + '\n');
}

const cells = results.length;
const wall = results.reduce((a, r) => a + r.run.wallMs, 0) / 1000;
console.log(`<!-- generated by docs/results/seed001-tables.mjs from ${file}: ${cells} cells, ${wall.toFixed(0)} s of cell time (summed over workers) -->\n`);
console.log(sections.join('\n'));
