/**
 * sweep/: `kvwire sweep CONFIG`: grids of models × datasets × methods × budgets × precisions ×
 * seeds, run through pluggable CellRunners, resumable, written as JSONL (and CSV). See README.md.
 */

// Configs and cells
export {
  parseConfig, loadConfig, expandCells, cellLabel, resolveModelPath,
  type SweepConfig, type ModelRef, type DatasetRef, type MethodEntry, type Budget, type Precision, type CellSettings, type Cell,
} from './config.js';
export { canonicalJson, settingsKey } from './key.js';

// Runners: the interface, the registry, the built-ins and the shared handoff path
export { registerRunner, getRunner, listRunners, payloadOnly, type CellRunner, type RunnerContext, type ItemOutcome, type ByteAccount } from './runner.js';
export { fullRunner, quantRunner, PRESETS, quantOptions, runHandoff, since, type Handed, type Transform } from './runners/index.js';

// Running
export { runSweep, planSweep, type SweepOptions, type SweepSummary } from './run.js';
export { CellExecutor, AbortedError, type ExecutorOptions } from './execute.js';
export { stderrProgress, silentProgress, metricText, type ProgressSink } from './progress.js';

// Results files
export {
  readResults, appendResult, resultsCsv, writeCsv, buildResult, RESULT_VERSION,
  type CellResult, type ExampleRecord, type AccuracySummary, type PerplexitySummary,
} from './results.js';
