/**
 * A TCP relay that delays every byte by a fixed time in each direction. scripts/netns.sh shapes
 * the *rate* of a veth link in the kernel (tbf); it adds the link's *latency* with netem when the
 * kernel has it (sch_netem), and otherwise the benchmark runs this relay in the sharer's
 * namespace, in front of the sharer: receiver -> [veth, tbf rate] -> relay (+d each way) -> sharer.
 * It preserves order and applies backpressure (a side that is not read is paused); unlike netem
 * it delays data, not TCP acknowledgements, so TCP's own round trip stays short (slow start is
 * not slowed the way a real 20 ms path would slow it).
 *
 *   node dist/transport/delay-relay.js --listen 10.77.0.1:9100 --target 127.0.0.1:9000 --delay-ms 10
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

export interface DelayRelay {
  port: number;
  close(): Promise<void>;
}

/** Bytes queued in one direction before its source is paused. */
const HIGH_WATER = 8 << 20;

export async function createDelayRelay(options: { host?: string; port?: number; targetHost: string; targetPort: number; delayMs: number }): Promise<DelayRelay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(options.targetPort, options.targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
    }
    const kill = () => { client.destroy(); upstream.destroy(); };
    pipeDelayed(client, upstream, options.delayMs, kill);
    pipeDelayed(upstream, client, options.delayMs, kill);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Copies `from` to `to`, each chunk `delayMs` after it arrived, in order. */
function pipeDelayed(from: net.Socket, to: net.Socket, delayMs: number, kill: () => void): void {
  const queue: Array<{ at: number; data: Buffer | null }> = [];
  let queued = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    timer = null;
    const now = performance.now();
    while (queue.length && queue[0].at <= now) {
      const { data } = queue.shift()!;
      if (data === null) {
        to.end();
        return;
      }
      queued -= data.length;
      if (!to.destroyed && !to.write(data)) from.pause();
    }
    if (queued < HIGH_WATER / 2 && !to.writableNeedDrain && from.isPaused()) from.resume();
    if (queue.length) timer = setTimeout(flush, Math.max(0, queue[0].at - performance.now()));
  };
  const push = (data: Buffer | null) => {
    queue.push({ at: performance.now() + delayMs, data });
    if (data) queued += data.length;
    if (queued > HIGH_WATER) from.pause();
    timer ??= setTimeout(flush, delayMs);
  };
  from.on('data', (d: Buffer) => push(d));
  from.on('end', () => push(null));
  from.on('error', kill);
  to.on('error', kill);
  to.on('drain', () => { if (queued < HIGH_WATER / 2) from.resume(); });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, target: { type: 'string' }, 'delay-ms': { type: 'string', default: '10' } } });
  const split = (s: string | undefined, what: string) => {
    const m = /^(.*):(\d+)$/.exec(s ?? '');
    if (!m) throw new Error(`--${what} HOST:PORT is required`);
    return { host: m[1], port: Number(m[2]) };
  };
  const listen = split(values.listen, 'listen');
  const target = split(values.target, 'target');
  const relay = await createDelayRelay({ host: listen.host, port: listen.port, targetHost: target.host, targetPort: target.port, delayMs: Number(values['delay-ms']) });
  process.stdout.write(JSON.stringify({ relay: { port: relay.port } }) + '\n');
  const stop = () => { void relay.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1]?.endsWith('delay-relay.js')) {
  main().catch((e) => {
    process.stderr.write(`delay-relay: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
