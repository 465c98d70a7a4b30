export { KvCache, type KvShape } from './kv-cache.js';
export { FloatPool } from './float-pool.js';
