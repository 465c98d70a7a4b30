#!/usr/bin/env node
/**
 * Copies figures out of a `kvwire report` page as standalone SVG files (the page's chart CSS
 * inlined), for the README and docs/results/seed001.md. Pick figures by model, dataset and family
 * (the report's data-* attributes), e.g.
 *   node docs/results/seed001-figures.mjs bench/results/seed001.html docs/results \
 *     "kvw-llama-6m|instr|Precision and cache length" "kvw-qwen3-14m|arith|Token selection"
 * Files are named seed001-MODEL-DATASET-FAMILY.svg.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [page, outDir, ...picks] = process.argv.slice(2);
const html = readFileSync(page, 'utf8');
const css = (html.match(/^\.chart[^\n]*$/gm) ?? []).join('\n');
const unescape = (s) => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const figures = [...html.matchAll(/<figure data-model="([^"]*)" data-dataset="([^"]*)" data-family="([^"]*)">(<svg[\s\S]*?<\/svg>)/g)]
  .map(([, model, dataset, family, svg]) => ({ model: unescape(model), dataset: unescape(dataset), family: unescape(family), svg }));
for (const pick of picks) {
  const [model, dataset, family] = pick.split('|');
  const f = figures.find((x) => x.model === model && x.dataset === dataset && x.family === family);
  if (!f) {
    console.error(`no figure ${pick}; have: ${figures.map((x) => `${x.model}|${x.dataset}|${x.family}`).join('; ')}`);
    process.exitCode = 1;
    continue;
  }
  // White background and the page's chart styles, so the file renders the same on its own.
  const svg = f.svg.replace(/^<svg([^>]*)>/, `<svg$1><style>${css}</style><rect width="100%" height="100%" fill="#fff"/>`);
  const file = join(outDir, `seed001-${[model, dataset, family].join('-').toLowerCase().replace(/[^a-z0-9]+/g, '-')}.svg`);
  writeFileSync(file, svg + '\n');
  console.log(`${file} (${svg.length} bytes)`);
}
