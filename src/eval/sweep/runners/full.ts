/**
 * 'full': the receiver gets the sharer's whole context cache, unchanged (float32 in process).
 * Bytes are what a full FP16 transfer carries: 2 (K and V) · layers · kvHeads · T · headDim · 2
 * bytes of payload, no scales or indices (seed 001's accounting at b = 16; container metadata is
 * the card's and is counted by the handoff runner). The accuracy is the no-compression baseline.
 */
import { KvwireError } from '../../../errors.js';
import type { CellRunner } from '../runner.js';
import { payloadOnly } from '../runner.js';
import { runHandoff } from './handoff-path.js';

export const fullRunner: CellRunner = {
  method: 'full',
  description: 'the whole context cache, as is (baseline); bytes counted as FP16',
  validate(cell) {
    if (cell.budget !== null) throw new KvwireError('BAD_CONFIG', `method full takes no budget, got ${JSON.stringify(cell.budget)}`, { path: 'budgets' });
    if (cell.precision !== null && cell.precision !== 'fp16') {
      throw new KvwireError('BAD_CONFIG', `method full is the FP16 baseline; precision must be absent or "fp16", got ${JSON.stringify(cell.precision)} (use method quant)`, { path: 'precisions' });
    }
    if (Object.keys(cell.params).length) throw new KvwireError('BAD_CONFIG', `method full takes no params, got ${Object.keys(cell.params).join(', ')}`, { path: 'params' });
  },
  runItem: (ctx, item) => runHandoff(ctx, item, (prefilled) => ({ cache: prefilled.cache, bytes: payloadOnly(prefilled.cache.payloadBytes(16)), ms: {} })),
};
