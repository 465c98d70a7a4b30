/**
 * agent/: sharer and receiver agents, the handoff between them, baselines and multi-hop chains.
 */

// In-process agents over a Session.
export { Sharer, type SharerOptions, type SharedContext, type CardResult } from './sharer.js';
export { Receiver, type ReceiverOptions, type CardSource, type AnswerOptions, type Answer } from './receiver.js';

// Cross-model cards (FUSION section): the sharer's half (the receiver's is Receiver with `fusers`).
export { encodeFusedCard, type FusedCardOptions } from './fusion.js';

// What a sharer sends, by name (precision, selector, rate–distortion plan).
export { parseCompression, lookaheadFor, compress, precisionFromPlan, type Compression, type Compressed } from './compression.js';

// Multi-hop chains A -> B -> C ... (each hop re-encodes what it received plus what it added).
export { runChain, splitRanges, type ChainOptions, type ChainResult } from './chain.js';

// Agents as services: a worker with the model, the HTTP routes, and agents as child processes.
export { AgentHost } from './agent-host.js';
export { loadAgentModel, type HostConfig } from './models.js';
export { createAgentService, agentOps, serveLines, type AgentService, type AgentServiceOptions, type Ops } from './service.js';
export { createAgentProcess, type AgentProcess, type SpawnOptions } from './spawn.js';
