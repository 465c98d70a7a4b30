/**
 * kvwire's public API, by stage of the data flow (see ../shared/DESIGN.md and the README).
 * Each group comes from one module folder; the folders' own index.ts files hold the details.
 */

// Errors: one type, with a `code` programs can switch on.
export { KvwireError, type KvwireErrorCode } from './errors.js';

// Models: checkpoints (Hugging Face folders, llama2.c) -> ModelSpec, and fingerprints.
export { loadModel, fingerprint, parseHfConfig, FAMILIES, type ModelSpec, type ModelConfig, type ModelFingerprint,
  type Family, type TextTokenizer, type LoadOptions } from './model/index.js';

// Engine: sessions with explicit positions, sparse-cache injection and attention probabilities.
export { Session, Sequence, WorkerSession, RemoteSequence, createSampler, type SessionOptions, type PrefillOptions,
  type PrefillResult, type GenerateOptions, type GenerateResult, type AttentionProbs, type SamplingOptions } from './engine/index.js';

// KV cache: per layer K and V as float32 (kvHeads, T, headDim), with positions and token ids.
export { KvCache, type KvShape } from './kv/index.js';

// Quantization: INT8/INT4/INT2/NF4 with real bit packing, KIVI.
export * as quant from './quant/index.js';

// Evaluation: the task suite and full-cache task runs.
export * as tasks from './eval/tasks/index.js';
export { runTask, type TaskRunOptions, type TaskRunResult } from './eval/run-task.js';
export { wilsonInterval } from './eval/stats.js';
