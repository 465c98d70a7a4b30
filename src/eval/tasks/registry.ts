/** The task families by name, as the CLI and the evaluation code look them up. */
import { KvwireError } from '../../errors.js';
import { arith } from './arith.js';
import { facts } from './facts.js';
import { instr } from './instr.js';
import { needle } from './needle.js';
import { twohop } from './twohop.js';
import type { Task, TaskName } from './types.js';

export const tasks = { facts, twohop, arith, needle, instr } satisfies Record<TaskName, Task<never>>;

export const TASK_NAMES = Object.keys(tasks) as TaskName[];

/** The task called `name`; BAD_ARGUMENT listing the known names otherwise. */
export function getTask(name: string): Task {
  if (!Object.hasOwn(tasks, name)) {
    throw new KvwireError('BAD_ARGUMENT', `unknown task ${JSON.stringify(name)}; known tasks: ${TASK_NAMES.join(', ')}`, { path: 'task' });
  }
  return tasks[name as TaskName] as Task;
}
