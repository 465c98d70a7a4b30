/**
 * makePlan (check a plan and count its bytes), applyPlan (cache -> packed sections) and
 * materialize (packed -> the receiver's KvCache, dequantized and gathered).
 */
import { KvwireError, ensure } from '../errors.js';
import { KvCache, type KvShape } from '../kv/index.js';
import { decode, encode, isFloatSpec, validateSpec, type QuantSpec } from '../quant/index.js';
import {
  decodeClassMap, decodeDescriptor, decodeIndices, encodeClassMap, encodeDescriptor, encodeIndices, planBytes, sectionRows,
} from './layout.js';
import { DROPPED, type LayerPlan, type PackedPlan, type PackedSection, type Plan } from './types.js';

/** Checks a plan's parts against the cache and returns it with its exact byte count. */
export function makePlan(cache: KvCache, kept: Int32Array, layers: LayerPlan[]): Plan {
  const T = cache.length;
  const n = kept.length;
  for (let t = 1; t < T; t++) {
    ensure(cache.positions[t] === cache.positions[0] + t, 'CACHE_MISMATCH',
      `plan: the source cache's positions must be consecutive (position[${t}] = ${cache.positions[t]}, expected ${cache.positions[0] + t}); plan from the dense cache`);
  }
  kept.forEach((t, i) => ensure(Number.isInteger(t) && t >= 0 && t < T && (i === 0 || t > kept[i - 1]), 'BAD_ARGUMENT',
    `plan: kept[${i}] = ${t} must be an increasing index in 0..${T - 1}`));
  ensure(layers.length === cache.layers, 'BAD_ARGUMENT', `plan: ${layers.length} layer plans for ${cache.layers} layers`);
  layers.forEach((layer, l) => {
    ensure(layer.classes.length >= 1 && layer.classes.length <= 16, 'BAD_ARGUMENT', `plan: layer ${l} has ${layer.classes.length} classes (1..16)`);
    for (const c of layer.classes) { validateSpec(c.keys); validateSpec(c.values); }
    if (!layer.map) return;
    const expected = layer.map.scope === 'token' ? n : cache.kvHeads * n;
    ensure(layer.map.classOf.length === expected, 'BAD_ARGUMENT', `plan: layer ${l}'s class map has ${layer.map.classOf.length} entries, expected ${expected}`);
    layer.map.classOf.forEach((c, i) => ensure(c < layer.classes.length || c === DROPPED, 'BAD_ARGUMENT',
      `plan: layer ${l} class map entry ${i} is ${c}, not a class (0..${layer.classes.length - 1}) or DROPPED`));
  });
  return {
    shape: cache.shape, length: T, firstPosition: T ? cache.positions[0] : 0, kept: kept.slice(), layers,
    bytes: planBytes(cache.shape, T, n, layers),
  };
}

/** Whether two specs code the same way (key order and absent fields aside). */
export function sameSpec(a: QuantSpec, b: QuantSpec): boolean {
  const key = (s: QuantSpec) => (isFloatSpec(s) ? s.format : `${s.format}/${s.scheme}/${s.axis}/${s.group ?? 0}`);
  return key(a) === key(b);
}

/** The kept rows of (layer, class c, head h), as indices into `kept`. */
function rowsOf(layer: LayerPlan, c: number, h: number, n: number): number[] {
  if (!layer.map) return c === 0 ? Array.from({ length: n }, (_, i) => i) : [];
  const { scope, classOf } = layer.map;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (classOf[scope === 'token' ? i : h * n + i] === c) out.push(i);
  return out;
}

/** Quantizes and packs the kept rows of `cache` as `plan` says. */
export function applyPlan(cache: KvCache, plan: Plan): PackedPlan {
  ensure(cache.length === plan.length && cache.layers === plan.shape.layers && cache.kvHeads === plan.shape.kvHeads && cache.headDim === plan.shape.headDim,
    'CACHE_MISMATCH', `applyPlan: the plan is for ${plan.length} tokens of shape ${JSON.stringify(plan.shape)}, the cache has ${cache.length} of ${JSON.stringify(cache.shape)}`);
  const { kvHeads: KV, headDim: D } = cache;
  const T = cache.length;
  const n = plan.kept.length;
  const sections: PackedSection[] = [];
  plan.layers.forEach((layer, l) => {
    layer.classes.forEach((coding, c) => {
      for (let h = 0; h < KV; h++) {
        const rows = rowsOf(layer, c, h, n);
        if (rows.length === 0) continue;
        for (const kind of ['keys', 'values'] as const) {
          const src = cache[kind][l];
          const data = new Float32Array(rows.length * D);
          rows.forEach((i, r) => {
            const at = (h * T + plan.kept[i]) * D;
            data.set(src.subarray(at, at + D), r * D);
          });
          const spec = kind === 'keys' ? coding.keys : coding.values;
          sections.push({ layer: l, cls: c, head: h, kind, section: encode(spec, data, rows.length, D, `${kind}[layer ${l}, class ${c}, head ${h}]`) });
        }
      }
    });
  });
  return {
    descriptor: encodeDescriptor(T, n, plan.firstPosition, plan.layers),
    indices: encodeIndices(T, plan.kept),
    classMaps: plan.layers.map((layer) => (layer.map ? encodeClassMap(layer.map.classOf, layer.classes.length) : new Uint8Array(0))),
    sections,
  };
}

/** Total bytes of a packed plan: descriptor, indices, class maps, codes, scales and zeros. */
export function packedByteLength(p: PackedPlan): number {
  let total = p.descriptor.length + p.indices.length;
  for (const m of p.classMaps) total += m.length;
  for (const { section: s } of p.sections) total += s.codes.length + 2 * s.scales.length + 2 * (s.zeros?.length ?? 0);
  return total;
}

/**
 * The receiver's side: rebuilds the kept tokens' K and V (dequantized) from the packed plan,
 * reading only its bytes and sections. Positions are the original ones (firstPosition + index),
 * so the result is injected with nextPosition = length. Token ids do not travel: they are -1.
 * `absent` (per layer, (kvHeads, n), 1 = not sent in that head) is null unless some class map
 * has DROPPED entries; those rows are zero.
 */
export function materialize(packed: PackedPlan, shape: KvShape): { cache: KvCache; absent: Uint8Array[] | null; length: number } {
  const d = decodeDescriptor(packed.descriptor);
  const { kvHeads: KV, headDim: D } = shape;
  const fail = (what: string) => new KvwireError('BAD_FORMAT', `materialize: ${what}`);
  if (d.layers.length !== shape.layers) throw fail(`descriptor has ${d.layers.length} layers, the model ${shape.layers}`);
  if (packed.classMaps.length !== shape.layers) throw fail(`${packed.classMaps.length} class maps for ${shape.layers} layers`);
  const n = d.kept;
  const kept = decodeIndices(d.length, n, d.indexEncoding, packed.indices);
  let absent: Uint8Array[] | null = null;
  let next = 0;
  const zeros = () => Array.from({ length: shape.layers }, () => new Float32Array(KV * n * D));
  const keys = zeros();
  const values = zeros();
  d.layers.forEach((desc, l) => {
    const count = desc.mapScope === 0 ? 0 : desc.mapScope === 1 ? n : KV * n;
    const classOf = desc.mapScope === 0 ? null : decodeClassMap(packed.classMaps[l], count, desc.classes.length);
    if (!classOf && packed.classMaps[l].length) throw fail(`layer ${l} has a class map but its descriptor says none`);
    const layer: LayerPlan = { classes: desc.classes, map: classOf ? { scope: desc.mapScope === 1 ? 'token' : 'head', classOf } : null };
    if (classOf && classOf.includes(DROPPED)) {
      absent ??= Array.from({ length: shape.layers }, () => new Uint8Array(KV * n));
      for (let h = 0; h < KV; h++) for (let i = 0; i < n; i++) absent[l][h * n + i] = classOf[desc.mapScope === 1 ? i : h * n + i] === DROPPED ? 1 : 0;
    }
    const expectedRows = sectionRows(layer, KV, n);
    desc.classes.forEach((coding, c) => {
      for (let h = 0; h < KV; h++) {
        const rows = rowsOf(layer, c, h, n);
        if (rows.length !== expectedRows[c][h]) throw fail(`row count mismatch in layer ${l} class ${c} head ${h}`);
        if (rows.length === 0) continue;
        for (const kind of ['keys', 'values'] as const) {
          const p = packed.sections[next++];
          const spec = kind === 'keys' ? coding.keys : coding.values;
          if (!p || p.layer !== l || p.cls !== c || p.head !== h || p.kind !== kind) throw fail(`section ${next - 1} should be ${kind} of layer ${l} class ${c} head ${h}`);
          if (p.section.rows !== rows.length || p.section.cols !== D || !sameSpec(p.section.spec, spec)) {
            throw fail(`section ${next - 1} (${kind} of layer ${l} class ${c} head ${h}) should be [${rows.length}, ${D}] coded ${JSON.stringify(spec)}`);
          }
          const data = decode(p.section);
          const dst = (kind === 'keys' ? keys : values)[l];
          rows.forEach((i, r) => dst.set(data.subarray(r * D, (r + 1) * D), (h * n + i) * D));
        }
      }
    });
  });
  if (next !== packed.sections.length) throw fail(`${packed.sections.length - next} sections left over`);
  const positions = Int32Array.from(kept, (t) => d.firstPosition + t);
  return { cache: new KvCache(shape, keys, values, positions, new Int32Array(n).fill(-1)), absent, length: d.length };
}
