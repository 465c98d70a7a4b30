/**
 * LinkShaper: an emulated link for in-process experiments — a rate (bits per second) and a
 * one-way latency. Bytes written through it arrive as they would at the far end of such a link:
 * a piece leaves when the link is free and has serialized it (rate), and lands `latencyMs` later;
 * pieces pipeline, so latency is paid once per direction, not once per piece. Writes respect the
 * destination's backpressure (`drain`).
 *
 * For benchmarks prefer the kernel: scripts/netns.sh shapes a veth pair between two network
 * namespaces. This class is for tests and single-process sweeps.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensure } from '../errors.js';

export interface LinkSpec {
  /** Bits per second (default: unlimited). */
  rateBitsPerSec?: number;
  /** One-way latency in milliseconds (default 0); a round trip costs twice this. */
  latencyMs?: number;
}

/** Named links of the benchmark: 20 ms round trip (10 ms each way) at 10, 100, 1000 Mbit/s. */
export const LINKS: Readonly<Record<string, LinkSpec>> = {
  loopback: {},
  '1000mbit': { rateBitsPerSec: 1e9, latencyMs: 10 },
  '100mbit': { rateBitsPerSec: 1e8, latencyMs: 10 },
  '10mbit': { rateBitsPerSec: 1e7, latencyMs: 10 },
};

export class LinkShaper {
  readonly rate: number;
  readonly latencyMs: number;
  /** When (performance.now() ms) the link has finished serializing everything queued so far. */
  private freeAt = 0;

  constructor(spec: LinkSpec = {}) {
    this.rate = spec.rateBitsPerSec ?? Infinity;
    this.latencyMs = spec.latencyMs ?? 0;
    ensure(this.rate > 0, 'BAD_ARGUMENT', `link rate must be > 0 bits/s, got ${this.rate}`);
    ensure(this.latencyMs >= 0 && Number.isFinite(this.latencyMs), 'BAD_ARGUMENT', `link latency must be >= 0 ms, got ${this.latencyMs}`);
  }

  get unlimited(): boolean {
    return this.rate === Infinity && this.latencyMs === 0;
  }

  /** Waits one-way latency: the time a request takes to reach the far end. */
  async delay(): Promise<void> {
    if (this.latencyMs > 0) await sleep(this.latencyMs);
  }

  /**
   * Milliseconds until a piece of `bytes` handed to the link now arrives at the far end (and
   * books the link for it).
   */
  schedule(bytes: number): number {
    const now = performance.now();
    this.freeAt = Math.max(this.freeAt, now) + (this.rate === Infinity ? 0 : (bytes * 8 * 1000) / this.rate);
    return this.freeAt + this.latencyMs - now;
  }

  /** Writes `bytes` to `out` through the link, in pieces of `pieceBytes`. */
  async write(out: Writable, bytes: Uint8Array, pieceBytes = 16384): Promise<void> {
    for (let at = 0; at < bytes.length; at += pieceBytes) {
      const piece = bytes.subarray(at, Math.min(at + pieceBytes, bytes.length));
      const wait = this.schedule(piece.length);
      if (wait >= 1) await sleep(wait); // timers are ms-grained: shorter waits are batched
      if (out.destroyed) return;
      if (!out.write(piece)) await drained(out);
    }
  }
}

/** Resolves on 'drain', or when the stream closes or fails (the caller checks `destroyed`). */
export async function drained(out: Writable): Promise<void> {
  const ac = new AbortController();
  try {
    await Promise.race([once(out, 'drain', { signal: ac.signal }), once(out, 'close', { signal: ac.signal })]);
  } catch {
    // an 'error' event rejects once(): the caller sees `destroyed`
  } finally {
    ac.abort();
  }
}
