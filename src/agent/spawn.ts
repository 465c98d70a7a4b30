/**
 * Starting agents as child processes (serve.ts) and talking to them over their stdin/stdout —
 * the channel that also reaches an agent inside another network namespace, where the caller has
 * no route to its HTTP port. createAgentProcess / close.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KvwireError, type KvwireErrorCode } from '../errors.js';
import type { CardModel } from '../card/index.js';

export interface AgentProcess {
  url: string;
  fingerprint: CardModel;
  /** Runs an operation (service.ts `agentOps`) in the agent. */
  call<T = any>(op: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

export interface SpawnOptions {
  /** Model path (see HostConfig.model); ignored with `storeOnly`. */
  model: string;
  /** A sharer without a model, serving adopted contexts bound to this fingerprint. */
  storeOnly?: CardModel;
  host?: string;
  port?: number;
  key?: string;
  /** Emulated link for everything the agent sends, e.g. { rate: '10mbit', latencyMs: 10 }. */
  link?: { rate?: string; latencyMs?: number };
  threads?: number;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'kvw-s'] to run it in a namespace. */
  prefix?: string[];
  /** Seconds to wait for the agent to serve (model loading can take a while). Default 300. */
  startTimeoutS?: number;
}

const SERVE = fileURLToPath(new URL('./serve.js', import.meta.url));

export async function createAgentProcess(options: SpawnOptions): Promise<AgentProcess> {
  const args = [SERVE, '--model', options.model, '--host', options.host ?? '127.0.0.1', '--port', String(options.port ?? 0),
    '--threads', String(options.threads ?? 2)];
  if (options.key) args.push('--key', options.key);
  if (options.storeOnly) args.push('--store-only', JSON.stringify(options.storeOnly));
  if (options.link?.rate) args.push('--link', options.link.rate);
  if (options.link?.latencyMs !== undefined) args.push('--latency-ms', String(options.link.latencyMs));
  const [cmd, ...pre] = options.prefix?.length ? options.prefix : [process.execPath];
  const child: ChildProcess = spawn(cmd, options.prefix?.length ? [...pre, process.execPath, ...args] : args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>();
  let nextId = 1;
  let buffered = '';
  let onReady: ((r: { url: string; fingerprint: CardModel }) => void) | null = null;
  const fail = (e: Error) => { for (const p of pending.values()) p.reject(e); pending.clear(); };
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let m: any;
      try { m = JSON.parse(line); } catch { continue; } // not ours (a library printing)
      if (m.ready) onReady?.(m.ready);
      else if (pending.has(m.id)) {
        const p = pending.get(m.id)!;
        pending.delete(m.id);
        if (m.error) p.reject(m.error.code ? new KvwireError(m.error.code as KvwireErrorCode, m.error.message) : new Error(m.error.message));
        else p.resolve(m.result);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then((code) => fail(new KvwireError('ENGINE', `agent process exited (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`)));
  const ready = await Promise.race([
    new Promise<{ url: string; fingerprint: CardModel }>((resolve) => { onReady = resolve; }),
    exited.then((code) => { throw new KvwireError('ENGINE', `agent process exited (${code}) before serving: ${stderr.trim().split('\n').slice(-3).join(' | ')}`); }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new KvwireError('ENGINE', `agent did not start within ${options.startTimeoutS ?? 300} s`)), (options.startTimeoutS ?? 300) * 1000).unref()),
  ]).catch(async (e) => { child.kill('SIGTERM'); throw e; });
  return {
    url: ready.url, fingerprint: ready.fingerprint,
    call: (op, body) => new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.stdin!.write(JSON.stringify({ id, op, body: body ?? {} }) + '\n');
    }),
    close: async () => {
      if (child.exitCode !== null) return;
      child.stdin!.end(); // the agent exits when its stdin closes
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
