/**
 * Layer pairing: which sharer layer feeds each receiver layer.
 *
 *   last   last-aligned (C2C's "terminal alignment"): the last layers correspond, receiver layer
 *          l takes sharer layer l + (Ls − Lr); when the receiver is deeper, its first Lr − Ls
 *          layers take sharer layer 0 (clamped) so every receiver layer gets projected K/V —
 *          the question-only protocol has no receiver cache to leave in place
 *   depth  by normalised depth: sharer round(l · (Ls − 1) / (Lr − 1)) (Lr = 1: the last layer)
 *
 * Sharer layers no receiver layer uses are not transmitted (`usedSharerLayers`).
 */
import { ensure } from '../errors.js';

export const LAYER_PAIRINGS = ['last', 'depth'] as const;
export type LayerPairing = (typeof LAYER_PAIRINGS)[number];

/** receiver layer -> sharer layer, for every receiver layer. */
export function pairLayers(sharerLayers: number, receiverLayers: number, mode: LayerPairing): Int32Array {
  ensure(Number.isInteger(sharerLayers) && sharerLayers > 0 && Number.isInteger(receiverLayers) && receiverLayers > 0, 'BAD_ARGUMENT',
    `layer counts must be positive integers, got sharer ${sharerLayers} and receiver ${receiverLayers}`);
  ensure((LAYER_PAIRINGS as readonly string[]).includes(mode), 'BAD_ARGUMENT', `layer pairing must be one of ${LAYER_PAIRINGS.join(', ')}, got ${JSON.stringify(mode)}`);
  const out = new Int32Array(receiverLayers);
  for (let l = 0; l < receiverLayers; l++) {
    out[l] = mode === 'last'
      ? Math.max(0, l + sharerLayers - receiverLayers)
      : receiverLayers === 1 ? sharerLayers - 1 : Math.round((l * (sharerLayers - 1)) / (receiverLayers - 1));
  }
  return out;
}

/** The sharer layers a pairing reads, increasing (what the sharer transmits). */
export function usedSharerLayers(pairing: Int32Array): number[] {
  return [...new Set(pairing)].sort((a, b) => a - b);
}
