/**
 * plan/: budget -> plan (which tokens, which precision per layer and token) with exact byte
 * accounting, and the sender/receiver halves applyPlan / materialize. See README.md.
 */

// Plan data: actions, class codings, per-layer plans, byte counts, packed sections.
export {
  type Action, type KeepAction, type ClassCoding, type LayerPlan, type PlanBytes, type Plan, type Budget, type PackedSection,
  type PackedPlan, KEEP_ACTIONS, DROPPED,
} from './types.js';

// Byte layout of a plan's metadata (one definition for counting, writing and reading).
export {
  HEADER_BYTES, SPEC_BYTES, PLAN_VERSION, type IndexEncoding, type DecodedDescriptor, indexEncoding, mapBits, sectionRows, planBytes,
  encodeDescriptor, decodeDescriptor, encodeIndices, decodeIndices, encodeClassMap, decodeClassMap,
} from './layout.js';

// Codings, budgets, schedules and plans from a selection.
export {
  BASELINE_NAMES, type BaselineName, type LayerSchedule, groupFor, actionCoding, baselineCoding, fp16Bytes, metadataFloor,
  resolveBudget, fp16Layers, planSelection,
} from './codings.js';

// Rate–distortion allocation and the budget front door.
export { type ValueSpaceHook, type RdOptions, allocateRd } from './rd.js';
export { type PlannerOptions, planBudget } from './planner.js';

// Sender and receiver halves.
export { makePlan, applyPlan, packedByteLength, materialize, sameSpec } from './apply.js';

// Bottleneck-layer diagnosis.
export { type Probe, type LayerDiagnosis, type DiagnoseOptions, quantizeOneLayer, quantizeAllBut, diagnoseLayers } from './diagnose.js';
