/**
 * Raw access to a card's sections, for tools and tests that inspect or deliberately alter cards
 * (the attack files are made this way). `splitCard` trusts its input: use CardDecoder for bytes
 * from anywhere else.
 */
import { assembleCard, type AssembleOptions, type EncodedCard } from './encode.js';
import { CARD_HEADER, KIND, SECTION_HEADER, padded, readStruct, type ValuesOf } from './layout.js';

export interface RawSection { kind: number; flags: number; body: Uint8Array; offset: number }

export function splitCard(bytes: Uint8Array): { header: ValuesOf<typeof CARD_HEADER>; sections: RawSection[] } {
  const header = readStruct(CARD_HEADER, bytes);
  const sections: RawSection[] = [];
  let at = header.headerLength;
  while (at + SECTION_HEADER.size <= bytes.length) {
    const h = readStruct(SECTION_HEADER, bytes, at);
    const body = bytes.slice(at + SECTION_HEADER.size, at + SECTION_HEADER.size + h.length);
    sections.push({ kind: h.kind, flags: h.flags, body, offset: at });
    at += SECTION_HEADER.size + padded(h.length);
    if (h.kind === KIND.END) break;
  }
  return { header, sections };
}

/** Rebuilds a card from sections (END is recomputed): valid hashes and digest around any bodies. */
export function reassemble(sections: RawSection[], options: AssembleOptions = {}): EncodedCard {
  return assembleCard(sections.filter((s) => s.kind !== KIND.END).map((s) => ({
    kind: s.kind, required: Boolean(s.flags & 1), flags: s.flags, length: s.body.length, write: (b: Uint8Array) => b.set(s.body),
  })), options);
}
