import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const bench = (name: string) => fileURLToPath(new URL(`./${name}.js`, import.meta.url));

describe('benchArgs (npm run bench:NAME -- ...)', () => {
  it('--help lists the options with their defaults and exits 0; an unknown option exits 2 with the list', () => {
    for (const name of ['codec', 'engine', 'handoff']) {
      const help = spawnSync(process.execPath, [bench(name), '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^usage: npm run bench:${name} -- \\[options\\]`));
      assert.match(help.stdout, /--threads VALUE +default 2|--tokens VALUE +default 4096/);
      const bad = spawnSync(process.execPath, [bench(name), '--no-such-option'], { encoding: 'utf8' });
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, new RegExp(`^bench:${name}: Unknown option '--no-such-option'`));
      assert.match(bad.stderr, /usage: npm run bench:/);
    }
  });
});
