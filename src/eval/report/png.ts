/**
 * A minimal PNG reader (8-bit grey, RGB or RGBA, not interlaced: what Chromium's screenshots
 * are), enough for tests to check that a rendered page is not blank.
 */
import { inflateSync } from 'node:zlib';
import { KvwireError } from '../../errors.js';

export interface Image {
  width: number;
  height: number;
  /** Channels per pixel (1, 3 or 4). */
  channels: number;
  /** Row-major pixels, `channels` bytes each. */
  data: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export function decodePng(png: Uint8Array): Image {
  const bad = (why: string): never => {
    throw new KvwireError('BAD_FORMAT', `PNG: ${why}`);
  };
  if (png.length < 8 || SIGNATURE.some((b, i) => png[i] !== b)) bad('bad signature');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (at + 8 <= png.length) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const body = png.subarray(at + 8, at + 8 + len);
    if (body.length !== len) bad(`chunk ${type} is truncated`);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const [depth, color, , , interlace] = body.subarray(8, 13);
      channels = ({ 0: 1, 2: 3, 6: 4 } as Record<number, number>)[color] ?? 0;
      if (depth !== 8 || !channels || interlace !== 0) bad(`unsupported bit depth ${depth} / colour type ${color} / interlace ${interlace}`);
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  if (!width || !height) bad('no IHDR');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) bad('image data is truncated');
  const data = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = data.subarray(y * stride, (y + 1) * stride);
    const prev = y ? data.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels] : 0;
      const b = prev[x];
      const c = x >= channels ? prev[x - channels] : 0;
      let v: number;
      switch (filter) {
        case 0: v = src[x]; break;
        case 1: v = src[x] + a; break;
        case 2: v = src[x] + b; break;
        case 3: v = src[x] + ((a + b) >> 1); break;
        case 4: {
          const p = a + b - c;
          const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
          v = src[x] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default: return bad(`unknown filter ${filter} in row ${y}`);
      }
      row[x] = v & 255;
    }
  }
  return { width, height, channels, data };
}

/** Fraction of pixels that differ from the most common colour (0 for a blank page). */
export function inkFraction(img: Image): number {
  const counts = new Map<number, number>();
  const n = img.width * img.height;
  const key = (i: number) => {
    let k = 0;
    for (let c = 0; c < Math.min(3, img.channels); c++) k = k * 256 + img.data[i * img.channels + c];
    return k;
  };
  for (let i = 0; i < n; i++) counts.set(key(i), (counts.get(key(i)) ?? 0) + 1);
  return 1 - Math.max(...counts.values()) / n;
}
