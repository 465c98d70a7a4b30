/** Which model an agent runs: a checkpoint path, or random weights with Qwen2.5-0.5B's shapes for timing. */
import type { SessionOptions } from '../engine/index.js';
import type { CardModel } from '../card/index.js';
import { loadModel, type ModelSpec } from '../model/index.js';
import { QWEN25_05B, randomSpec } from '../bench/engine.js';

export interface HostConfig {
  /** A model folder or .bin, or 'random:qwen2.5-0.5b[:SEED]' (random weights, Qwen2.5-0.5B shapes, for timing). */
  model: string;
  key?: string;
  session?: SessionOptions;
  layerGroup?: number;
  /**
   * A sharer that only serves contexts prefilled elsewhere (`adopt`): no model is loaded, cards
   * are bound to this fingerprint. The benchmark's sharer, which must not hold a second model.
   */
  storeOnly?: CardModel;
}

/** Loads `model` (see HostConfig.model). */
export function loadAgentModel(model: string): ModelSpec {
  const m = /^random:qwen2\.5-0\.5b(?::(\d+))?$/.exec(model);
  if (m) return randomSpec(QWEN25_05B, m[1] ? Number(m[1]) : 7);
  return loadModel(model);
}
