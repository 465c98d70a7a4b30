/** Which records of a file a run uses: the first n, or n of a seeded shuffle. */
import { KvwireError } from '../../errors.js';
import { Rng } from '../tasks/rng.js';
import type { LoadOptions } from './types.js';

/** Indices into `total` records per `options` (n, start, shuffle, seed), validated. */
export function pickIndices(total: number, options: LoadOptions, name: string): number[] {
  const start = options.start ?? 0;
  const n = options.n ?? total - start;
  for (const [field, v] of [['n', n], ['start', start]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new KvwireError('BAD_ARGUMENT', `${name}: ${field} must be a non-negative integer, got ${JSON.stringify(v)}`, { path: field });
  }
  if (start + n > total) throw new KvwireError('BAD_ARGUMENT', `${name}: asked for examples ${start}..${start + n - 1}, but the file has ${total}`, { path: 'n' });
  const order = Array.from({ length: total }, (_, i) => i);
  if (options.shuffle) {
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0) throw new KvwireError('BAD_ARGUMENT', `${name}: seed must be a non-negative integer`, { path: 'seed' });
    const rng = new Rng(seed);
    for (let i = total - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  return order.slice(start, start + n);
}

/**
 * Splits text into sentences after ".", "!" or "?" followed by white space (good enough to place
 * a needle or a question boundary; "Mr. Smith" may split, which only moves a boundary).
 */
export function sentences(text: string): string[] {
  return text.split(/(?<=[.!?]["')\]]?)\s+/).filter((s) => s.length > 0);
}
