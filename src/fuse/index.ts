/**
 * fuse/: cross-model cache fusion (C2C), see README.md. Token alignment between tokenizers,
 * layer pairing, the training-free ridge fuser (fit, save, load), the question-only and
 * receiver-side fusion protocols, and the Quantized-C2C sender (selection, RD, exact bytes).
 */

// Alignment between tokenizers, and layer pairing.
export { tokenSpans, mapDecoded, type TokenSpans } from './offsets.js';
export { alignSpans, alignText, invertAlignment, ALIGN_POLICIES, type AlignPolicy } from './align.js';
export { pairLayers, usedSharerLayers, LAYER_PAIRINGS, type LayerPairing } from './layers.js';

// RoPE removal / re-application on cached keys.
export { rotateKeys, unrope, rerope } from './rope.js';

// Ridge regression from streamed statistics.
export { RidgeStats, solveRidge, sumSquaredError, totalSumOfSquares, applyMap, cholesky, choleskySolve, type LinearMap } from './ridge.js';

// The fuser: shapes, projection, gating; files; which fuser serves a pair.
export {
  type LinearFuser, type Fuser, type FuserKind, FUSER_KINDS, type FuserLayer, type FuserGroup, type FuserModelInfo, type FuserMode, type FuserInputs,
  projectLayer, gateMix, headGroups, fuserParameters, fuserMacsPerToken,
} from './fuser.js';
export { encodeFuser, saveFuser, loadFuser, FUSER_FORMAT_VERSION } from './io.js';
export { fuserFor, checkFuser, loadFusers, type ModelIdentity } from './registry.js';
export { c2cProjectLayer, c2cParameters, c2cMacs, type C2CLayer } from './c2c.js';
export { buildC2CGraph, c2cProjectGraph, releaseC2CGraphs } from './c2c-graph.js';
export { exportC2CData, c2cExample, type C2CExample, type C2CExportOptions } from './c2c-data.js';
export { encodeFusionSection, decodeFusionSection, fusionSectionFor, fuserForCard, fuserFileDigest, FUSION_SECTION_KIND, type FusionSection } from './fusion-section.js';

// Fitting on calibration text, and the gates.
export { taskCalibration, textCalibration, DEFAULT_CALIB_TASKS, type CalibItem } from './calib.js';
export { fitLinearFuser, modelInfo, DEFAULT_ALPHAS, type FitOptions, type FitReport } from './fit.js';
export { chooseGates, reconGates, GATE_OBJECTIVES, type GateObjective, type GateProtocol, type GateReport } from './gate.js';

// The protocol: what is sent, and the receiver's cache (question-only and receiver-side fusion).
export {
  transmittedCache, transmittedLayers, projectReceived, projectReceivedFast, fuseSlots, slotLayout, receiverPrefix, receiverCache, fuseIntoReceiver,
  contentStart, checkReceiver, type Projected,
} from './protocol.js';

// Sender-side decisions in the receiver's value space, and exact-byte transmission.
export { receiverValueSpace, selectSent, valueSpaceHook, regridToSharer, priorValues, RECEIVER_SELECTORS, type CrossSelectOptions } from './space.js';
export { transmit, receivePacked, type TransmitOptions, type Transmission, type FuseBytes } from './transmit.js';

// One example through a cross-model path or a baseline (the sweep's 'c2c' runner, kvwire fuse-eval).
export { runCross, CROSS_MODES, PROTOCOLS, type CrossMode, type Protocol, type CrossExample, type CrossOptions, type CrossOutcome } from './evaluate.js';
