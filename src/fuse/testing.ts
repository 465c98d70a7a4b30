/** Test helpers for fuse/ (not part of the public API): fitted fusers on tiny models and fixtures. */
import { join } from 'node:path';
import { Session } from '../engine/index.js';
import { loadModel, type ModelSpec } from '../model/index.js';
import { tinySpec } from '../test-support/tiny-model.js';
import { repoRoot } from '../util/data.js';
import { taskCalibration } from './calib.js';
import { fitLinearFuser, type FitOptions } from './fit.js';

export const fixture = (name: string): ModelSpec => loadModel(join(repoRoot, 'fixtures', name));

/** Sharer: 3 layers, 2 KV heads × 8; receiver: 2 layers, 1 KV head × 16 (different shapes and depths). */
export function tinyPair(): { sharer: ModelSpec; receiver: ModelSpec } {
  return {
    sharer: tinySpec({ layers: 3 }, 11),
    receiver: tinySpec({ layers: 2, kvHeads: 1, heads: 2, headDim: 16, ropeTheta: 50000 }, 12),
  };
}

/** Sessions for a pair and a fuser fitted on `n` task examples (recon gates unless told: no gate search). */
export async function fittedPair(sharer: ModelSpec, receiver: ModelSpec, n = 8, options: FitOptions = {}) {
  const s = await Session.create(sharer, { threads: 1 });
  const r = await Session.create(receiver, { threads: 1 });
  const { fuser, report } = await fitLinearFuser(s, r, taskCalibration(['facts', 'instr'], n), { gate: 'recon', ...options });
  return { sharer: s, receiver: r, fuser, report };
}
