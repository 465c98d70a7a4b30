/**
 * Progress on stderr: on a terminal, one line redrawn in place (a bar, cells done, what each
 * worker is on, an ETA); otherwise one line per finished cell, so logs stay readable.
 */
import type { Cell } from './config.js';
import type { CellResult } from './results.js';

export interface ProgressSink {
  start(total: number, skipped: number, workers: number): void;
  cellStart(worker: number, cell: Cell): void;
  item(worker: number, done: number, total: number): void;
  cellDone(worker: number, result: CellResult): void;
  end(): void;
}

export const silentProgress: ProgressSink = { start() {}, cellStart() {}, item() {}, cellDone() {}, end() {} };

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function metricText(r: CellResult): string {
  const s = r.summary as { accuracy?: number; bitsPerByte?: number; ppl?: number };
  return r.metric === 'accuracy' ? `acc ${(100 * s.accuracy!).toFixed(1)}%` : `ppl ${s.ppl!.toFixed(2)} (${s.bitsPerByte!.toFixed(3)} bits/byte)`;
}

export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  const tty = stream.isTTY === true;
  let total = 0;
  let skipped = 0;
  let done = 0;
  let t0 = 0;
  const on = new Map<number, { label: string; done: number; total: number }>();
  const draw = () => {
    if (!tty) return;
    const todo = total - skipped;
    const width = 20;
    const filled = todo ? Math.round((width * done) / todo) : width;
    const elapsed = performance.now() - t0;
    const eta = done ? duration((elapsed / done) * (todo - done)) : '?';
    const work = [...on.entries()].map(([w, c]) => `w${w} ${c.label.slice(0, 48)} ${c.done}/${c.total}`).join(' | ');
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${todo} cells${skipped ? ` (+${skipped} done before)` : ''} ETA ${eta} ${work}`;
    stream.write(`\r\x1b[K${line.slice(0, (stream.columns || 160) - 1)}`);
  };
  return {
    start(t, s) {
      [total, skipped, done, t0] = [t, s, 0, performance.now()];
      if (!tty) stream.write(`sweep: ${t} cells, ${s} already in the results, ${t - s} to run\n`);
      draw();
    },
    cellStart(w, cell) {
      on.set(w, { label: cell.label, done: 0, total: 0 });
      draw();
    },
    item(w, d, n) {
      const c = on.get(w);
      if (c) [c.done, c.total] = [d, n];
      draw();
    },
    cellDone(w, r) {
      done++;
      on.delete(w);
      if (tty) stream.write('\r\x1b[K');
      stream.write(`cell ${done}/${total - skipped}: ${r.label}: ${metricText(r)}, ${Math.round(r.bytes.mean.total)} B, ${duration(r.run.wallMs)}\n`);
      draw();
    },
    end() {
      if (tty) stream.write('\r\x1b[K');
    },
  };
}
