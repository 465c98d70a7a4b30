/**
 * Ready-made precision plans for cards: the quantizers a sharer picks by name. The integer
 * presets follow KIVI (Liu et al. 2024): keys asymmetric per channel (their outliers live in fixed
 * channels) in blocks of tokens, values asymmetric per token. The optional fp16 recent window is
 * a second precision class holding the last R tokens.
 */
import { KvwireError } from '../errors.js';
import type { QuantSpec } from '../quant/index.js';
import type { CardPrecision } from './types.js';

export const PRESETS = ['fp32', 'fp16', 'int8', 'int4', 'int2', 'nf4'] as const;
export type PresetName = (typeof PRESETS)[number];

/** Keys and values spec of a preset (token blocks of keys' channel scales: 128 / 64 / 32 tokens at 8 / 4 / 2 bits). */
export function presetSpecs(name: PresetName): { keys: QuantSpec; values: QuantSpec } {
  switch (name) {
    case 'fp32': return { keys: { format: 'fp32' }, values: { format: 'fp32' } };
    case 'fp16': return { keys: { format: 'fp16' }, values: { format: 'fp16' } };
    case 'int8': return { keys: { format: 'int8', scheme: 'asym', axis: 'channel', group: 128 }, values: { format: 'int8', scheme: 'asym', axis: 'token' } };
    case 'int4': return { keys: { format: 'int4', scheme: 'asym', axis: 'channel', group: 64 }, values: { format: 'int4', scheme: 'asym', axis: 'token' } };
    case 'int2': return { keys: { format: 'int2', scheme: 'asym', axis: 'channel', group: 32 }, values: { format: 'int2', scheme: 'asym', axis: 'token' } };
    case 'nf4': return { keys: { format: 'nf4', scheme: 'sym', axis: 'token' }, values: { format: 'nf4', scheme: 'sym', axis: 'token' } };
    default: throw new KvwireError('BAD_ARGUMENT', `unknown card precision "${name as string}"; expected one of ${PRESETS.join(', ')}`);
  }
}

/**
 * A uniform plan for `tokenCount` tokens: every token coded by `preset`, except the last
 * `recentWindow` tokens, which are kept in fp16 (KIVI's residual) as class 1.
 */
export function presetPrecision(preset: PresetName | { keys: QuantSpec; values: QuantSpec }, tokenCount: number, recentWindow = 0): CardPrecision {
  const body = typeof preset === 'string' ? presetSpecs(preset) : preset;
  const R = Math.min(Math.max(0, Math.floor(recentWindow)), tokenCount);
  if (R === 0) return { classes: [body] };
  const tokenClass = new Uint8Array(tokenCount);
  tokenClass.fill(1, tokenCount - R);
  return { classes: [body, { keys: { format: 'fp16' }, values: { format: 'fp16' } }], tokenClass };
}

export function isPreset(name: string): name is PresetName {
  return (PRESETS as readonly string[]).includes(name);
}
