import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KvwireError } from '../errors.js';
import { encodeCard, presetPrecision } from '../card/index.js';
import { TEST_MODEL, testCache } from '../card/fixtures.js';
import { CardStore, fetchCard, parseRange, serveCard, type Service, createService, CardUploads, sendCard, LinkShaper, createDelayRelay } from './index.js';

const cache = testCache({ layers: 4, kvHeads: 2, headDim: 16 }, 300, 9);
const card = encodeCard(cache, { model: TEST_MODEL, precision: presetPrecision('int8', 300) });
const corrupt = card.bytes.slice();
corrupt[corrupt.length - 500] ^= 4;

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof KvwireError && e.code === code ? true : assert.fail(`got ${(e as Error).message}`));
}

describe('card transport over loopback HTTP', () => {
  let service: Service;
  let stalls = 0;
  let makes = 0;
  before(async () => {
    const store = new CardStore();
    store.put(card);
    service = await createService(async (req, res, url) => {
      const cut = url.searchParams.get('cut');
      if (url.pathname === `/cards/${card.digest}`) {
        // ?cut=N breaks the first connection after N bytes (requests without Range)
        return serveCard(req, res, store.get(card.digest)!, { cutAfterBytes: cut && !req.headers.range ? Number(cut) : undefined, pieceBytes: 4096 });
      }
      if (url.pathname === '/make' && req.method === 'POST') { // a card made on request; the first request is cut before any reply
        if (makes++ === 0) return void req.socket.destroy();
        return serveCard(req, res, card, { headers: { 'content-location': `/cards/${card.digest}` } });
      }
      if (url.pathname === '/corrupt') return serveCard(req, res, { bytes: corrupt, digest: card.digest });
      if (url.pathname === '/shaped') return serveCard(req, res, card, { shaper: new LinkShaper({ rateBitsPerSec: 2e8, latencyMs: 3 }) });
      if (url.pathname === '/stall') { // headers, a few bytes, then silence
        stalls++;
        res.writeHead(200, { 'content-length': card.bytes.length });
        res.write(card.bytes.subarray(0, 100));
        return;
      }
      res.writeHead(404).end();
    });
  });
  after(() => service.close());

  it('fetches a card, decoding as it streams, and keeps its bytes', async () => {
    const got = await fetchCard(`${service.url}/cards/${card.digest}`, { expectModel: TEST_MODEL, keepBytes: true });
    assert.equal(got.card.digest, card.digest);
    assert.equal(got.attempts, 1);
    assert.ok(Buffer.from(got.bytes!).equals(Buffer.from(card.bytes)));
    assert.deepEqual(got.card.cache.positions, cache.positions);
  });

  it('resumes after a cut connection and yields the identical card', async () => {
    for (const cut of [1000, Math.floor(card.bytes.length / 2)]) {
      const layers: number[] = [];
      const got = await fetchCard(`${service.url}/cards/${card.digest}?cut=${cut}`, { keepBytes: true, onLayers: (e) => layers.push(e.from) });
      assert.equal(got.attempts, 2);
      assert.ok(got.receivedBytes > card.bytes.length - 1 || cut < 1100);
      assert.ok(Buffer.from(got.bytes!).equals(Buffer.from(card.bytes)), `bytes differ after a cut at ${cut}`);
      assert.equal(got.card.digest, card.digest);
      assert.deepEqual(layers, [0, 1, 2, 3]);
    }
  });

  it('repeats a POST that broke before any reply (there is nothing to resume yet)', async () => {
    const got = await fetchCard(`${service.url}/make`, { request: { method: 'POST', json: { compression: 'int8' } } });
    assert.equal(got.attempts, 2);
    assert.equal(got.card.digest, card.digest);
  });

  it('refuses a card over the size limit before reading it, and a corrupt card without retrying', async () => {
    await rejectsWith(fetchCard(`${service.url}/cards/${card.digest}`, { limits: { maxCardBytes: 1000 } }), 'CARD_LIMIT');
    await rejectsWith(fetchCard(`${service.url}/corrupt`), 'CARD_CORRUPT');
    await rejectsWith(fetchCard(`${service.url}/nothing`), 'TRANSPORT');
  });

  it('gives up on a stalled peer after the idle timeout and its retries', async () => {
    await rejectsWith(fetchCard(`${service.url}/stall`, { idleTimeoutMs: 150, retries: 1 }), 'TRANSPORT');
    assert.equal(stalls, 2);
  });

  it('delivers the same card through a link shaper and through a delay relay', async () => {
    assert.equal((await fetchCard(`${service.url}/shaped`)).card.digest, card.digest);
    const relay = await createDelayRelay({ targetHost: '127.0.0.1', targetPort: service.port, delayMs: 5 });
    try {
      assert.equal((await fetchCard(`http://127.0.0.1:${relay.port}/cards/${card.digest}`)).card.digest, card.digest);
    } finally {
      await relay.close();
    }
  });
});

describe('push mode (PUT /cards/<digest>)', () => {
  let service: Service;
  const received: string[] = [];
  before(async () => {
    const uploads = new CardUploads({ expectModel: TEST_MODEL }, (c) => { received.push(c.digest); return { digest: c.digest, tokens: c.cache.length }; });
    service = await createService(async (req, res, url) => uploads.handle(req, res, url.pathname.split('/')[2] ?? ''));
  });
  after(() => service.close());

  it('sends a card, and resumes a broken upload', async () => {
    assert.deepEqual((await sendCard(service.url, card)).reply, { digest: card.digest, tokens: 300 });
    const resumed = await sendCard(service.url, card, { cutAfterBytes: Math.floor(card.bytes.length * 0.6) });
    assert.equal(resumed.attempts, 2);
    assert.deepEqual(resumed.reply, { digest: card.digest, tokens: 300 });
    assert.deepEqual(received, [card.digest, card.digest]);
  });

  it('gets the receiver\'s typed refusal of a bad card', async () => {
    await rejectsWith(sendCard(service.url, { bytes: corrupt, digest: card.digest }), 'CARD_CORRUPT');
  });
});

describe('CardStore and Range', () => {
  it('evicts the least recently used card beyond its size', () => {
    const store = new CardStore(2500);
    const c = (d: string) => ({ bytes: new Uint8Array(1000), digest: d });
    store.put(c('a')); store.put(c('b'));
    store.get('a');
    store.put(c('c'));
    assert.ok(store.get('a') && store.get('c') && !store.get('b'));
  });

  it('parses single byte ranges', () => {
    assert.deepEqual(parseRange('bytes=10-', 100), { start: 10, end: 99 });
    assert.deepEqual(parseRange('bytes=10-20', 100), { start: 10, end: 20 });
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=1-2,5-6', 100), null);
    assert.equal(parseRange(undefined, 100), null);
  });
});
