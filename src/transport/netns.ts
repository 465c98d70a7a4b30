/**
 * Emulated links for benchmarks, in the kernel: scripts/netns.sh makes two network namespaces
 * (sharer 10.77.0.1, receiver 10.77.0.2) joined by a veth pair shaped to a rate, with netem's
 * delay when the kernel has it. Without netem, `relay(port)` starts the TCP delay relay
 * (delay-relay.ts) in the sharer's namespace and returns the port to connect to instead.
 * createEmulatedLink / close (which removes the namespaces).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvwireError } from '../errors.js';
import { repoRoot } from '../util/data.js';

const SCRIPT = join(repoRoot, 'scripts', 'netns.sh');
const RELAY = fileURLToPath(new URL('./delay-relay.js', import.meta.url));

export interface EmulatedLink {
  rate: string;
  delayMs: number;
  /** Whether the kernel applied the delay (netem); otherwise use `relay`. */
  netem: boolean;
  sharerIp: string;
  receiverIp: string;
  /** Command prefix that runs a program in the sharer's ('s') or receiver's ('r') namespace. */
  prefix(side: 's' | 'r'): string[];
  /** The port a receiver connects to for a sharer on `port`: the port itself with netem, else a delay relay's. */
  relay(port: number): Promise<number>;
  /** Changes the rate in place (the namespaces, processes and relays stay). */
  reshape(rate: string): void;
  close(): Promise<void>;
}

/** Whether this process can make namespaces (root, iproute2). */
export function canEmulateLinks(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('sh', ['-c', 'command -v ip && command -v tc'], { stdio: 'ignore' }).status === 0;
}

export async function createEmulatedLink(rate: string, delayMs = 10, prefix = 'kvw'): Promise<EmulatedLink> {
  const env = { ...process.env, KVWIRE_NETNS_PREFIX: prefix };
  const up = spawnSync(SCRIPT, ['up', rate, String(delayMs)], { encoding: 'utf8', env });
  if (up.status !== 0) throw new KvwireError('TRANSPORT', `scripts/netns.sh up ${rate} failed: ${up.stderr.trim()}`);
  const line = /KVWIRE_NETNS (.*)/.exec(up.stdout)?.[1] ?? '';
  const field = (k: string) => new RegExp(`${k}=(\\S+)`).exec(line)?.[1] ?? '';
  const relays: ChildProcess[] = [];
  const ns = (side: 's' | 'r') => ['ip', 'netns', 'exec', `${prefix}-${side}`];
  const netem = field('netem') !== 'no';
  const link: EmulatedLink = {
    rate, delayMs, netem, sharerIp: field('sharer'), receiverIp: field('receiver'), prefix: ns,
    async relay(port) {
      if (netem || delayMs === 0) return port;
      const [cmd, ...args] = [...ns('s'), process.execPath, RELAY, '--listen', `${field('sharer')}:0`, '--target', `127.0.0.1:${port}`, '--delay-ms', String(delayMs)];
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      relays.push(child);
      return new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"port":(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', (code) => reject(new KvwireError('TRANSPORT', `delay relay exited (${code})`)));
      });
    },
    reshape(r) {
      const res = spawnSync(SCRIPT, ['shape', r, String(delayMs)], { encoding: 'utf8', env });
      if (res.status !== 0) throw new KvwireError('TRANSPORT', `scripts/netns.sh shape ${r} failed: ${res.stderr.trim()}`);
      link.rate = r;
    },
    async close() {
      for (const r of relays) r.kill('SIGTERM');
      spawnSync(SCRIPT, ['down'], { env, stdio: 'ignore' });
    },
  };
  return link;
}
