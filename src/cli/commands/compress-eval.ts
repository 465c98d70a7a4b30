/**
 * kvwire compress-eval --model PATH (--tasks a,b | --text) [-n N]: accuracy / KL versus exact
 * bytes for every quantizer, selector and planner (src/eval/compress-eval.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Session } from '../../engine/index.js';
import { DEFAULT_RATIOS, DEFAULT_RD_FRACTIONS, DEFAULT_SELECTORS, compressEval, type CompressEvalResult } from '../../eval/compress-eval.js';
import { taskItems, textItems, type EvalItem } from '../../eval/compress-eval-items.js';
import { markdownClaims, markdownTable, summarize } from '../../eval/compress-eval-report.js';
import { TASK_NAMES, type TaskName } from '../../eval/tasks/index.js';
import { loadModel } from '../../model/index.js';
import { KEEP_ACTIONS, type KeepAction } from '../../plan/index.js';
import { SELECTOR_NAMES, type SelectorName } from '../../select/index.js';
import { usageError } from '../errors.js';

export const compressEvalHelp = `kvwire compress-eval --model PATH (--tasks NAME[,NAME] | --text) [options]

For each item: prefill the context, compress its cache with every method (FP16, INT8, grouped
INT4, INT2 KIVI, NF4; INT4/NF4/INT2 with a diagnosed bottleneck layer in FP16; every selector at
each keep ratio; rate-distortion plans), pack it, unpack it, append the question at the original
positions and compare with the full cache. Prints a markdown table per task (bytes, x vs FP16,
accuracy with Wilson 95% CI, mean next-token KL with bootstrap 95% CI, top-1 agreement, greedy
match length) and the seeds' claims as paired comparisons.

  --tasks LIST          comma-separated: ${TASK_NAMES.join(', ')}
  --text                text continuation instead (KL/top-1 over ${'`'}--probe${'`'} tokens after a passage)
  -n N                  items per task (default 100)
  --seed S              test-set seed (default 0)
  --ratios LIST         keep ratios (default ${DEFAULT_RATIOS.join(',')})
  --selectors LIST      default ${DEFAULT_SELECTORS.join(',')} (any of ${SELECTOR_NAMES.filter((s) => !s.includes('proj')).join(', ')})
  --selector-precision  ${KEEP_ACTIONS.join(' | ')} for kept tokens (default fp16)
  --sinks N             always keep the first N tokens (default 1: BOS)
  --recent N            always keep the last N tokens (default 0)
  --rd LIST             RD budgets as fractions of FP16 (default ${DEFAULT_RD_FRACTIONS.map((f) => `1/${1 / f}`).join(',')}; 'none' to skip)
  --diagnose N          calibration items (train split) for the bottleneck diagnosis (default 8; 0: skip)
  --protect K           bottleneck layers kept in FP16 (default 1)
  --length L            needle: prompt length in tokens
  --context T --probe P text: context and probe tokens (default 192, 32)
  --max-tokens N        greedy continuation length (default 12 for tasks, 16 for text)
  --threads N           onnxruntime threads (default 2)
  --json                print every row and per-item outcome as JSON
  --json-out FILE       also write that JSON to FILE (the markdown still goes to stdout)
  --from-json FILE      print the tables of a saved --json-out FILE again (no model run)`;

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

function fraction(s: string): number {
  const [a, b] = s.split('/');
  return b === undefined ? Number(a) : Number(a) / Number(b);
}

export async function compressEvalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, tasks: { type: 'string' }, text: { type: 'boolean', default: false },
    n: { type: 'string', short: 'n', default: '100' }, seed: { type: 'string', default: '0' },
    ratios: { type: 'string' }, selectors: { type: 'string' }, 'selector-precision': { type: 'string', default: 'fp16' },
    sinks: { type: 'string', default: '1' }, recent: { type: 'string', default: '0' }, rd: { type: 'string' },
    diagnose: { type: 'string', default: '8' }, protect: { type: 'string', default: '1' }, length: { type: 'string' },
    context: { type: 'string', default: '192' }, probe: { type: 'string', default: '32' }, 'max-tokens': { type: 'string' },
    threads: { type: 'string', default: '2' }, json: { type: 'boolean', default: false }, 'json-out': { type: 'string' },
    'from-json': { type: 'string' },
  } });
  if (values['from-json']) {
    const saved = JSON.parse(readFileSync(values['from-json'], 'utf8')) as { model: string; runs: RunOutput[] };
    printRuns(saved.model, saved.runs.map((r) => ({ ...r, rows: summarize(r.result) })));
    return 0;
  }
  if (!values.model) throw usageError('compress-eval needs --model PATH (or --from-json FILE)', compressEvalHelp);
  const tasks = list(values.tasks) ?? [];
  if (!values.text && tasks.length === 0) throw usageError('compress-eval needs --tasks LIST or --text', compressEvalHelp);
  for (const t of tasks) if (!TASK_NAMES.includes(t as TaskName)) throw usageError(`unknown task "${t}"; one of ${TASK_NAMES.join(', ')}`, compressEvalHelp);
  const int = (name: string, v: string, min = 0) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw usageError(`--${name} must be an integer >= ${min}, got ${v}`, compressEvalHelp);
    return x;
  };
  const n = int('n', values.n, 1);
  const ratios = list(values.ratios)?.map(Number) ?? DEFAULT_RATIOS;
  if (ratios.some((p) => !(p > 0 && p <= 1))) throw usageError(`--ratios must be numbers in (0, 1], got ${values.ratios}`, compressEvalHelp);
  const selectors = (list(values.selectors) ?? DEFAULT_SELECTORS) as SelectorName[];
  for (const s of selectors) if (!SELECTOR_NAMES.includes(s)) throw usageError(`unknown selector "${s}"`, compressEvalHelp);
  const precision = values['selector-precision'] as KeepAction;
  if (!KEEP_ACTIONS.includes(precision)) throw usageError(`--selector-precision must be one of ${KEEP_ACTIONS.join(', ')}`, compressEvalHelp);
  const rdFractions = values.rd === 'none' ? [] : list(values.rd)?.map(fraction) ?? DEFAULT_RD_FRACTIONS;
  if (rdFractions.some((f) => !(f > 0))) throw usageError(`--rd must be positive fractions, got ${values.rd}`, compressEvalHelp);

  const spec = loadModel(values.model);
  const tok = spec.tokenizer;
  const session = await Session.create(spec, { threads: int('threads', values.threads, 1) });
  const seed = int('seed', values.seed);
  const diagnoseN = int('diagnose', values.diagnose);
  const taskOptions = values.length ? { length: int('length', values.length, 1) } : {};
  const runs: Array<{ name: string; items: EvalItem[]; calibration: EvalItem[]; text: boolean }> = [];
  if (values.text) {
    const opts = { contextTokens: int('context', values.context, 1), probeTokens: int('probe', values.probe, 1) };
    runs.push({ name: 'text', items: textItems(n, tok, { ...opts, seed }), calibration: diagnoseN ? textItems(diagnoseN, tok, { ...opts, seed: seed + 1000 }) : [], text: true });
  }
  for (const t of tasks as TaskName[]) {
    runs.push({ name: t, items: taskItems(t, n, tok, seed, taskOptions), calibration: diagnoseN ? taskItems(t, diagnoseN, tok, 1, taskOptions, 'train') : [], text: false });
  }
  const out: RunOutput[] = [];
  try {
    for (const r of runs) {
      const t0 = performance.now();
      const result = await compressEval(session, r.items, {
        ratios, selectors, selectorPrecision: precision, sinks: int('sinks', values.sinks), recent: int('recent', values.recent),
        diagnosisItems: r.calibration, protect: int('protect', values.protect), rdFractions,
        maxTokens: values['max-tokens'] ? int('max-tokens', values['max-tokens']) : r.text ? 16 : 12,
        allRows: r.text, untilNewline: !r.text,
        onItem: (done, total) => process.stderr.write(`\r${r.name}: ${done}/${total} items`),
      });
      process.stderr.write('\n');
      out.push({ task: r.name, seconds: (performance.now() - t0) / 1000, result, rows: summarize(result) });
    }
  } finally {
    await session.dispose();
  }
  const json = JSON.stringify({ model: spec.source, argv, runs: out });
  if (values['json-out']) writeFileSync(values['json-out'], json + '\n');
  if (values.json) {
    console.log(json);
    return 0;
  }
  printRuns(spec.source, out);
  return 0;
}

interface RunOutput {
  task: string;
  seconds: number;
  result: CompressEvalResult;
  rows: ReturnType<typeof summarize>;
}

function printRuns(source: string, out: RunOutput[]): void {
  for (const { task, seconds, result, rows } of out) {
    console.log(`\n## ${task} on ${source}: n = ${result.items}, mean context ${result.meanContextTokens.toFixed(0)} tokens, ` +
      `${seconds.toFixed(0)} s${result.tokenSplitMismatches ? `, ${result.tokenSplitMismatches} items tokenize differently when split` : ''}\n`);
    for (const [coding, d] of Object.entries(result.diagnosis)) {
      console.log(`Bottleneck diagnosis (${coding.replace('/loo', ', leave-one-out: KL saved')}, next-token KL per layer): ${d.kl.map((x, l) => `L${l} ${x.toFixed(4)}`).join(', ')} -> protect ${d.bottlenecks.join(', ')}\n`);
    }
    console.log(markdownTable(result, rows));
    console.log(`\n${markdownClaims(result)}`);
  }
}
