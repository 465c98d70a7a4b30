/**
 * What a card carries besides its bytes: the model it is bound to, its precision plan, the
 * receiver's limits, and what decoding returns.
 */
import { KvwireError } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import { validateSpec, type QuantSpec } from '../quant/index.js';
import type { FusionSection } from './fusion.js';
import { DROPPED, type CardPrecisionTable } from './layout.js';

/** The sharer model a card is bound to: a ModelFingerprint's fields. */
export interface CardModel {
  id: string;
  family: string;
  shape: string;
  weightsDigest: string;
  tokenizerDigest: string;
}

/**
 * Which quantizer codes which tokens. Tokens fall into classes (`tokenClass`, default all 0);
 * class c codes layer l's keys with `classes[c].keys` (one spec, or one per layer) and its values
 * with `classes[c].values`. One class is uniform precision; KIVI's fp16 recent window is a second
 * class; a token-level mixed-precision plan (int2/int4/int8/fp16 per token) is one class per level.
 */
export interface CardPrecision {
  classes: Array<{ keys: QuantSpec | QuantSpec[]; values: QuantSpec | QuantSpec[] }>;
  /** Class of each token (N), or per layer (L arrays of N) when layers differ. */
  tokenClass?: Uint8Array | Uint8Array[];
  /**
   * Per-head selections: per layer, (kvHeads, N) head-major, the class of each token in each KV
   * head, or DROPPED (255) where that head does not keep it (it is not sent; the receiver masks
   * it). Replaces `tokenClass`.
   */
  headClass?: Uint8Array[];
}

/** Caps a receiver applies before allocating anything (defaults in DEFAULT_LIMITS). */
export interface CardLimits {
  /** Whole card, bytes. */
  maxCardBytes: number;
  /** Float32 K and V the card decodes to, bytes. */
  maxDecodedBytes: number;
  /** Any one section body, bytes. */
  maxSectionBytes: number;
  maxSections: number;
  maxLayers: number;
  maxKvHeads: number;
  maxHeadDim: number;
  maxTokens: number;
  /** META (JSON) and MODEL bodies, bytes. */
  maxMetaBytes: number;
  maxHeaderBytes: number;
}

export const DEFAULT_LIMITS: Readonly<CardLimits> = {
  maxCardBytes: 1 << 30,
  maxDecodedBytes: 2 ** 31,
  maxSectionBytes: 1 << 29,
  maxSections: 1 << 20,
  maxLayers: 4096,
  maxKvHeads: 1024,
  maxHeadDim: 8192,
  maxTokens: 1 << 24,
  maxMetaBytes: 1 << 20,
  maxHeaderBytes: 4096,
};

/** What the card says about itself once its head sections are read (before any payload). */
export interface CardInfo {
  versionMajor: number;
  versionMinor: number;
  signed: boolean;
  totalLength: number;
  sectionCount: number;
  model: CardModel;
  layers: number;
  kvHeads: number;
  headDim: number;
  tokenCount: number;
  nextPosition: number;
  layerGroup: number;
  tokenBlock: number;
  chunkCount: number;
  precision: CardPrecisionTable;
  /** A cross-model card's FUSION section (MODEL is then the sharer's), or null. */
  fusion: FusionSection | null;
}

export interface DecodedCard {
  info: CardInfo;
  /** The dequantized cache (float32), with the sharer's positions and token ids. */
  cache: KvCache;
  /** Position the receiver continues at. */
  nextPosition: number;
  /** The META section's JSON, if any. */
  meta: Record<string, unknown> | null;
  /** The SCORES section (per-token importance), if any. */
  scores: Float32Array | null;
  /** Hex SHA-256 card digest (see docs/cachecard.md). */
  digest: string;
  /** 'verified' (HMAC checked with the receiver's key), 'unverified' (signed, no key given) or 'none'. */
  signature: 'verified' | 'unverified' | 'none';
  /** Optional sections of kinds this reader does not know, skipped (kind numbers). */
  skipped: number[];
  /**
   * Per-head cards: per layer, (kvHeads, N) flags, 1 where that head does not carry the token
   * (its K and V are zero in `cache`; pass this to Session.inject). Null when every head has every token.
   */
  absent: Uint8Array[] | null;
}

/** Normalizes a CardPrecision into the table the layout writes (specs deduplicated). */
export function precisionTable(p: CardPrecision, layers: number, tokenCount: number, kvHeads = 1): CardPrecisionTable {
  const bad = (why: string) => new KvwireError('BAD_ARGUMENT', `card precision: ${why}`);
  if (typeof p !== 'object' || p === null || !Array.isArray(p.classes)) {
    throw bad(`expected { classes: [...] }, got ${JSON.stringify(p)}${typeof p === 'string' ? ` (for a preset: presetPrecision(${JSON.stringify(p)}, tokens))` : ''}`);
  }
  if (!p.classes.length || p.classes.length > 255) throw bad(`needs 1..255 classes, got ${p.classes.length}`);
  const specs: QuantSpec[] = [];
  const keyOf = (s: QuantSpec) => JSON.stringify([s.format, 'scheme' in s ? s.scheme : '', 'axis' in s ? s.axis : '', 'group' in s ? s.group ?? 0 : 0]);
  const index = new Map<string, number>();
  const intern = (s: QuantSpec) => {
    validateSpec(s);
    const k = keyOf(s);
    let i = index.get(k);
    if (i === undefined) {
      i = specs.length;
      specs.push(s);
      index.set(k, i);
    }
    return i;
  };
  const perLayer = (x: QuantSpec | QuantSpec[], what: string): QuantSpec[] => {
    if (!Array.isArray(x)) return new Array<QuantSpec>(layers).fill(x);
    if (x.length !== layers) throw bad(`${what} lists ${x.length} specs for ${layers} layers`);
    return x;
  };
  const assign = p.classes.map((c, ci) => {
    const k = perLayer(c.keys, `class ${ci} keys`);
    const v = perLayer(c.values, `class ${ci} values`);
    return k.map((ks, l): [number, number] => [intern(ks), intern(v[l])]);
  });
  if (specs.length > 255) throw bad(`more than 255 distinct quantizers`);
  if (p.headClass) {
    if (p.tokenClass !== undefined) throw bad('give tokenClass or headClass, not both');
    if (p.headClass.length !== layers) throw bad(`headClass lists ${p.headClass.length} layers, expected ${layers}`);
    const classes = new Uint8Array(layers * kvHeads * tokenCount);
    p.headClass.forEach((m, l) => {
      if (m.length !== kvHeads * tokenCount) throw bad(`headClass[${l}] has ${m.length} entries for ${kvHeads} heads x ${tokenCount} tokens`);
      const t = m.findIndex((c) => c >= p.classes.length && c !== DROPPED);
      if (t >= 0) throw bad(`headClass[${l}] entry ${t} is ${m[t]}: neither a class (0..${p.classes.length - 1}) nor DROPPED (${DROPPED})`);
      classes.set(m, l * kvHeads * tokenCount);
    });
    return { specs, assign, classMap: { perLayer: true, perHead: true, classes } };
  }
  const maps = p.tokenClass === undefined ? [] : Array.isArray(p.tokenClass) ? p.tokenClass : [p.tokenClass];
  if (maps.length > 1 && maps.length !== layers) throw bad(`tokenClass lists ${maps.length} layers, expected ${layers}`);
  maps.forEach((m, l) => {
    if (m.length !== tokenCount) throw bad(`tokenClass${maps.length > 1 ? `[${l}]` : ''} has ${m.length} entries for ${tokenCount} tokens`);
    const t = m.findIndex((c) => c >= p.classes.length);
    if (t >= 0) throw bad(`token ${t} has class ${m[t]}, but there are ${p.classes.length} classes`);
  });
  let classMap: CardPrecisionTable['classMap'] = null;
  if (p.classes.length > 1) {
    const perLayer = maps.length > 1 && maps.some((m) => m.some((c, t) => c !== maps[0][t]));
    const classes = new Uint8Array((perLayer ? layers : 1) * tokenCount);
    if (perLayer) maps.forEach((m, l) => classes.set(m, l * tokenCount));
    else if (maps.length) classes.set(maps[0]);
    classMap = { perLayer, classes };
  }
  return { specs, assign, classMap };
}
