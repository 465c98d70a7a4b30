/**
 * The CacheCard FUSION section from the fuser's side (the codec and the container's checks are in
 * src/card/fusion.ts and src/card/decode.ts; docs/cachecard.md "FUSION"): the section a sharer
 * writes for a fuser, the digest of a fuser file, and the receiver's choice of fuser for a card
 * (`fuserForCard`: CARD_MODEL / NO_FUSER).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeFusion, readFusion, FUSION_PROTOCOLS, type FusionSection } from '../card/index.js';
import { KvwireError } from '../errors.js';
import type { LinearFuser } from './fuser.js';
import { transmittedLayers } from './protocol.js';
import { fuserFor, type ModelIdentity } from './registry.js';

export { FUSION_PROTOCOLS, type FusionSection };
export const FUSION_SECTION_KIND = 0x0006;

/** SHA-256 of a fuser file, hex (what `fuserDigest` holds). */
export function fuserFileDigest(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The section a sharer writes for `fuser` (its transmitted layers, its receiver). */
export function fusionSectionFor(fuser: LinearFuser, o: { fuserDigest?: string | null; protocol?: FusionSection['protocol']; bosDropped?: boolean } = {}): FusionSection {
  const r = fuser.receiver;
  return {
    receiver: { id: r.id, weightsDigest: r.weightsDigest, tokenizerDigest: r.tokenizerDigest },
    fuserDigest: o.fuserDigest ?? null, sharerLayers: fuser.sharer.layers, layerIndex: transmittedLayers(fuser),
    protocol: o.protocol ?? 'question-only', bosDropped: o.bosDropped ?? true,
  };
}

/** The section's body (src/card's codec; BAD_ARGUMENT for a section that cannot be written). */
export const encodeFusionSection = (f: FusionSection): Uint8Array => encodeFusion(f);
/** Reads a body (src/card's codec; CARD_CORRUPT / CARD_UNSUPPORTED). */
export const decodeFusionSection = (bytes: Uint8Array): FusionSection => readFusion(bytes);

/**
 * The reader's rules: the card's MODEL (`sharer`) must have a fuser to this receiver (NO_FUSER),
 * the section must name this receiver (CARD_MODEL), and carry exactly the fuser's transmitted
 * layers (NO_FUSER). Returns the fuser. A fuser digest that differs from the fuser's file is not
 * refused (any fuser of the pair decodes the payload; docs/fuse.md).
 */
export function fuserForCard(fusers: readonly LinearFuser[], sharer: ModelIdentity, receiver: ModelIdentity, section: FusionSection): LinearFuser {
  const r = section.receiver;
  if (r.id !== receiver.id || r.weightsDigest !== receiver.weightsDigest || r.tokenizerDigest !== receiver.tokenizerDigest) {
    throw new KvwireError('CARD_MODEL', `the card's FUSION section is for receiver ${r.id}, this receiver is ${receiver.id}`);
  }
  const fuser = fuserFor(fusers, sharer, receiver);
  const want = transmittedLayers(fuser);
  if (section.sharerLayers !== fuser.sharer.layers || want.join(',') !== section.layerIndex.join(',')) {
    throw new KvwireError('NO_FUSER', `the card carries sharer layers ${section.layerIndex.join(',')} of ${section.sharerLayers}; ` +
      `the fuser for this pair reads ${want.join(',')} of ${fuser.sharer.layers}`);
  }
  return fuser;
}
