/**
 * The body of the proposed CacheCard FUSION section (kind 0x0006, docs/fuse.md "Proposed
 * CacheCard section"): a cross-model payload names its intended receiver, the fuser the sharer
 * scored with, and the sharer layers it carries. This file is only the body's codec and the
 * reader's checks, so that src/card can register the kind with a minimal hook (its owner's call);
 * nothing here touches the container.
 *
 *   string receiverId; string receiverWeightsDigest; string receiverTokenizerDigest   (u16 length + UTF-8)
 *   u8  fuserDigest[32]        SHA-256 of the fuser file (zeros: none named)
 *   u16 sharerLayers           the sharer's depth
 *   u16 sentLayers; u16 layerIndex[sentLayers]   strictly increasing sharer layers carried
 *   u8  protocol               0 question-only, 1 receiver-side
 *   u8  flags                  bit 0: the sharer's BOS was dropped
 *
 * Little-endian, nothing after `flags`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KvwireError } from '../errors.js';
import type { LinearFuser } from './fuser.js';
import { transmittedLayers } from './protocol.js';
import { fuserFor, type ModelIdentity } from './registry.js';

export const FUSION_SECTION_KIND = 0x0006;
export const FUSION_PROTOCOLS = ['question-only', 'receiver-side'] as const;

export interface FusionSection {
  receiver: { id: string; weightsDigest: string; tokenizerDigest: string };
  /** 64 hex digits, or null (32 zero bytes: no fuser named). */
  fuserDigest: string | null;
  sharerLayers: number;
  layerIndex: number[];
  protocol: (typeof FUSION_PROTOCOLS)[number];
  bosDropped: boolean;
}

const bad = (what: string): never => { throw new KvwireError('BAD_FORMAT', `FUSION section: ${what}`); };

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

export function encodeFusionSection(f: FusionSection): Uint8Array {
  const strings = [f.receiver.id, f.receiver.weightsDigest, f.receiver.tokenizerDigest].map((s) => Buffer.from(s, 'utf8'));
  for (const s of strings) if (s.length > 0xffff) bad('a receiver string is longer than 65535 bytes');
  if (f.fuserDigest !== null && !/^[0-9a-f]{64}$/.test(f.fuserDigest)) bad(`fuserDigest must be 64 lowercase hex digits or null, got ${JSON.stringify(f.fuserDigest)}`);
  checkLayers(f.sharerLayers, f.layerIndex);
  const protocol = FUSION_PROTOCOLS.indexOf(f.protocol);
  if (protocol < 0) bad(`protocol must be one of ${FUSION_PROTOCOLS.join(', ')}`);
  const size = strings.reduce((n, s) => n + 2 + s.length, 0) + 32 + 2 + 2 + 2 * f.layerIndex.length + 2;
  const out = Buffer.alloc(size);
  let o = 0;
  for (const s of strings) { out.writeUInt16LE(s.length, o); o += 2; s.copy(out, o); o += s.length; }
  if (f.fuserDigest) Buffer.from(f.fuserDigest, 'hex').copy(out, o);
  o += 32;
  out.writeUInt16LE(f.sharerLayers, o); o += 2;
  out.writeUInt16LE(f.layerIndex.length, o); o += 2;
  for (const l of f.layerIndex) { out.writeUInt16LE(l, o); o += 2; }
  out.writeUInt8(protocol, o++);
  out.writeUInt8(f.bosDropped ? 1 : 0, o++);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function checkLayers(sharerLayers: number, layerIndex: number[]): void {
  if (!Number.isInteger(sharerLayers) || sharerLayers <= 0 || sharerLayers > 0xffff) bad(`sharerLayers must be in 1..65535, got ${sharerLayers}`);
  if (layerIndex.length === 0) bad('no sent layers');
  layerIndex.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 0 || l >= sharerLayers) bad(`layerIndex[${i}] = ${l} is outside 0..${sharerLayers - 1}`);
    if (i > 0 && l <= layerIndex[i - 1]) bad(`layerIndex must be strictly increasing (layerIndex[${i}] = ${l} after ${layerIndex[i - 1]})`);
  });
}

export function decodeFusionSection(bytes: Uint8Array): FusionSection {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number, what: string) => { if (o + n > b.length) bad(`truncated in ${what} (${b.length} bytes)`); };
  const str = (what: string) => {
    need(2, what);
    const n = b.readUInt16LE(o); o += 2;
    need(n, what);
    const s = b.toString('utf8', o, o + n); o += n;
    return s;
  };
  const receiver = { id: str('receiverId'), weightsDigest: str('receiverWeightsDigest'), tokenizerDigest: str('receiverTokenizerDigest') };
  need(32, 'fuserDigest');
  const digest = b.subarray(o, o + 32); o += 32;
  const fuserDigest = digest.every((x) => x === 0) ? null : digest.toString('hex');
  need(4, 'layer counts');
  const sharerLayers = b.readUInt16LE(o); o += 2;
  const sent = b.readUInt16LE(o); o += 2;
  need(2 * sent, 'layerIndex');
  const layerIndex = Array.from({ length: sent }, (_, i) => b.readUInt16LE(o + 2 * i)); o += 2 * sent;
  need(2, 'protocol and flags');
  const p = b.readUInt8(o++);
  const flags = b.readUInt8(o++);
  if (p >= FUSION_PROTOCOLS.length) bad(`unknown protocol ${p}`);
  if (flags & ~1) bad(`unknown flags 0x${flags.toString(16)}`);
  if (o !== b.length) bad(`${b.length - o} bytes after flags`);
  checkLayers(sharerLayers, layerIndex);
  return { receiver, fuserDigest, sharerLayers, layerIndex, protocol: FUSION_PROTOCOLS[p], bosDropped: (flags & 1) === 1 };
}

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
