import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { reportCommand } from '../../cli/commands/report.js';
import { sweepCommand } from '../../cli/commands/sweep.js';
import { readResults } from '../sweep/index.js';
import { aggregate, renderReport } from './index.js';
import { findChromium, renderInChromium } from './chromium.js';
import { decodePng, inkFraction } from './png.js';
import { syntheticResults } from './synthetic.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'kvwire-report-'));
const results = syntheticResults();

/** Points the trade-off figures must hold: every setting once, plus the full-cache baseline in each extra accuracy figure. */
function expectedPoints(): number {
  const aggs = aggregate(results);
  let n = 0;
  for (const key of new Set(aggs.map((a) => `${a.model}|${a.dataset}`))) {
    const as = aggs.filter((a) => `${a.model}|${a.dataset}` === key);
    if (as[0].metric === 'perplexity') {
      n += as.length;
      continue;
    }
    // Figure families: precision/length (quant without params, front/back), selection, planning/mixed.
    const families = new Set(as.filter((a) => a.method !== 'full').map((a) =>
      a.method === 'select' ? (['front', 'back'].includes(a.params.selector as string) ? 'pl' : 'sel') : a.method === 'quant' && !Object.keys(a.params).length ? 'pl'
        : a.method === 'c2c' ? 'other' : 'plan'));
    n += as.length + (families.size - 1);
  }
  return n;
}

test('the report holds every table and one point per setting', () => {
  const html = renderReport(results, { generatedAt: 'fixed' });
  for (const id of ['ptq', 'pruning', 'selection', 'rd', 'hetero', 'mixed', 'q2c', 'latency', 'seeds', 'all']) assert.ok(html.includes(`data-table="${id}"`), id);
  assert.equal((html.match(/class="pt"/g) ?? []).length, expectedPoints());
  assert.ok((html.match(/class="seg"/g) ?? []).length > 100); // latency segments
  assert.ok(!/<script|<link|src="http|href="http/.test(html), 'self-contained');
  // Paired comparisons against the full cache appear with their p-values.
  assert.match(html, /Δ [+-]\d+\.\d \[[-\d.]+, [-\d.]+\], p[=<]/);
  // Seed 001's numbers sit beside ours.
  assert.ok(html.includes('55.1') && html.includes('Seed 001 reports'));
  // Names from results are escaped.
  const evil = structuredClone(results[0]);
  evil.model = { ...evil.model, name: '<img src=x onerror=alert(1)>' };
  evil.key = 'evil';
  assert.ok(!renderReport([evil]).includes('<img src=x'));
});

test('headless Chromium renders the figures', async () => {
  assert.ok(findChromium(), 'chromium is needed for this test: apt-get install -y chromium (or set CHROMIUM)');
  const dir = tmp();
  const page = join(dir, 'report.html');
  writeFileSync(page, renderReport(results, { generatedAt: 'fixed' }));
  const { dom, png } = await renderInChromium(page, { dom: true, screenshot: { width: 1400, height: 1800 } });
  // The DOM Chromium built: every SVG parsed, every data point in place with numeric data.
  const svgs = dom!.match(/<svg[^>]*class="chart"/g) ?? [];
  assert.equal(svgs.length, 12); // 9 trade-off figures (c2c's 'other methods' on arc and facts) + 3 latency charts
  const points = [...dom!.matchAll(/<circle class="pt"[^>]*data-x="([^"]+)" data-y="([^"]+)"/g)];
  assert.equal(points.length, expectedPoints());
  assert.ok(points.every((m) => Number.isFinite(Number(m[1])) && Number.isFinite(Number(m[2]))));
  assert.match(dom!, /Post-training quantization \(seed 001 Table 1\)/);
  // The screenshot is a page with ink on it, unlike a blank one.
  const img = decodePng(png!);
  assert.deepEqual([img.width, img.height], [1400, 1800]);
  const ink = inkFraction(img);
  const blank = join(dir, 'blank.html');
  writeFileSync(blank, '<!doctype html><html><body></body></html>');
  const empty = inkFraction(decodePng((await renderInChromium(blank, { screenshot: { width: 400, height: 300 } })).png!));
  assert.equal(empty, 0);
  assert.ok(ink > 0.01, `only ${(100 * ink).toFixed(1)}% of the screenshot differs from the background`);
});

test('kvwire sweep then kvwire report, on the tiny fixture', async () => {
  const dir = tmp();
  const config = join(dir, 'mini.json');
  writeFileSync(config, JSON.stringify({
    name: 'mini', models: ['fixtures/llama'], datasets: [{ name: 'facts', n: 2 }],
    methods: [{ method: 'full' }, { method: 'quant', precisions: ['int8', 'int4'] }],
  }));
  const out = join(dir, 'mini.jsonl');
  const saved = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write; // keep the test output clean
  try {
    assert.equal(await sweepCommand([config, '--out', out, '--csv', join(dir, 'mini.csv')]), 0);
    assert.equal(await sweepCommand([config, '--out', out]), 0); // nothing left to run
    assert.equal(await reportCommand([out, '--out', join(dir, 'r.html'), '--title', 'mini']), 0);
  } finally {
    process.stderr.write = saved;
  }
  assert.equal(readResults(out).results.length, 3);
  assert.ok(existsSync(join(dir, 'mini.csv')));
  const html = readFileSync(join(dir, 'r.html'), 'utf8');
  assert.match(html, /<title>mini<\/title>/);
  assert.equal((html.match(/class="pt"/g) ?? []).length, 3);
  assert.ok(html.includes('data-table="ptq"'));
  await assert.rejects(reportCommand([join(dir, 'none.jsonl')]), { code: 'FILE_NOT_FOUND' });
});
