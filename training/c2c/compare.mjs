// Paired comparison of two `kvwire fuse-eval --json-out` files on the same examples (same ids):
// accuracy and McNemar of mode A of the first file against mode B of the second.
//   node training/c2c/compare.mjs C2C.json RIDGE.json [modeA=fused] [modeB=fused]
// Run from the repository root after `npx tsc -p .` (uses dist/eval/stats.js).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [fa, fb, ma = 'fused', mb = 'fused'] = process.argv.slice(2);
if (!fa || !fb) { console.error('usage: node training/c2c/compare.mjs A.json B.json [modeA] [modeB]'); process.exit(2); }
const { mcnemar, wilsonInterval } = await import(pathToFileURL(resolve('dist/eval/stats.js')).href);
const a = JSON.parse(readFileSync(fa, 'utf8'));
const b = JSON.parse(readFileSync(fb, 'utf8'));
if (JSON.stringify(a.ids) !== JSON.stringify(b.ids)) { console.error('the two files are not on the same examples'); process.exit(1); }
const ca = a.results[ma].map((o) => o.correct);
const cb = b.results[mb].map((o) => o.correct);
const pct = (k, n) => { const ci = wilsonInterval(k, n); return `${(100 * k / n).toFixed(1)}% [${(100 * ci.low).toFixed(1)}, ${(100 * ci.high).toFixed(1)}]`; };
const k = (xs) => xs.filter(Boolean).length;
const t = mcnemar(cb, ca);
console.log(`${fa}:${ma} ${pct(k(ca), ca.length)} vs ${fb}:${mb} ${pct(k(cb), cb.length)}; only A correct ${t.c}, only B correct ${t.b}, McNemar p = ${t.pValue.toPrecision(3)}`);
