/** kvwire eval --model PATH --task NAME -n N: full-cache task accuracy with a 95% interval. */
import { parseArgs } from 'node:util';
import { Session } from '../../engine/index.js';
import { runTask } from '../../eval/run-task.js';
import { TASK_NAMES, type TaskName } from '../../eval/tasks/index.js';
import { loadModel } from '../../model/index.js';
import { usageError } from '../errors.js';

export const evalHelp = `kvwire eval --model PATH --task NAME [-n N] [options]

  --task NAME       one of ${TASK_NAMES.join(', ')}
  -n N              test examples (default 100)
  --seed S          test-set seed (default 0)
  --length L        needle: prompt length in tokens (default 1024)
  --threads N       onnxruntime threads (default 2)
  --json            print the result (with every example's output) as JSON`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, task: { type: 'string' }, n: { type: 'string', short: 'n', default: '100' },
    seed: { type: 'string', default: '0' }, length: { type: 'string' }, threads: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  } });
  if (!values.model) throw usageError('eval needs --model PATH', evalHelp);
  if (!values.task || !TASK_NAMES.includes(values.task as TaskName)) throw usageError(`eval needs --task, one of ${TASK_NAMES.join(', ')}`, evalHelp);
  const n = Number(values.n);
  if (!Number.isInteger(n) || n <= 0) throw usageError(`-n must be a positive integer, got ${values.n}`, evalHelp);
  const spec = loadModel(values.model);
  const session = await Session.create(spec, { threads: Number(values.threads) });
  const t0 = performance.now();
  const result = await runTask(session, {
    task: values.task as TaskName, n, seed: Number(values.seed),
    taskOptions: values.length ? { length: Number(values.length) } : {},
    onExample: values.json ? undefined : (done, correct) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${values.task}: ${done}/${n}, ${correct} correct`);
    },
  });
  await session.dispose();
  if (process.stderr.isTTY && !values.json) process.stderr.write('\n');
  const seconds = (performance.now() - t0) / 1000;
  if (values.json) {
    console.log(JSON.stringify({ model: spec.source, seconds, ...result }, null, 2));
    return 0;
  }
  const pct = (x: number) => (100 * x).toFixed(1);
  console.log(`${values.task}${values.length ? `@${values.length}` : ''} on ${spec.source}: ` +
    `accuracy ${pct(result.accuracy)}% (${result.correct}/${result.n}), 95% CI [${pct(result.ci95.low)}, ${pct(result.ci95.high)}], ` +
    `mean prompt ${result.meanPromptTokens.toFixed(0)} tokens, ${seconds.toFixed(1)} s`);
  return 0;
}
