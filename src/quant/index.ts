/**
 * quant/: quantizers with real bit packing for KV-cache sections (see README.md for layouts).
 */

// Specs and the byte layout (one definition for encoder, decoder and byte accounting).
export {
  type QuantSpec, type FloatSpec, type CodeSpec, type QuantFormat, type SectionLayout, type SectionBytes, isFloatSpec,
  FORMAT_BITS, NF4_CODEBOOK, NF4_HALF_GAP, validateSpec, sectionLayout, sectionBytes, specLabel,
} from './spec.js';

// One [rows, cols] section: encode / decode / fake-quant and the guaranteed error bounds.
export { type QuantizedSection, encode, encodeInto, decode, fakeQuantize, errorBounds, maxError, checkSection } from './codec.js';

// Whole-array float32 <-> fp16 (little-endian bytes), exact round to nearest even.
export { floatsToHalves, halvesToFloats } from './fp16-kernels.js';

// Bit packing (low bits first, row-major), exposed for containers that repack codes.
export { packCodes, unpackCodes } from './pack.js';

// Whole KvCache: per layer, per KV head; KIVI pairing with an fp16 recent window.
export {
  type CacheQuantOptions, type QuantizedCache, type QuantizedHead,
  kivi, quantizeCache, dequantizeCache, fakeQuantizeCache, quantizedCacheBytes,
} from './cache.js';

// Seeded random numbers for tests and benchmarks.
export { createRng, fillNormal } from '../util/random.js';
