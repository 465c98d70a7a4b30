import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { canEmulateLinks, createEmulatedLink } from './netns.js';

// Real namespaces need root and iproute2; elsewhere this is skipped. The prefix keeps it apart
// from a benchmark's namespaces (kvw-*) running at the same time.
describe('scripts/netns.sh emulated links', { skip: !canEmulateLinks() && 'needs root and iproute2' }, () => {
  it('carries bytes between the two namespaces it creates, through the delay relay, and cleans up', async () => {
    const link = await createEmulatedLink('100mbit', 5, 'kvwt');
    let server: ReturnType<typeof spawn> | undefined;
    try {
      const [cmd, ...args] = [...link.prefix('s'), process.execPath, '-e',
        "require('http').createServer((q,r)=>r.end(Buffer.alloc(300000))).listen(0,'0.0.0.0',function(){console.log(this.address().port)})"];
      server = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      const port = await new Promise<number>((resolve) => server!.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      const via = await link.relay(port);
      const [c2, ...a2] = [...link.prefix('r'), process.execPath, '-e',
        `require('http').get('http://${link.sharerIp}:${via}/',r=>{let n=0;r.on('data',c=>n+=c.length);r.on('end',()=>console.log(n))})`];
      const got = spawnSync(c2, a2, { encoding: 'utf8', timeout: 20_000 });
      assert.equal(got.stdout.trim(), '300000', got.stderr);
      link.reshape('10mbit');
    } finally {
      server?.kill();
      await link.close();
    }
    assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, /kvwt-/);
  });
});
