/**
 * card/: the CacheCard container (docs/cachecard.md): a versioned, chunked, checksummed, optionally
 * signed binary form of a (quantized, selected) KV cache, bound to the sharer model's fingerprint.
 */

// Writing: cache + precision plan -> bytes; exact size without writing.
export { encodeCard, createCardWriter, cardBytes, type EncodeCardOptions, type EncodedCard, type CardWriter } from './encode.js';

// Reading untrusted bytes: streaming (layers as they arrive) or all at once.
export { CardDecoder, decodeCard, type CardDecoderOptions, type LayerEvent } from './decode.js';
export { FloatPool } from '../kv/index.js';

// Precision plans: named presets (fp32 … int2, KIVI pairing) with an optional fp16 recent window.
export { PRESETS, presetSpecs, presetPrecision, isPreset, type PresetName } from './precision.js';

// Types: model binding, precision, limits, decode results.
export { DEFAULT_LIMITS, precisionTable, type CardModel, type CardPrecision, type CardLimits, type CardInfo, type DecodedCard } from './types.js';

// Cross-model cards: the FUSION section (receiver, fuser digest, carried sharer layers).
export { encodeFusion, readFusion, fusionLength, FUSION_PROTOCOLS, FUSION_FLAG_BOS_DROPPED, type FusionSection, type FusionProtocol } from './fusion.js';

// The layout definition itself (for tools, docs tests and other implementations' test vectors).
export {
  CARD_HEADER, SECTION_HEADER, LAYOUT, DROPPED, PLAN_HEADER, SPEC_ENTRY, CHUNK_HEADER, KIND, MAGIC, VERSION_MAJOR, VERSION_MINOR, FUSION_VERSION_MINOR,
  kindName, type Struct, type Field,
} from './layout.js';
