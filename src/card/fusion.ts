/**
 * The FUSION section (kind 0x0006, REQUIRED, card version 1.3; docs/cachecard.md "FUSION"): the
 * card carries another model's K/V for a fused receiver. MODEL stays the *sharer's* fingerprint;
 * FUSION names the receiver the payload is meant for, the fuser file the sharer scored with, and
 * which sharer layers the card's LAYOUT layers are.
 *
 *   string receiverId; string receiverWeightsDigest; string receiverTokenizerDigest   (u16 length + UTF-8)
 *   u8  fuserDigest[32]        SHA-256 of the fuser file (32 zero bytes: none named)
 *   u16 sharerLayers           the sharer's depth Ls
 *   u16 sentLayers             = LAYOUT.layers
 *   u16 layerIndex[sentLayers] strictly increasing sharer layers carried
 *   u8  protocol               0 question-only, 1 receiver-side
 *   u8  flags                  bit 0: the sharer's BOS was dropped (tokens start at position 1)
 *
 * Little-endian, nothing after `flags`. This file is the codec only; the decoder checks the
 * section's place and LAYOUT.layers, and the receiver (src/agent) picks the fuser (src/fuse).
 */
import { KvwireError } from '../errors.js';

export const FUSION_PROTOCOLS = ['question-only', 'receiver-side'] as const;
export type FusionProtocol = (typeof FUSION_PROTOCOLS)[number];

/** Flag bit of `flags`: the sharer's BOS was not sent. */
export const FUSION_FLAG_BOS_DROPPED = 1;

export interface FusionSection {
  /** The intended receiver's fingerprint (id, weights and tokenizer digests). */
  receiver: { id: string; weightsDigest: string; tokenizerDigest: string };
  /** 64 lowercase hex digits, or null (32 zero bytes: no fuser named). */
  fuserDigest: string | null;
  /** The sharer's full depth. */
  sharerLayers: number;
  /** The sharer layer of each card layer, strictly increasing (its length is LAYOUT.layers). */
  layerIndex: number[];
  protocol: FusionProtocol;
  /** The sharer's BOS was dropped: the tokens start at sharer position 1. */
  bosDropped: boolean;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Body bytes of a FUSION section. */
export function fusionLength(f: FusionSection): number {
  const strings = [f.receiver.id, f.receiver.weightsDigest, f.receiver.tokenizerDigest].reduce((n, s) => n + 2 + utf8.encode(s).length, 0);
  return strings + 32 + 2 + 2 + 2 * f.layerIndex.length + 1 + 1;
}

/** Writes the body (BAD_ARGUMENT for a section that cannot be written). */
export function encodeFusion(f: FusionSection, out: Uint8Array = new Uint8Array(fusionLength(f))): Uint8Array {
  const bad = (why: string): never => { throw new KvwireError('BAD_ARGUMENT', `FUSION section: ${why}`); };
  const strings = [f.receiver.id, f.receiver.weightsDigest, f.receiver.tokenizerDigest].map((s) => utf8.encode(s));
  for (const s of strings) if (s.length > 1024) bad('a receiver string is longer than 1024 bytes');
  if (f.fuserDigest !== null && !/^[0-9a-f]{64}$/.test(f.fuserDigest)) bad(`fuserDigest must be 64 lowercase hex digits or null, got ${JSON.stringify(f.fuserDigest)}`);
  const layerError = checkLayers(f.sharerLayers, f.layerIndex);
  if (layerError) bad(layerError);
  const protocol = FUSION_PROTOCOLS.indexOf(f.protocol);
  if (protocol < 0) bad(`protocol must be one of ${FUSION_PROTOCOLS.join(', ')}, got ${JSON.stringify(f.protocol)}`);
  if (out.length !== fusionLength(f)) bad(`body buffer is ${out.length} bytes, expected ${fusionLength(f)}`);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = 0;
  for (const s of strings) { v.setUint16(o, s.length, true); out.set(s, o + 2); o += 2 + s.length; }
  out.fill(0, o, o + 32);
  if (f.fuserDigest) out.set(Buffer.from(f.fuserDigest, 'hex'), o);
  o += 32;
  v.setUint16(o, f.sharerLayers, true); o += 2;
  v.setUint16(o, f.layerIndex.length, true); o += 2;
  for (const l of f.layerIndex) { v.setUint16(o, l, true); o += 2; }
  v.setUint8(o++, protocol);
  v.setUint8(o++, f.bosDropped ? FUSION_FLAG_BOS_DROPPED : 0);
  return out;
}

/** Why a layer list is invalid, or null. */
function checkLayers(sharerLayers: number, layerIndex: readonly number[]): string | null {
  if (!Number.isInteger(sharerLayers) || sharerLayers < 1 || sharerLayers > 0xffff) return `sharerLayers must be in 1..65535, got ${sharerLayers}`;
  if (layerIndex.length === 0) return 'sentLayers is 0';
  if (layerIndex.length > sharerLayers) return `sentLayers ${layerIndex.length} exceeds sharerLayers ${sharerLayers}`;
  for (let i = 0; i < layerIndex.length; i++) {
    const l = layerIndex[i];
    if (!Number.isInteger(l) || l < 0 || l >= sharerLayers) return `layerIndex[${i}] = ${l} is outside 0..${sharerLayers - 1}`;
    if (i > 0 && l <= layerIndex[i - 1]) return `layerIndex must be strictly increasing (layerIndex[${i}] = ${l} after ${layerIndex[i - 1]})`;
  }
  return null;
}

/**
 * Reads a body from untrusted bytes: CARD_CORRUPT for anything inconsistent (truncated, bytes
 * after `flags`, bad UTF-8, layers out of range or not increasing), CARD_UNSUPPORTED for a
 * protocol code or flag bit this version does not know.
 */
export function readFusion(body: Uint8Array): FusionSection {
  const corrupt = (field: string, why: string) => new KvwireError('CARD_CORRUPT', `card FUSION.${field}: ${why}`, { path: `FUSION.${field}` });
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let o = 0;
  const need = (n: number, field: string) => { if (o + n > body.length) throw corrupt(field, `the body (${body.length} bytes) ends inside the field`); };
  const str = (field: string) => {
    need(2, field);
    const n = v.getUint16(o, true);
    o += 2;
    need(n, field);
    let s: string;
    try {
      s = utf8Strict.decode(body.subarray(o, o + n));
    } catch {
      throw corrupt(field, 'not valid UTF-8');
    }
    o += n;
    return s;
  };
  const receiver = { id: str('receiverId'), weightsDigest: str('receiverWeightsDigest'), tokenizerDigest: str('receiverTokenizerDigest') };
  need(32, 'fuserDigest');
  const digest = body.subarray(o, o + 32);
  o += 32;
  const fuserDigest = digest.every((x) => x === 0) ? null : Buffer.from(digest).toString('hex');
  need(4, 'sentLayers');
  const sharerLayers = v.getUint16(o, true);
  const sent = v.getUint16(o + 2, true);
  o += 4;
  need(2 * sent, 'layerIndex');
  const layerIndex = Array.from({ length: sent }, (_, i) => v.getUint16(o + 2 * i, true));
  o += 2 * sent;
  need(2, 'protocol');
  const p = v.getUint8(o++);
  const flags = v.getUint8(o++);
  if (o !== body.length) throw corrupt('flags', `${body.length - o} bytes after the last field`);
  const layerError = checkLayers(sharerLayers, layerIndex);
  if (layerError) throw corrupt('layerIndex', layerError);
  if (p >= FUSION_PROTOCOLS.length) throw new KvwireError('CARD_UNSUPPORTED', `card FUSION.protocol ${p}: this reader knows 0 (question-only) and 1 (receiver-side)`, { path: 'FUSION.protocol' });
  if (flags & ~FUSION_FLAG_BOS_DROPPED) throw new KvwireError('CARD_UNSUPPORTED', `card FUSION.flags 0x${flags.toString(16)} set bits this reader does not know`, { path: 'FUSION.flags' });
  return { receiver, fuserDigest, sharerLayers, layerIndex, protocol: FUSION_PROTOCOLS[p], bosDropped: (flags & FUSION_FLAG_BOS_DROPPED) !== 0 };
}
