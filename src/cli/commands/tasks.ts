/**
 * `kvwire tasks`: list the task families, or export generated examples as JSON Lines for training
 * and evaluation. Each line is an Example plus `prompt` (up to and including "Answer:") and
 * `target` (the gold continuation with its leading space). The file appears whole or not at all:
 * it is written to a temporary file beside the target and renamed into place.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KvwireError } from '../../errors.js';
import { corpusCatalog } from '../../eval/tasks/corpus.js';
import { toRecord } from '../../eval/tasks/format.js';
import type { CountTokens } from '../../eval/tasks/needle.js';
import { getTask, tasks, TASK_NAMES } from '../../eval/tasks/registry.js';
import { DEFAULT_SEEDS, type Example, type Split, type TaskName } from '../../eval/tasks/types.js';

export const TASKS_USAGE = `usage:
  kvwire tasks list
  kvwire tasks books
  kvwire tasks export --task NAME|all --split train|test -n N [--seed S] --out FILE.jsonl
                      [--length L[,L...]] [--tokenizer tokenizer.json]   (needle)
                      [--facts N]                                        (facts, twohop, instr)
                      [--worked]                                         (arith)
                      [--mc] [--chain capital|friend|employer]           (twohop)
                      [--form letter|value|open]                         (facts; value, open: training variants)
                      [--placement front|back] [--kind instruction|fact] (instr)

  list     the task families, one line each
  books    the haystack books of the needle task and the split each belongs to
  export   write N examples per task as JSON Lines: the example fields plus "prompt" and "target".
           --task all exports every task (N each), applying each option where it fits.
           --seed defaults to 1 for train and 0 for test (the documented default seeds).
           --length takes needle prompt lengths in tokens (default 1024); a list is cycled.
           --tokenizer counts tokens with a Hugging Face tokenizer.json (default: chars / 4).`;

export interface TasksIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: TasksIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

/** Runs `kvwire tasks ...` (argv after "tasks"); returns the exit code: 0 ok, 1 failed, 2 usage error. */
export async function tasksCommand(argv: string[], io: TasksIo = processIo): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout(TASKS_USAGE + '\n');
      return sub === undefined ? 2 : 0;
    }
    if (sub === 'list') return list(rest, io);
    if (sub === 'books') return books(rest, io);
    if (sub === 'export') return await exportTasks(rest, io);
    throw new KvwireError('BAD_ARGUMENT', `unknown subcommand ${JSON.stringify(sub)}; expected list, books or export`);
  } catch (err) {
    if (err instanceof KvwireError) {
      io.stderr(`kvwire tasks: ${err.code}: ${err.message}\n`);
      if (err.code === 'BAD_ARGUMENT') io.stderr(`\n${TASKS_USAGE}\n`);
      return err.code === 'BAD_ARGUMENT' ? 2 : 1;
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`kvwire tasks: ${err.message}\n\n${TASKS_USAGE}\n`);
      return 2;
    }
    throw err;
  }
}

function noArgs(rest: string[], sub: string): void {
  if (rest.length > 0) throw new KvwireError('BAD_ARGUMENT', `${sub} takes no arguments, got ${rest.join(' ')}`);
}

function list(rest: string[], io: TasksIo): number {
  noArgs(rest, 'list');
  const width = Math.max(...TASK_NAMES.map((n) => n.length));
  for (const name of TASK_NAMES) io.stdout(`${name.padEnd(width)}  ${tasks[name].description}\n`);
  return 0;
}

function books(rest: string[], io: TasksIo): number {
  noArgs(rest, 'books');
  for (const b of corpusCatalog()) io.stdout(`${b.split}\t${basename(b.path)}\t${b.title}\n`);
  return 0;
}

function intArg(name: string, value: string | undefined, min: number): number {
  if (value === undefined) throw new KvwireError('BAD_ARGUMENT', `--${name} is required`, { path: name });
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new KvwireError('BAD_ARGUMENT', `--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`, { path: name });
  }
  return n;
}

/** Which task takes which CLI option. */
const OPTION_TASKS: Record<string, readonly TaskName[]> = {
  length: ['needle'], tokenizer: ['needle'], facts: ['facts', 'twohop', 'instr'], worked: ['arith'], mc: ['twohop'], chain: ['twohop'], form: ['facts'],
  placement: ['instr'], kind: ['instr'],
};

async function exportTasks(rest: string[], io: TasksIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      task: { type: 'string' }, split: { type: 'string' }, n: { type: 'string', short: 'n' }, seed: { type: 'string' },
      out: { type: 'string', short: 'o' }, length: { type: 'string' }, tokenizer: { type: 'string' }, facts: { type: 'string' },
      worked: { type: 'boolean' }, mc: { type: 'boolean' }, chain: { type: 'string' }, form: { type: 'string' }, placement: { type: 'string' }, kind: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new KvwireError('BAD_ARGUMENT', `unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values.task === undefined) throw new KvwireError('BAD_ARGUMENT', '--task is required (a task name or all)', { path: 'task' });
  const names = values.task === 'all' ? TASK_NAMES : [getTask(values.task).name];
  if (values.split !== 'train' && values.split !== 'test') {
    throw new KvwireError('BAD_ARGUMENT', `--split must be train or test, got ${JSON.stringify(values.split)}`, { path: 'split' });
  }
  const split: Split = values.split;
  const n = intArg('n', values.n, 0);
  const seed = values.seed === undefined ? DEFAULT_SEEDS[split] : intArg('seed', values.seed, 0);
  if (values.out === undefined) throw new KvwireError('BAD_ARGUMENT', '--out FILE.jsonl is required', { path: 'out' });
  for (const [opt, takers] of Object.entries(OPTION_TASKS)) {
    if ((values as Record<string, unknown>)[opt] !== undefined && !names.some((t) => takers.includes(t))) {
      throw new KvwireError('BAD_ARGUMENT', `--${opt} applies to ${takers.join(', ')}, not ${names.join(', ')}`, { path: opt });
    }
  }
  const options: Record<TaskName, Record<string, unknown>> = { facts: {}, twohop: {}, arith: {}, needle: {}, instr: {} };
  if (values.length !== undefined) options.needle.length = values.length.split(',').map((l) => intArg('length', l, 1));
  if (values.tokenizer !== undefined) options.needle.countTokens = await loadTokenCounter(values.tokenizer);
  if (values.facts !== undefined) for (const t of ['facts', 'twohop', 'instr'] as const) options[t].numFacts = intArg('facts', values.facts, 1);
  if (values.worked) options.arith.worked = true;
  if (values.mc) options.twohop.multipleChoice = true;
  if (values.chain !== undefined) options.twohop.chain = values.chain; // one chain kind only (the generator checks the name)
  if (values.form !== undefined) options.facts.form = values.form;
  if (values.placement !== undefined) options.instr.placement = values.placement;
  if (values.kind !== undefined) options.instr.kind = values.kind;

  const out = resolve(values.out);
  const counts: string[] = [];
  writeAtomically(out, (write) => {
    for (const name of names) {
      const generate = tasks[name].generate as (o: object) => Example[];
      const chunk = name === 'needle' ? 64 : 1024;
      for (let start = 0; start < n; start += chunk) {
        const batch = generate({ split, seed, n: Math.min(chunk, n - start), start, ...options[name] });
        write(batch.map((e) => JSON.stringify(toRecord(e)) + '\n').join(''));
      }
      counts.push(`${n} ${name}`);
    }
  });
  io.stdout(`wrote ${counts.join(', ')} (${split}, seed ${seed}) to ${out}\n`);
  return 0;
}

/** Writes through `fill` into a temporary file beside `path`, then renames it over `path`. */
function writeAtomically(path: string, fill: (write: (text: string) => void) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  let closed = false;
  try {
    fill((text) => void writeSync(fd, text));
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
  } catch (err) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A token counter from a Hugging Face tokenizer.json (tokenizer_config.json beside it is used if present). */
async function loadTokenCounter(path: string): Promise<CountTokens> {
  const file = resolve(path);
  if (!existsSync(file)) throw new KvwireError('FILE_NOT_FOUND', `tokenizer file ${file} does not exist (expected a tokenizer.json)`, { path: file });
  const readJson = (p: string): object => {
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as object;
    } catch (cause) {
      throw new KvwireError('BAD_FORMAT', `${p} is not valid JSON`, { path: p, cause });
    }
  };
  const configPath = join(dirname(file), 'tokenizer_config.json');
  const { Tokenizer } = await import('@huggingface/tokenizers');
  let tokenizer: InstanceType<typeof Tokenizer>;
  try {
    tokenizer = new Tokenizer(readJson(file), existsSync(configPath) ? readJson(configPath) : {});
  } catch (cause) {
    if (cause instanceof KvwireError) throw cause;
    throw new KvwireError('BAD_FORMAT', `${file} is not a tokenizer.json that @huggingface/tokenizers can load: ${String(cause)}`, { path: file, cause });
  }
  return (text) => tokenizer.encode(text, { add_special_tokens: false }).ids.length;
}
