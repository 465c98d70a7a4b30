/**
 * Cross-model cards (docs/cachecard.md "FUSION", docs/fuse.md "The protocol"): the sharer's half.
 *
 * The sharer holds its cache of the context and a fuser for (itself, the receiver). It sends the
 * content tokens (BOS stays home) of the sharer layers the fuser reads, optionally selected
 * (src/fuse `selectSent`: any cache selector, or proj_vnorm / delta_proj_vnorm in the receiver's
 * value space) and quantized by a card preset, as a card whose MODEL is the sharer and whose
 * FUSION section names the receiver and the layers. The receiver's half is `Receiver.fromCard`
 * with `fusers` (receiver.ts): it refuses a sharer it holds no fuser for (NO_FUSER), projects,
 * fuses and answers.
 */
import { encodeCard, presetPrecision, type CardModel, type CardPrecision, type EncodedCard, type PresetName } from '../card/index.js';
import { ensure } from '../errors.js';
import type { KvCache } from '../kv/index.js';
import type { KeepBudget } from '../select/index.js';
import type { LinearFuser } from '../fuse/fuser.js';
import { fusionSectionFor } from '../fuse/fusion-section.js';
import { contentStart, transmittedCache } from '../fuse/protocol.js';
import { selectSent } from '../fuse/space.js';

export interface FusedCardOptions {
  /** The sharer's fingerprint (the card's MODEL). */
  model: CardModel;
  /** A card preset for every sent token (default fp16), or a whole CardPrecision for the kept tokens. */
  precision?: PresetName | ((kept: number) => CardPrecision);
  /** Shared token selection over the sent tokens (src/fuse selectSent), with its budget. */
  selector?: string;
  keep?: KeepBudget;
  seed?: number;
  /** SHA-256 (hex) of the fuser file the sharer scored with (fuserFileDigest); default none. */
  fuserDigest?: string | null;
  key?: Uint8Array | string;
  meta?: Record<string, unknown>;
  layerGroup?: number;
}

/** Encodes the cross-model card for `sharerCache` (the sharer's whole context cache, BOS included). */
export async function encodeFusedCard(fuser: LinearFuser, sharerCache: KvCache, o: FusedCardOptions): Promise<{ card: EncodedCard; kept: number; sent: number }> {
  ensure(o.model.id === fuser.sharer.id && o.model.weightsDigest === fuser.sharer.weightsDigest && o.model.tokenizerDigest === fuser.sharer.tokenizerDigest,
    'NO_FUSER', `the fuser's sharer is ${fuser.sharer.id}, this sharer is ${o.model.id}`);
  const sent = transmittedCache(fuser, sharerCache);
  let rows: Int32Array | undefined;
  if (o.selector) {
    const set = await selectSent(fuser, sent, o.selector, { budget: o.keep ?? { ratio: 1 }, seed: o.seed });
    ensure(set.kind === 'shared', 'ENGINE', 'cross-model selection is shared');
    rows = set.indices;
  } else {
    ensure(o.keep === undefined, 'BAD_ARGUMENT', 'encodeFusedCard: a keep budget needs a selector');
  }
  const kept = rows ? rows.length : sent.length;
  const precision = typeof o.precision === 'function' ? o.precision(kept) : presetPrecision(o.precision ?? 'fp16', kept);
  const fusion = fusionSectionFor(fuser, {
    fuserDigest: o.fuserDigest ?? null, protocol: 'question-only', bosDropped: contentStart(sharerCache.tokens, fuser.sharer.bosId) === 1,
  });
  const card = encodeCard(sent, {
    model: o.model, precision, rows, fusion, nextPosition: sharerCache.length, key: o.key, meta: o.meta, layerGroup: o.layerGroup,
  });
  return { card, kept, sent: sent.length };
}
