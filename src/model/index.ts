export { loadModel, fingerprint, type ModelSpec, type ModelFingerprint, type LoadOptions } from './load.js';
export { parseHfConfig, ropeInverseFrequencies, FAMILIES, type ModelConfig, type Family, type RopeScaling } from './config.js';
export { expectedWeights, type WeightMap, type WeightSpec } from './weights.js';
export type { TextTokenizer } from './tokenizer.js';
export { readSafetensorsHeader, readTensorAsFloat32, encodeSafetensors, type TensorInfo } from './safetensors.js';
