/**
 * CardDecoder: a streaming CacheCard reader for untrusted bytes.
 *
 *   const dec = new CardDecoder({ expectModel: fingerprint, key });
 *   for await (const bytes of stream) for (const ev of dec.push(bytes)) console.log('layers', ev.from, ev.to);
 *   const { cache, nextPosition } = dec.finish();   // only now is the card known to be whole
 *
 * Bytes are consumed unit by unit (card header, section header, section body). A body is
 * buffered until complete, its SHA-256 checked, and only then parsed; chunks decode as they
 * arrive, so the receiver's CPU works while the rest is still on the wire. Every size is checked
 * against the layout and the limits before anything is allocated. `finish` checks the card digest
 * (and HMAC) — a caller must not use the cache before it returns. After an error the decoder is
 * dead. `committed` is the offset after the last verified section: a broken transfer resumes
 * there after `discardPartial()`.
 */
import { createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto';
import { KvwireError } from '../errors.js';
import { KvCache, type FloatPool } from '../kv/index.js';
import {
  CARD_FLAG_SIGNED, CARD_HEADER, END_DIGEST_BYTES, END_HMAC_BYTES, KIND, MAGIC, REQUIRED_KINDS, SECTION_FLAG_REQUIRED,
  SECTION_HEADER, VERSION_MAJOR, kindName, padded, readStruct, type CardPrecisionTable, type ValuesOf,
} from './layout.js';
import {
  absentFromPlan, checkModel, corrupt, expectedChunkBytes, overLimit, readChunk, readLayout, readModel, readPlan, readTokens, tokensLength, type Layout,
} from './read-sections.js';
import { readFusion, type FusionSection } from './fusion.js';
import { DEFAULT_LIMITS, type CardInfo, type CardLimits, type CardModel, type DecodedCard } from './types.js';

export interface CardDecoderOptions {
  /**
   * This receiver's model. A same-model card whose MODEL differs is refused (CARD_MODEL). A
   * cross-model card (with a FUSION section) must name this model as its receiver (CARD_MODEL
   * otherwise), and is refused with NO_FUSER unless `acceptFusion` is given.
   */
  expectModel?: CardModel;
  /**
   * Called when a FUSION section has been read, before any payload: `sharer` is the card's MODEL.
   * Throw to refuse the card (a receiver without a fuser for this sharer throws NO_FUSER). With
   * it, a card without FUSION is still checked against `expectModel` as usual.
   */
  acceptFusion?: (sharer: CardModel, fusion: FusionSection) => void;
  /** Shared HMAC key: the card must be signed with it (CARD_SIGNATURE otherwise). */
  key?: Uint8Array | string;
  limits?: Partial<CardLimits>;
  /**
   * Where the decoded K/V arrays come from: arrays given back to the pool after an earlier card
   * (a receiver that injects and drops each card) are reused instead of fresh allocations.
   */
  pool?: FloatPool;
}

/** Layers [from, to) are fully decoded. */
export interface LayerEvent { from: number; to: number }

const EMPTY = new Uint8Array(0);

type Phase = 'card' | 'section' | 'body' | 'skip' | 'done' | 'failed';
type SectionHeader = ValuesOf<typeof SECTION_HEADER>;

export class CardDecoder {
  private readonly limits: CardLimits;
  private readonly key?: Uint8Array;
  private phase: Phase = 'card';
  /** The unit being filled (card header, section header or body). */
  private unit: Uint8Array = new Uint8Array(CARD_HEADER.size);
  private filled = 0;
  /** Padded length of the body being read (phase 'body'); its buffer is allocated on first bytes. */
  private bodyLength = 0;
  private chunkScratch = new Uint8Array(0);
  private skipLeft = 0;
  private skipHash: Hash | null = null;
  private section: SectionHeader | null = null;
  private sectionBytes: Uint8Array = new Uint8Array(SECTION_HEADER.size);
  private readonly digest = createHash('sha256');
  private committedAt = 0;
  private sectionsSeen = 0;
  private header: ValuesOf<typeof CARD_HEADER> | null = null;
  private model: CardModel | null = null;
  private fusion: FusionSection | null = null;
  private layout: Layout | null = null;
  private plan: CardPrecisionTable | null = null;
  private ids: { tokens: Int32Array; positions: Int32Array } | null = null;
  private chunkBytes: number[] = [];
  private nextChunk = 0;
  private readonly keys: Float32Array[] = [];
  private readonly values: Float32Array[] = [];
  private meta: Record<string, unknown> | null = null;
  private scores: Float32Array | null = null;
  private readonly skipped: number[] = [];
  private result: DecodedCard | null = null;
  private error: unknown = null;

  /** Arrays of n floats for the decoded K/V: from the pool when it has one, else fresh. */
  private readonly alloc = (n: number): Float32Array => {
    const a = this.options.pool?.take(n);
    // Only a per-head map can leave entries undecoded (DROPPED, which must read 0); every other
    // card writes each float of its arrays, so a pooled array needs no clearing first.
    return a ? (this.plan?.classMap?.perHead ? a.fill(0) : a) : new Float32Array(n);
  };

  constructor(private readonly options: CardDecoderOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    if (options.key !== undefined) this.key = typeof options.key === 'string' ? new TextEncoder().encode(options.key) : options.key;
  }

  /** Offset just past the last verified section (or 0): where a broken transfer resumes. */
  get committed(): number { return this.committedAt; }
  get done(): boolean { return this.phase === 'done'; }
  /** The card header's total length, once read (for progress and resume requests). */
  get totalLength(): number | null { return this.header?.totalLength ?? null; }

  /** Feeds the next bytes of the card; returns the layer groups completed by them. */
  push(bytes: Uint8Array): LayerEvent[] {
    if (this.phase === 'failed') throw this.error;
    const events: LayerEvent[] = [];
    try {
      let at = 0;
      while (at < bytes.length) {
        if (this.phase === 'done') throw corrupt('END', `${bytes.length - at} bytes after the END section`);
        if (this.phase === 'skip') {
          const k = Math.min(this.skipLeft, bytes.length - at);
          this.skipHash!.update(bytes.subarray(at, at + k));
          this.skipLeft -= k;
          at += k;
          if (this.skipLeft === 0) this.endSkip();
          continue;
        }
        if (this.phase === 'body' && this.unit.length !== this.bodyLength) {
          // A body that arrives whole in this piece is read in place (no copy); otherwise it is
          // gathered into its own buffer, allocated now that its first bytes are here.
          if (bytes.length - at >= this.bodyLength) {
            this.unit = bytes.subarray(at, at + this.bodyLength);
            this.filled = this.bodyLength;
            at += this.bodyLength;
            this.completeUnit(events);
            continue;
          }
          this.unit = this.section!.kind === KIND.CHUNK ? this.chunkBody(this.bodyLength) : new Uint8Array(this.bodyLength);
        }
        const k = Math.min(this.unit.length - this.filled, bytes.length - at);
        this.unit.set(bytes.subarray(at, at + k), this.filled);
        this.filled += k;
        at += k;
        if (this.filled === this.unit.length) this.completeUnit(events);
      }
    } catch (e) {
      this.phase = 'failed';
      this.error = e;
      throw e;
    }
    return events;
  }

  /** Drops the bytes of a partly received section; returns `committed`, the offset to resume from. */
  discardPartial(): number {
    if (this.phase === 'failed') throw this.error;
    if (this.phase === 'done') return this.committedAt;
    if (this.header === null) {
      this.phase = 'card';
      this.unit = new Uint8Array(CARD_HEADER.size);
    } else {
      this.phase = 'section';
      this.unit = new Uint8Array(SECTION_HEADER.size);
    }
    this.filled = 0;
    this.skipHash = null;
    this.section = null;
    return this.committedAt;
  }

  /** The decoded card, after END was read and the digest (and signature) verified. */
  finish(): DecodedCard {
    if (this.phase === 'failed') throw this.error;
    if (!this.result) {
      const total = this.header ? ` of ${this.header.totalLength}` : '';
      throw new KvwireError('CARD_CORRUPT', `card truncated: the stream ended after ${this.committedAt + this.filled}${total} bytes, before the END section`, { path: 'END' });
    }
    return this.result;
  }

  private completeUnit(events: LayerEvent[]): void {
    if (this.phase === 'card') return this.readCardHeader();
    if (this.phase === 'section') return this.readSectionHeader();
    const s = this.section!;
    const h = createHash('sha256').update(this.sectionBytes.subarray(0, 16)).update(this.unit).digest();
    if (!timingSafeEqual(h, s.hash)) throw corrupt(`${kindName(s.kind)} section #${this.sectionsSeen}`, 'SHA-256 mismatch (corrupted in transit?)');
    const body = this.unit.subarray(0, s.length);
    for (let k = s.length; k < this.unit.length; k++) if (this.unit[k] !== 0) throw corrupt(kindName(s.kind), 'non-zero padding');
    this.readBody(s.kind, body, events);
    this.commit(s.kind);
  }

  private readCardHeader(): void {
    const u = this.unit;
    if (this.header === null && u.length === CARD_HEADER.size) {
      for (let i = 0; i < MAGIC.length; i++) {
        if (u[i] !== MAGIC[i]) throw corrupt('header.magic', `not a CacheCard (first bytes ${Buffer.from(u.subarray(0, 8)).toString('hex')})`);
      }
      const h = readStruct(CARD_HEADER, u);
      if (h.versionMajor !== VERSION_MAJOR) {
        throw new KvwireError('CARD_UNSUPPORTED', `card version ${h.versionMajor}.${h.versionMinor}: this reader handles major version ${VERSION_MAJOR}`, { path: 'header.versionMajor' });
      }
      if (h.headerLength < CARD_HEADER.size) throw corrupt('header.headerLength', `${h.headerLength} < ${CARD_HEADER.size}`);
      if (h.headerLength > this.limits.maxHeaderBytes) throw overLimit('header.headerLength', `${h.headerLength} exceeds ${this.limits.maxHeaderBytes}`);
      if (h.headerLength > CARD_HEADER.size) {
        // A later minor version appended header fields: read them too (they are hashed).
        const longer = new Uint8Array(h.headerLength);
        longer.set(u);
        this.unit = longer;
        this.filled = CARD_HEADER.size;
        return;
      }
    }
    const h = readStruct(CARD_HEADER, this.unit);
    const hash = createHash('sha256').update(this.unit.subarray(0, 32)).update(this.unit.subarray(CARD_HEADER.size)).digest();
    if (!timingSafeEqual(hash, h.headerHash)) throw corrupt('header.headerHash', 'SHA-256 mismatch');
    if (h.flags & ~CARD_FLAG_SIGNED) throw new KvwireError('CARD_UNSUPPORTED', `card header flags 0x${h.flags.toString(16)} set bits this reader does not know`, { path: 'header.flags' });
    if (h.totalLength > this.limits.maxCardBytes) throw overLimit('header.totalLength', `${h.totalLength} bytes exceeds the receiver's limit ${this.limits.maxCardBytes}`);
    if (h.sectionCount > this.limits.maxSections) throw overLimit('header.sectionCount', `${h.sectionCount} exceeds ${this.limits.maxSections}`);
    const least = h.headerLength + 6 * SECTION_HEADER.size;
    if (h.sectionCount < 6 || h.totalLength < least) throw corrupt('header', `${h.sectionCount} sections in ${h.totalLength} bytes cannot hold a card`);
    if (this.key && !(h.flags & CARD_FLAG_SIGNED)) throw new KvwireError('CARD_SIGNATURE', 'card is not signed, but this receiver requires a signature', { path: 'header.flags' });
    this.header = h;
    this.digest.update(this.unit);
    this.committedAt = h.headerLength;
    this.nextUnit();
  }

  private readSectionHeader(): void {
    const hdr = readStruct(SECTION_HEADER, this.unit);
    this.sectionBytes = this.unit;
    const card = this.header!;
    const where = `${kindName(hdr.kind)} section #${this.sectionsSeen}`;
    if (this.sectionsSeen >= card.sectionCount) throw corrupt(where, `more sections than the header's ${card.sectionCount}`);
    const end = this.committedAt + SECTION_HEADER.size + padded(hdr.length);
    if (!Number.isSafeInteger(end) || end > card.totalLength) throw corrupt(`${where}.length`, `${hdr.length} runs past the card's ${card.totalLength} bytes`);
    if (hdr.length > this.limits.maxSectionBytes) throw overLimit(`${where}.length`, `${hdr.length} exceeds ${this.limits.maxSectionBytes}`);
    this.section = hdr;
    const known = Object.values(KIND).includes(hdr.kind as never);
    if (!known) {
      // Hash it without keeping it: only then do we know whether the header itself is intact,
      // and so whether to report an unknown required kind (UNSUPPORTED) or corruption.
      this.phase = 'skip';
      this.skipLeft = padded(hdr.length);
      this.skipHash = createHash('sha256').update(this.unit.subarray(0, 16));
      if (this.skipLeft === 0) this.endSkip();
      return;
    }
    const required = REQUIRED_KINDS.has(hdr.kind);
    if (Boolean(hdr.flags & SECTION_FLAG_REQUIRED) !== required || hdr.flags & ~SECTION_FLAG_REQUIRED || hdr.reserved !== 0) {
      throw corrupt(where, `flags ${hdr.flags} / reserved ${hdr.reserved} do not match the kind`);
    }
    this.checkOrder(hdr.kind, where);
    const want = this.expectedLength(hdr.kind);
    if (want !== null && hdr.length !== want) throw corrupt(`${where}.length`, `${hdr.length}, expected ${want}`);
    if ((hdr.kind === KIND.MODEL || hdr.kind === KIND.META || hdr.kind === KIND.FUSION) && hdr.length > this.limits.maxMetaBytes) {
      throw overLimit(`${where}.length`, `${hdr.length} exceeds ${this.limits.maxMetaBytes}`);
    }
    this.phase = 'body';
    this.bodyLength = padded(hdr.length);
    this.unit = EMPTY;
    this.filled = 0;
    if (this.bodyLength === 0) this.completeUnit([]);
  }

  /** Required sections come in a fixed order: MODEL, LAYOUT, PLAN, TOKENS, CHUNK 0..n-1, END. */
  private checkOrder(kind: number, where: string): void {
    const stage = this.model === null ? KIND.MODEL : this.layout === null ? KIND.LAYOUT : this.plan === null ? KIND.PLAN
      : this.ids === null ? KIND.TOKENS : this.nextChunk < this.layout.chunkCount ? KIND.CHUNK : KIND.END;
    if (kind === KIND.FUSION) {
      // At most one, after MODEL and before LAYOUT (optional sections may sit between).
      if (this.model === null || this.layout !== null || this.fusion !== null) throw corrupt(where, 'FUSION must come once, after MODEL and before LAYOUT');
      return;
    }
    if (REQUIRED_KINDS.has(kind) && kind !== stage) throw corrupt(where, `expected a ${kindName(stage)} section here`);
    if (kind === KIND.SCORES && this.layout === null) throw corrupt(where, 'SCORES must follow LAYOUT');
    if (kind === KIND.END && this.sectionsSeen + 1 !== this.header!.sectionCount) {
      throw corrupt(where, `END is section ${this.sectionsSeen + 1} of a card that declares ${this.header!.sectionCount}`);
    }
  }

  private expectedLength(kind: number): number | null {
    switch (kind) {
      case KIND.LAYOUT: return 32;
      case KIND.TOKENS: return tokensLength(this.layout!, this.plan!);
      case KIND.CHUNK: return this.chunkBytes[this.nextChunk];
      case KIND.SCORES: return 4 * this.layout!.tokenCount;
      case KIND.END: return END_DIGEST_BYTES + (this.header!.flags & CARD_FLAG_SIGNED ? END_HMAC_BYTES : 0);
      default: return null;
    }
  }

  private readBody(kind: number, body: Uint8Array, events: LayerEvent[]): void {
    switch (kind) {
      case KIND.MODEL:
        this.model = readModel(body);
        // MODEL may be a sharer's (a FUSION section follows): checked at FUSION or, without one, at
        // LAYOUT — either way before any payload.
        return;
      case KIND.FUSION: {
        const f = readFusion(body);
        const want = this.options.expectModel;
        if (want) {
          for (const k of ['id', 'weightsDigest', 'tokenizerDigest'] as const) {
            if (f.receiver[k] !== want[k]) {
              throw new KvwireError('CARD_MODEL', `card is a cross-model payload for another receiver: FUSION.receiver ${k} is ${JSON.stringify(f.receiver[k])}, ` +
                `this receiver's model has ${JSON.stringify(want[k])}`, { path: `FUSION.receiver.${k}` });
            }
          }
          if (!this.options.acceptFusion) {
            throw new KvwireError('NO_FUSER', `card carries K/V of sharer ${this.model!.family} ${this.model!.id} for fusion, and this reader holds no fusers`, { path: this.model!.id });
          }
        }
        this.options.acceptFusion?.(this.model!, f);
        this.fusion = f;
        return;
      }
      case KIND.LAYOUT:
        if (!this.fusion && this.options.expectModel) checkModel(this.model!, this.options.expectModel);
        this.layout = readLayout(body, this.limits);
        if (this.fusion && this.layout.layers !== this.fusion.layerIndex.length) {
          throw corrupt('LAYOUT.layers', `${this.layout.layers}, but FUSION lists ${this.fusion.layerIndex.length} sharer layers`);
        }
        return;
      case KIND.PLAN:
        this.plan = readPlan(body, this.layout!);
        return;
      case KIND.TOKENS: {
        this.ids = readTokens(body, this.layout!, this.plan!);
        this.chunkBytes = expectedChunkBytes(this.layout!, this.plan!);
        // The whole card's required size is now known: refuse a header that claims less.
        let need = this.committedAt + SECTION_HEADER.size + padded(body.length);
        for (const b of this.chunkBytes) need += SECTION_HEADER.size + padded(b);
        need += SECTION_HEADER.size + padded(this.expectedLength(KIND.END)!);
        if (need > this.header!.totalLength) throw corrupt('header.totalLength', `${this.header!.totalLength}, but the layout needs at least ${need}`);
        return;
      }
      case KIND.CHUNK: {
        const i = this.nextChunk++;
        readChunk(body, i, this.layout!, this.plan!, this.keys, this.values, this.alloc);
        const blocks = Math.max(1, Math.ceil(this.layout!.tokenCount / this.layout!.tokenBlock));
        if ((i + 1) % blocks === 0) {
          const from = Math.floor(i / blocks) * this.layout!.layerGroup;
          events.push({ from, to: Math.min(from + this.layout!.layerGroup, this.layout!.layers) });
        }
        return;
      }
      case KIND.META: {
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
        } catch {
          throw corrupt('META', 'not UTF-8 JSON');
        }
        if (json === null || typeof json !== 'object' || Array.isArray(json)) throw corrupt('META', 'not a JSON object');
        this.meta = json as Record<string, unknown>;
        return;
      }
      case KIND.SCORES:
        this.scores = new Float32Array(this.layout!.tokenCount);
        for (let t = 0; t < this.scores.length; t++) this.scores[t] = new DataView(body.buffer, body.byteOffset).getFloat32(4 * t, true);
        return;
      case KIND.END:
        return this.readEnd(body);
    }
  }

  private readEnd(body: Uint8Array): void {
    const expected = this.digest.digest();
    if (!timingSafeEqual(expected, body.subarray(0, END_DIGEST_BYTES))) throw corrupt('END.digest', 'card digest mismatch');
    const signed = Boolean(this.header!.flags & CARD_FLAG_SIGNED);
    let signature: DecodedCard['signature'] = signed ? 'unverified' : 'none';
    if (this.key) {
      const mac = createHmac('sha256', this.key).update(expected).digest();
      if (!timingSafeEqual(mac, body.subarray(END_DIGEST_BYTES, END_DIGEST_BYTES + END_HMAC_BYTES))) {
        throw new KvwireError('CARD_SIGNATURE', 'card signature does not verify with this receiver\'s key', { path: 'END.hmac' });
      }
      signature = 'verified';
    }
    const end = this.committedAt + SECTION_HEADER.size + padded(body.length);
    if (end !== this.header!.totalLength) throw corrupt('header.totalLength', `${this.header!.totalLength}, but END ends at ${end}`);
    const L = this.layout!;
    const shape = { layers: L.layers, kvHeads: L.kvHeads, headDim: L.headDim };
    if (L.tokenCount === 0) for (let l = 0; l < L.layers; l++) { this.keys[l] ??= new Float32Array(0); this.values[l] ??= new Float32Array(0); }
    const info: CardInfo = {
      versionMajor: this.header!.versionMajor, versionMinor: this.header!.versionMinor, signed, totalLength: this.header!.totalLength,
      sectionCount: this.header!.sectionCount, model: this.model!, ...shape, tokenCount: L.tokenCount, nextPosition: L.nextPosition,
      layerGroup: L.layerGroup, tokenBlock: L.tokenBlock, chunkCount: L.chunkCount, precision: this.plan!, fusion: this.fusion,
    };
    this.result = {
      info, cache: new KvCache(shape, this.keys, this.values, this.ids!.positions, this.ids!.tokens), nextPosition: L.nextPosition,
      meta: this.meta, scores: this.scores, digest: expected.toString('hex'), signature, skipped: this.skipped,
      absent: absentFromPlan(L, this.plan!),
    };
  }

  private endSkip(): void {
    const s = this.section!;
    const h = this.skipHash!.digest();
    const where = `${kindName(s.kind)} section #${this.sectionsSeen}`;
    if (!timingSafeEqual(h, s.hash)) throw corrupt(where, 'SHA-256 mismatch (corrupted in transit?)');
    if (s.flags & SECTION_FLAG_REQUIRED) {
      throw new KvwireError('CARD_UNSUPPORTED', `card has a required section of kind ${kindName(s.kind)} that this reader does not know`, { path: where });
    }
    this.skipped.push(s.kind);
    this.commit(s.kind);
  }

  /** A section is verified and used: fold its header into the digest and move the resume point. */
  private commit(kind: number): void {
    const s = this.section!;
    if (kind !== KIND.END) this.digest.update(this.sectionBytes);
    this.committedAt += SECTION_HEADER.size + padded(s.length);
    this.sectionsSeen++;
    this.section = null;
    this.skipHash = null;
    if (kind === KIND.END) {
      this.phase = 'done';
      return;
    }
    this.nextUnit();
  }

  /**
   * A chunk body that arrives in pieces is gathered into one buffer reused from chunk to chunk:
   * decoding copies everything out of it, and a fresh 2 MB body per layer would page-fault on
   * every card (a 50 MB fp16 card at 4K, fed in 64 KiB pieces, as over HTTP).
   */
  private chunkBody(n: number): Uint8Array {
    if (this.chunkScratch.length < n) this.chunkScratch = new Uint8Array(n);
    return this.chunkScratch.subarray(0, n);
  }

  private nextUnit(): void {
    this.phase = 'section';
    this.unit = new Uint8Array(SECTION_HEADER.size);
    this.filled = 0;
  }
}

/** Decodes a whole card held in memory (see CardDecoder for the checks). */
export function decodeCard(bytes: Uint8Array, options: CardDecoderOptions = {}): DecodedCard {
  const dec = new CardDecoder(options);
  dec.push(bytes);
  return dec.finish();
}
