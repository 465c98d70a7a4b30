/**
 * Small HTTP helpers shared by the card server, the card client and the agents: a service with
 * timeouts and typed JSON errors, JSON bodies with a size cap, and a JSON client.
 * node:http only — no framework for a handful of routes.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvwireError, type KvwireErrorCode } from '../errors.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

export interface Service {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

export interface ServiceOptions {
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** A request must arrive whole (headers) within this (default 10 s). */
  headersTimeoutMs?: number;
  /** A socket idle this long is closed (default 60 s). */
  idleTimeoutMs?: number;
}

/** HTTP status for each error code a peer can cause. */
const STATUS: Partial<Record<KvwireErrorCode, number>> = {
  BAD_ARGUMENT: 400, FILE_NOT_FOUND: 404, CARD_CORRUPT: 422, CARD_UNSUPPORTED: 415, CARD_LIMIT: 413,
  CARD_MODEL: 409, CARD_SIGNATURE: 403, TRANSPORT: 502, CACHE_MISMATCH: 409, BAD_FORMAT: 422,
};

/** Starts a service; every thrown error becomes a JSON `{ error: { code, message } }` reply. */
export async function createService(handler: Handler, options: ServiceOptions = {}): Promise<Service> {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    try {
      await handler(req, res, url);
    } catch (e) {
      if (res.headersSent) {
        res.destroy(e as Error);
        return;
      }
      const code: KvwireErrorCode = e instanceof KvwireError ? e.code : 'ENGINE';
      sendJson(res, STATUS[code] ?? 500, { error: { code, message: (e as Error)?.message ?? String(e) } });
    }
  });
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.requestTimeout = 0; // card bodies on slow links may take minutes; idle sockets are timed out instead
  server.setTimeout(options.idleTimeoutMs ?? 60_000, (socket) => socket.destroy());
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`, port, server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Reads a JSON request body of at most `limit` bytes (BAD_ARGUMENT otherwise). */
export async function readJson<T = Record<string, unknown>>(req: IncomingMessage, limit = 1 << 20): Promise<T> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new KvwireError('BAD_ARGUMENT', `request body of ${declared} bytes exceeds ${limit}`);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) throw new KvwireError('BAD_ARGUMENT', `request body exceeds ${limit} bytes`);
    parts.push(chunk);
  }
  try {
    return (n ? JSON.parse(Buffer.concat(parts).toString('utf8')) : {}) as T;
  } catch {
    throw new KvwireError('BAD_ARGUMENT', 'request body is not JSON');
  }
}

/** Turns a peer's JSON error reply back into a KvwireError with the peer's code. */
export function remoteError(status: number, body: string, what: string): KvwireError {
  try {
    const e = JSON.parse(body)?.error;
    if (e?.code) return new KvwireError(e.code, `${what}: ${e.message}`);
  } catch {
    // not JSON: fall through
  }
  return new KvwireError('TRANSPORT', `${what}: HTTP ${status} ${body.slice(0, 200)}`);
}

/** GETs `url` and counts its body (discarded): how long a plain file takes over the link. */
export function fetchBytes(url: string, options: { timeoutMs?: number } = {}): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      if ((res.statusCode ?? 500) >= 400) {
        res.resume();
        return reject(new KvwireError('TRANSPORT', `GET ${url}: HTTP ${res.statusCode}`));
      }
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ bytes, ms: performance.now() - t0 }));
      res.on('error', (e) => reject(new KvwireError('TRANSPORT', `GET ${url}: ${e.message}`, { cause: e })));
    });
    req.setTimeout(options.timeoutMs ?? 600_000, () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new KvwireError('TRANSPORT', `GET ${url}: ${e.message}`, { cause: e })));
  });
}

/** POSTs JSON and returns the JSON reply; errors come back as the peer's KvwireError. */
export async function postJson<T = Record<string, unknown>>(url: string, body: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
  const text = JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const reply = Buffer.concat(parts).toString('utf8');
        if ((res.statusCode ?? 500) >= 400) return reject(remoteError(res.statusCode ?? 500, reply, `POST ${url}`));
        try {
          resolve(JSON.parse(reply) as T);
        } catch {
          reject(new KvwireError('TRANSPORT', `POST ${url}: reply is not JSON`));
        }
      });
      res.on('error', (e) => reject(new KvwireError('TRANSPORT', `POST ${url}: ${e.message}`, { cause: e })));
    });
    req.setTimeout(options.timeoutMs ?? 600_000, () => req.destroy(new Error(`no reply within ${options.timeoutMs ?? 600_000} ms`)));
    req.on('error', (e) => reject(e instanceof KvwireError ? e : new KvwireError('TRANSPORT', `POST ${url}: ${e.message}`, { cause: e })));
    req.end(text);
  });
}
