/**
 * Shared benchmark plumbing: time a function (warm-up, then the median of repetitions), print a
 * table, and write bench/results/NAME.json with the machine it ran on. Results are not committed
 * (bench/results/ is ignored): they describe one machine, and anyone can rerun the command.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { repoRoot } from '../util/data.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs for `npm run bench:NAME -- ...`: `--help` lists the options with their defaults
 * (exit 0); an unknown or malformed option says so and lists them (exit 2) instead of a stack trace.
 */
export function benchArgs<O extends Options>(name: string, options: O): ReturnType<typeof parseArgs<{ options: O }>> {
  const usage = () => {
    const lines = Object.entries(options).map(([k, o]) => {
      const flag = `${o.short ? `-${o.short}, ` : ''}--${k}${o.type === 'string' ? ' VALUE' : ''}`;
      return `  ${flag.padEnd(28)}${o.default === undefined ? '' : `default ${String(o.default)}`}`;
    });
    return `usage: npm run bench:${name} -- [options]   (what each means: src/bench/${name}.ts)\n${lines.join('\n')}`;
  };
  try {
    const parsed = parseArgs({ options: { ...options, help: { type: 'boolean' } } });
    if ((parsed.values as Record<string, unknown>).help) {
      console.log(usage());
      process.exit(0);
    }
    return parsed as unknown as ReturnType<typeof parseArgs<{ options: O }>>;
  } catch (e) {
    console.error(`bench:${name}: ${(e as Error).message}\n${usage()}`);
    process.exit(2);
  }
}

export type Cell = string | number | boolean;
export type Row = Record<string, Cell>;

export interface Timing {
  /** Median of the timed repetitions, in milliseconds. */
  medianMs: number;
  minMs: number;
  /** Every timed repetition, in milliseconds, in run order. */
  samplesMs: number[];
}

/** Runs `fn` `warmup` times untimed (so V8 has optimized it), then `reps` times timed. */
export function measure(fn: () => void, { warmup = 2, reps = 7 }: { warmup?: number; reps?: number } = {}): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const samplesMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    samplesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), samplesMs };
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The machine a result came from. */
export function machineInfo(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cpuMHz: cpus[0]?.speed ?? 0,
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** Prints rows as an aligned text table; columns default to the first row's keys. */
export function printTable(rows: Row[], columns: string[] = rows.length ? Object.keys(rows[0]) : []): void {
  const text = (v: Cell | undefined) => v === undefined ? '' : typeof v === 'number' ? formatNumber(v) : String(v);
  const cells = rows.map((r) => columns.map((c) => text(r[c])));
  const widths = columns.map((c, j) => Math.max(c.length, ...cells.map((r) => r[j].length)));
  const line = (vals: string[]) => vals.map((v, j) => (j === 0 ? v.padEnd(widths[j]) : v.padStart(widths[j]))).join('  ');
  console.log(line(columns));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells) console.log(line(r));
}

/** Writes bench/results/NAME.json ({ name, date, machine, ...payload }) and returns its path. */
export function writeResults(name: string, payload: Record<string, unknown>): string {
  const dir = resolve(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = resolve(dir, `${name}.json`);
  const doc = { name, date: new Date().toISOString(), machine: machineInfo(), ...payload };
  writeFileSync(path, JSON.stringify(doc, null, 2) + '\n');
  return path;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}
