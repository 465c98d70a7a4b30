/**
 * kvwire sweep CONFIG: run an evaluation grid (src/eval/sweep/README.md documents the config),
 * appending each finished cell to a JSONL results file. Rerunning skips finished cells; Ctrl-C
 * stops after the running cells' current example, keeping every finished cell.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { listRunners, loadConfig, planSweep, readResults, runSweep, type SweepConfig, type SweepOptions } from '../../eval/sweep/index.js';
import { repoRoot } from '../../util/data.js';
import { usageError } from '../errors.js';

export const sweepHelp = `kvwire sweep CONFIG.json [MORE.json ...] [options]

  --out FILE          results, one JSON line per cell (default bench/results/sweep-NAME.jsonl per
                      config); cells already in it are skipped, so rerunning resumes, and configs
                      sharing one --out share their common cells
  --csv FILE          also write a CSV of every cell in the results file
  --workers N         worker threads splitting the cells (default: the config's, else 1)
  --threads N         onnxruntime threads per session (default: 2 / workers)
  --max-cells N       stop after running N cells
  --only TEXT         run only cells whose label contains TEXT
  --runner-module M   import M first (a module that calls registerRunner); repeatable
  --skip-missing      skip cells whose method has no runner yet (instead of refusing the config)
  --dry-run           list the cells (and which are done) without running
  --list-runners      list the registered methods

Then: kvwire report FILE --out report.html`;

export async function sweepCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, options: {
      out: { type: 'string' }, csv: { type: 'string' }, workers: { type: 'string' }, threads: { type: 'string' },
      'max-cells': { type: 'string' }, only: { type: 'string' }, 'runner-module': { type: 'string', multiple: true },
      'dry-run': { type: 'boolean', default: false }, 'list-runners': { type: 'boolean', default: false },
      'skip-missing': { type: 'boolean', default: false },
    },
  });
  const runnerModules = values['runner-module'] ?? [];
  if (values['list-runners']) {
    await planSweep({ name: 'list', models: [], datasets: [], methods: [], seeds: [] }, runnerModules);
    for (const r of listRunners()) console.log(`${r.method.padEnd(10)} ${r.description}`);
    return 0;
  }
  if (positionals.length === 0) throw usageError('sweep needs a CONFIG file', sweepHelp);
  const count = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw usageError(`--${name} must be a positive integer, got ${v}`, sweepHelp);
    return n;
  };
  const options = {
    csv: values.csv ? resolve(values.csv) : undefined, workers: count('workers', values.workers), threads: count('threads', values.threads),
    maxCells: count('max-cells', values['max-cells']), only: values.only, runnerModules, skipMissingRunners: values['skip-missing'],
  };
  // Every config is read and checked before any cell runs.
  const configs = positionals.map(loadConfig);
  for (const config of configs) await planSweep(config, runnerModules, { skipMissingRunners: values['skip-missing'] });
  let status = 0;
  for (const config of configs) {
    status = await runOne(config, resolve(values.out ?? resolve(repoRoot, 'bench', 'results', `sweep-${config.name}.jsonl`)), values['dry-run'], options);
    if (status !== 0) break;
  }
  return status;
}

async function runOne(config: SweepConfig, out: string, dryRun: boolean | undefined, options: Omit<SweepOptions, 'out' | 'signal'>): Promise<number> {
  if (dryRun) {
    const cells = await planSweep(config, options.runnerModules, { skipMissingRunners: options.skipMissingRunners });
    const done = new Set(readResults(out).results.map((r) => r.key));
    for (const c of cells) console.log(`${done.has(c.key) ? 'done' : 'todo'}  ${c.key}  ${c.label}`);
    console.log(`${config.name}: ${cells.length} cells, ${cells.filter((c) => done.has(c.key)).length} done (${out})`);
    return 0;
  }
  mkdirSync(dirname(out), { recursive: true });
  const controller = new AbortController();
  const onInt = () => {
    process.stderr.write('\nsweep: stopping after the current example (Ctrl-C again to quit at once)\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onInt);
  try {
    const s = await runSweep(config, { ...options, out, signal: controller.signal });
    process.stderr.write(`sweep ${config.name}: ran ${s.ran}, skipped ${s.skipped} already done, ${s.remaining} remaining -> ${out}\n`);
    return s.stopped && controller.signal.aborted ? 130 : 0;
  } finally {
    process.off('SIGINT', onInt);
  }
}
