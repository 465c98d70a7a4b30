/**
 * A sweep worker thread: imports the runners, then runs the cells the main thread sends, one at
 * a time, posting progress and results back. Messages:
 *   in:  { type: 'cell', cell }              out: { type: 'item', done, total } ... { type: 'result', result }
 *                                                 or { type: 'error', code?, message }
 *   in:  { type: 'stop' }                    (releases its sessions and exits)
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { KvwireError } from '../../errors.js';
import './runners/index.js';
import type { Cell } from './config.js';
import { CellExecutor, type ExecutorOptions } from './execute.js';

const data = workerData as ExecutorOptions & { runnerModules: string[] };
const port = parentPort!;
for (const m of data.runnerModules) await import(pathToFileURL(m).href);
const executor = new CellExecutor(data);

port.on('message', async (msg: { type: 'cell'; cell: Cell } | { type: 'stop' }) => {
  if (msg.type === 'stop') {
    await executor.dispose();
    port.close();
    return;
  }
  try {
    const result = await executor.run(msg.cell, { onItem: (done, total) => port.postMessage({ type: 'item', done, total }) });
    port.postMessage({ type: 'result', result });
  } catch (e) {
    port.postMessage({ type: 'error', code: e instanceof KvwireError ? e.code : undefined, message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack });
  }
});
port.postMessage({ type: 'ready' });
