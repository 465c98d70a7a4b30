/**
 * Sweep configs: the JSON schema (see README.md), its validation (errors name the field), and the
 * expansion into cells. A cell is one (model, dataset, seed, method, budget, precision, params)
 * combination; its key is a hash of exactly those settings, so it is stable across runs,
 * machines and the order of entries in the config.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { KvwireError } from '../../errors.js';
import { repoRoot } from '../../util/data.js';
import { canonicalJson, settingsKey } from './key.js';

export interface ModelRef {
  /** Label in results and reports (default: the folder's last path component). */
  name: string;
  /** The folder as written in the config (resolved at run time, see resolveModelPath). */
  path: string;
  /** Engine weight precision (default fp32). */
  weights?: 'fp32' | 'int8' | 'int4';
  /** A second model that receives the cache (cross-model runners only). */
  receiver?: string;
  /** Skip this model's cells (with a notice) when its folder is missing; not part of cell keys. */
  optional?: boolean;
}

export interface DatasetRef {
  /** A dataset (gsm8k, arc, ruler, niah, wikitext2) or a task of the suite (facts, twohop, arith, needle, instr). */
  name: string;
  n?: number;
  /** Fixes the example seed for every cell; default: the cell's seed. */
  seed?: number;
  maxTokens?: number;
  prompt?: 'auto' | 'chat' | 'plain';
  options?: Record<string, unknown>;
}

export type Budget = number | string | null;
export type Precision = string | Record<string, unknown> | null;

export interface MethodEntry {
  method: string;
  budgets?: Budget[];
  precisions?: Precision[];
  params?: Record<string, unknown>;
  /** Extra axes: each key's list of values is crossed with the others into params. */
  vary?: Record<string, unknown[]>;
}

export interface SweepConfig {
  name: string;
  description?: string;
  models: ModelRef[];
  datasets: DatasetRef[];
  methods: MethodEntry[];
  seeds: number[];
  /** onnxruntime threads per session (default 2; with 2 workers, 1 each). */
  threads?: number;
  /** Parallel workers splitting the cells (default 1). */
  workers?: number;
  /** Where the config file was (relative model paths are tried against it). */
  baseDir?: string;
}

/** The settings that identify a cell (everything its key is computed from). */
export interface CellSettings {
  model: ModelRef;
  dataset: DatasetRef & { seed: number };
  method: string;
  budget: Budget;
  precision: Precision;
  params: Record<string, unknown>;
  seed: number;
}

export interface Cell extends CellSettings {
  key: string;
  label: string;
  /** Position in the expanded grid. */
  index: number;
}

const fail = (path: string, message: string): never => {
  throw new KvwireError('BAD_CONFIG', `${path}: ${message}`, { path });
};

function object(v: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `expected an object, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`${path}.${k}`, `unknown field; allowed: ${allowed.join(', ')}`);
  return o;
}

function list(v: unknown, path: string, nonEmpty = true): unknown[] {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0)) fail(path, `expected a ${nonEmpty ? 'non-empty ' : ''}list`);
  return v as unknown[];
}

function int(v: unknown, path: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(path, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v as number;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || !v) fail(path, `expected a non-empty string, got ${JSON.stringify(v)}`);
  return v as string;
}

function parseModel(v: unknown, path: string): ModelRef {
  if (typeof v === 'string') return { name: defaultName(v), path: v };
  const o = object(v, path, ['name', 'path', 'weights', 'receiver', 'optional']);
  const p = str(o.path, `${path}.path`);
  const ref: ModelRef = { name: o.name === undefined ? defaultName(p) : str(o.name, `${path}.name`), path: p };
  if (o.weights !== undefined) {
    if (!['fp32', 'int8', 'int4'].includes(o.weights as string)) fail(`${path}.weights`, `expected fp32, int8 or int4, got ${JSON.stringify(o.weights)}`);
    ref.weights = o.weights as ModelRef['weights'];
  }
  if (o.receiver !== undefined) ref.receiver = str(o.receiver, `${path}.receiver`);
  if (o.optional !== undefined) {
    if (typeof o.optional !== 'boolean') fail(`${path}.optional`, 'expected true or false');
    ref.optional = o.optional as boolean;
  }
  return ref;
}

const defaultName = (p: string) => p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() || p;

function parseDataset(v: unknown, path: string): DatasetRef {
  if (typeof v === 'string') return { name: v };
  const o = object(v, path, ['name', 'n', 'seed', 'maxTokens', 'prompt', 'options']);
  const d: DatasetRef = { name: str(o.name, `${path}.name`) };
  if (o.n !== undefined) d.n = int(o.n, `${path}.n`, 1);
  if (o.seed !== undefined) d.seed = int(o.seed, `${path}.seed`, 0);
  if (o.maxTokens !== undefined) d.maxTokens = int(o.maxTokens, `${path}.maxTokens`, 1);
  if (o.prompt !== undefined) {
    if (!['auto', 'chat', 'plain'].includes(o.prompt as string)) fail(`${path}.prompt`, `expected auto, chat or plain`);
    d.prompt = o.prompt as DatasetRef['prompt'];
  }
  if (o.options !== undefined) d.options = object(o.options, `${path}.options`, Object.keys(o.options as object));
  return d;
}

function parseMethod(v: unknown, path: string): MethodEntry {
  const o = object(v, path, ['method', 'budgets', 'precisions', 'params', 'vary']);
  const m: MethodEntry = { method: str(o.method, `${path}.method`) };
  if (o.budgets !== undefined) {
    m.budgets = list(o.budgets, `${path}.budgets`).map((b, i) => {
      if (b !== null && typeof b !== 'number' && typeof b !== 'string') fail(`${path}.budgets[${i}]`, 'expected a number, a string or null');
      return b as Budget;
    });
  }
  if (o.precisions !== undefined) {
    m.precisions = list(o.precisions, `${path}.precisions`).map((p, i) => {
      if (p !== null && typeof p !== 'string' && (typeof p !== 'object' || Array.isArray(p))) fail(`${path}.precisions[${i}]`, 'expected a name, an object or null');
      return p as Precision;
    });
  }
  if (o.params !== undefined) m.params = object(o.params, `${path}.params`, Object.keys(o.params as object));
  if (o.vary !== undefined) {
    const vary = object(o.vary, `${path}.vary`, Object.keys(o.vary as object));
    for (const [k, vals] of Object.entries(vary)) list(vals, `${path}.vary.${k}`);
    m.vary = vary as Record<string, unknown[]>;
  }
  return m;
}

/** Validates a parsed JSON config. */
export function parseConfig(raw: unknown, where = 'config'): SweepConfig {
  const o = object(raw, where, ['$schema', 'name', 'description', 'models', 'datasets', 'methods', 'seeds', 'threads', 'workers', 'notes']);
  const config: SweepConfig = {
    name: str(o.name, `${where}.name`),
    models: list(o.models, `${where}.models`).map((m, i) => parseModel(m, `${where}.models[${i}]`)),
    datasets: list(o.datasets, `${where}.datasets`).map((d, i) => parseDataset(d, `${where}.datasets[${i}]`)),
    methods: list(o.methods, `${where}.methods`).map((m, i) => parseMethod(m, `${where}.methods[${i}]`)),
    seeds: o.seeds === undefined ? [0] : list(o.seeds, `${where}.seeds`).map((s, i) => int(s, `${where}.seeds[${i}]`, 0)),
  };
  if (o.description !== undefined) config.description = str(o.description, `${where}.description`);
  if (o.threads !== undefined) config.threads = int(o.threads, `${where}.threads`, 1);
  if (o.workers !== undefined) config.workers = int(o.workers, `${where}.workers`, 1);
  const names = new Map<string, string>();
  for (const m of config.models) {
    if (names.has(m.name) && names.get(m.name) !== m.path) fail(`${where}.models`, `two models are named "${m.name}"; give them distinct names`);
    names.set(m.name, m.path);
  }
  return config;
}

/** Reads and validates a config file. */
export function loadConfig(file: string): SweepConfig {
  if (!existsSync(file)) throw new KvwireError('FILE_NOT_FOUND', `sweep config not found: ${file}`, { path: file });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new KvwireError('BAD_CONFIG', `${file}: not valid JSON (${(cause as Error).message})`, { path: file, cause });
  }
  return { ...parseConfig(raw, file), baseDir: dirname(resolve(file)) };
}

/** A model path resolved: absolute as is; else against the working directory, the config's folder, then the repository. */
export function resolveModelPath(path: string, baseDir?: string): string {
  if (isAbsolute(path)) return path;
  for (const base of [process.cwd(), baseDir, repoRoot]) {
    if (base && existsSync(resolve(base, path))) return resolve(base, path);
  }
  return resolve(path);
}

function crossParams(vary: Record<string, unknown[]> | undefined): Array<Record<string, unknown>> {
  let out: Array<Record<string, unknown>> = [{}];
  for (const [k, values] of Object.entries(vary ?? {})) out = out.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  return out;
}

function short(v: unknown): string {
  return typeof v === 'string' ? v : canonicalJson(v);
}

/** The readable label of a cell (not unique by itself: the key is). */
export function cellLabel(s: CellSettings): string {
  const params = Object.entries(s.params).map(([k, v]) => `${k}=${short(v)}`).join(',');
  const ds = s.dataset.options && Object.keys(s.dataset.options).length ? `${s.dataset.name}${canonicalJson(s.dataset.options)}` : s.dataset.name;
  return [s.model.name, ds, s.method + (params ? `[${params}]` : ''), s.budget === null ? '' : `budget=${short(s.budget)}`,
    s.precision === null ? '' : short(s.precision), `seed=${s.seed}`].filter(Boolean).join(' ');
}

/**
 * Every cell of the grid, in run order: models, then datasets, seeds, method entries, their
 * `vary` combinations, budgets and precisions. Duplicate cells (same key) are kept once.
 */
export function expandCells(config: SweepConfig): Cell[] {
  const cells: Cell[] = [];
  const seen = new Set<string>();
  for (const { optional: _optional, ...model } of config.models) {
    for (const dataset of config.datasets) {
      for (const seed of config.seeds) {
        for (const entry of config.methods) {
          for (const extra of crossParams(entry.vary)) {
            for (const budget of entry.budgets ?? [null]) {
              for (const precision of entry.precisions ?? [null]) {
                const settings: CellSettings = {
                  model, dataset: { ...dataset, seed: dataset.seed ?? seed }, method: entry.method, budget, precision,
                  params: { ...(entry.params ?? {}), ...extra }, seed,
                };
                const key = settingsKey(settings);
                if (seen.has(key)) continue;
                seen.add(key);
                cells.push({ ...settings, key, label: cellLabel(settings), index: cells.length });
              }
            }
          }
        }
      }
    }
  }
  return cells;
}
