/**
 * Headless Chromium for checking reports: dump the DOM or take a screenshot of an HTML file, with
 * a fresh profile and everything that phones home switched off (no sandbox: CI runs as root).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KvwireError } from '../../errors.js';

/** $CHROMIUM, else the Debian package's /usr/bin/chromium, else chromium-browser; null if none. */
export function findChromium(): string | null {
  for (const p of [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return null;
}

export interface ChromiumRun {
  /** The serialized DOM after load (dump-dom). */
  dom?: string;
  /** PNG bytes (screenshot). */
  png?: Buffer;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio'];

function run(bin: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new KvwireError('ENGINE', `chromium failed: ${err.message}\n${stderr.slice(-2000)}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** Loads `htmlFile` in headless Chromium and returns its DOM and/or a screenshot. */
export async function renderInChromium(htmlFile: string, what: { dom?: boolean; screenshot?: { width: number; height: number } }, timeoutMs = 90_000): Promise<ChromiumRun> {
  const bin = findChromium();
  if (!bin) throw new KvwireError('FILE_NOT_FOUND', 'chromium not found: install it (apt-get install -y chromium) or set CHROMIUM');
  const url = pathToFileURL(htmlFile).href;
  const out: ChromiumRun = {};
  const profile = mkdtempSync(join(tmpdir(), 'kvwire-chromium-'));
  try {
    if (what.dom) out.dom = await run(bin, [...FLAGS, `--user-data-dir=${profile}`, '--dump-dom', url], timeoutMs);
    if (what.screenshot) {
      const png = join(profile, 'shot.png');
      await run(bin, [...FLAGS, `--user-data-dir=${profile}`, `--screenshot=${png}`, `--window-size=${what.screenshot.width},${what.screenshot.height}`, url], timeoutMs);
      out.png = readFileSync(png);
    }
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
  return out;
}
