export { KvCache, type KvShape } from './kv-cache.js';
