/**
 * transport/: moving cards between agents over HTTP (node:http), and emulated links.
 */

// Serving: a bounded card store and streaming with Range/If-Range resume and backpressure.
export { CardStore, serveCard, parseRange, CARD_MIME, type StoredCard, type ServeOptions } from './card-server.js';

// Fetching: streaming decode while bytes arrive, resume from the last verified section.
export { fetchCard, type FetchCardOptions, type FetchedCard } from './card-client.js';

// Push mode: PUT /cards/<digest> with resumable uploads.
export { CardUploads, sendCard, type SendCardOptions } from './upload.js';

// Links: an in-process shaper (rate, latency) and a TCP delay relay (for kernels without netem).
export { LinkShaper, LINKS, drained, type LinkSpec } from './shaper.js';
export { createDelayRelay, type DelayRelay } from './delay-relay.js';
export { createEmulatedLink, canEmulateLinks, type EmulatedLink } from './netns.js';

// HTTP plumbing shared with the agents.
export { createService, sendJson, readJson, postJson, fetchBytes, remoteError, type Service, type ServiceOptions, type Handler } from './http.js';
