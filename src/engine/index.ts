export { Session, Sequence, type SessionOptions, type ForwardOptions, type PrefillOptions, type PrefillResult,
  type GenerateOptions, type GenerateResult, type AttentionProbs } from './session.js';
export { createSampler, argmax, type SamplingOptions } from './sampling.js';
export { buildDecoderGraph, type GraphOptions, type WeightPrecision } from './graph.js';
export { WorkerSession, RemoteSequence } from './worker.js';
