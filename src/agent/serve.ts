/**
 * An agent as a process: a worker with the model (host.ts) and the HTTP service (service.ts).
 *
 *   node dist/agent/serve.js --model PATH [--host 127.0.0.1] [--port 0] [--key K] [--link 10mbit]
 *                            [--latency-ms 10] [--threads 2] [--layer-group 1]
 *   node dist/agent/serve.js --store-only '<fingerprint JSON>'   a sharer of adopted contexts, no model
 *
 * Prints one line `{"ready": {"url", "fingerprint"}}` on stdout when it serves, then answers
 * `{id, op, body}` lines on stdin with `{id, result | error}` lines (see serveLines); exits when
 * stdin closes or on SIGTERM. `--model random:qwen2.5-0.5b` builds random weights with
 * Qwen2.5-0.5B's shapes (timing only).
 */
import { parseArgs } from 'node:util';
import { KvwireError } from '../errors.js';
import { AgentHost } from './agent-host.js';
import { createAgentService, serveLines } from './service.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    model: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' },
    key: { type: 'string' }, link: { type: 'string' }, 'latency-ms': { type: 'string' }, threads: { type: 'string', default: '2' },
    'layer-group': { type: 'string', default: '1' }, 'store-only': { type: 'string' },
  } });
  const storeOnly = values['store-only'] ? JSON.parse(values['store-only']) : undefined;
  if (!values.model && !storeOnly) throw new KvwireError('BAD_ARGUMENT', '--model is required');
  const rate = values.link ? parseRate(values.link) : undefined;
  const latencyMs = values['latency-ms'] ? Number(values['latency-ms']) : undefined;
  const agent = await AgentHost.create({
    model: values.model ?? '', key: values.key, session: { threads: Number(values.threads) }, layerGroup: Number(values['layer-group']), storeOnly,
  });
  const service = await createAgentService(agent, {
    host: values.host, port: Number(values.port), link: rate !== undefined || latencyMs !== undefined ? { rateBitsPerSec: rate, latencyMs } : undefined,
  });
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await service.close();
    await agent.dispose();
    process.exit(0);
  };
  process.on('SIGTERM', () => void close());
  process.on('SIGINT', () => void close());
  process.stdout.write(JSON.stringify({ ready: { url: service.url, fingerprint: agent.fingerprint } }) + '\n');
  await serveLines(service.ops, process.stdin, process.stdout);
  await close();
}

/** "10mbit", "1gbit", "500kbit" -> bits per second. */
export function parseRate(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)bit$/.exec(s.toLowerCase());
  if (!m) throw new KvwireError('BAD_ARGUMENT', `link rate must look like 10mbit, got "${s}"`);
  return Number(m[1]) * { k: 1e3, m: 1e6, g: 1e9 }[m[2] as 'k' | 'm' | 'g'];
}

if (process.argv[1]?.endsWith('serve.js')) {
  main().catch((e) => {
    process.stderr.write(`kvwire agent: ${e instanceof KvwireError ? `error [${e.code}]: ` : ''}${(e as Error)?.message ?? e}\n`);
    process.exit(1);
  });
}
