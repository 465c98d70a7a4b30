/**
 * kvwire report RESULTS.jsonl [...] --out report.html: a self-contained HTML page (inline SVG,
 * no external assets) with accuracy-vs-bytes figures, the seeds' tables and latency bars.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KvwireError } from '../../errors.js';
import { renderReport } from '../../eval/report/index.js';
import { readResults, type CellResult } from '../../eval/sweep/index.js';
import { usageError } from '../errors.js';

export const reportHelp = `kvwire report RESULTS.jsonl [MORE.jsonl ...] --out report.html [--title TEXT]

  RESULTS.jsonl   results of kvwire sweep (several files are merged; a cell key seen twice keeps the last)
  --out FILE      the HTML page to write (default report.html)
  --title TEXT    the page title`;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string', default: 'report.html' }, title: { type: 'string' } } });
  if (positionals.length === 0) throw usageError('report needs at least one results file', reportHelp);
  const results: CellResult[] = [];
  for (const file of positionals) {
    const { results: rs, partialTail } = readResults(resolve(file));
    if (rs.length === 0 && !partialTail) throw new KvwireError('FILE_NOT_FOUND', `${file}: no results (missing or empty)`, { path: file });
    if (partialTail) process.stderr.write(`report: ${file} ends in a partial line (a stopped sweep); it is ignored\n`);
    results.push(...rs);
  }
  const out = resolve(values.out);
  mkdirSync(dirname(out), { recursive: true });
  // Written whole or not at all.
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, renderReport(results, { title: values.title, sources: positionals }));
  renameSync(tmp, out);
  process.stderr.write(`report: ${results.length} cells -> ${out}\n`);
  return 0;
}
