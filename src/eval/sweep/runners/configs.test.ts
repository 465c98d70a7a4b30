/**
 * Every config under eval/configs names methods that have a runner, with settings the runners
 * accept: a typo'd selector or precision fails here, not an hour into a sweep.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../../util/data.js';
import { expandCells, getRunner, loadConfig } from '../index.js';
import './index.js';

test('every config under eval/configs validates with the built-in runners', () => {
  const dir = join(repoRoot, 'eval', 'configs');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 13, files.join(', '));
  for (const f of files) {
    const cells = expandCells(loadConfig(join(dir, f)));
    assert.ok(cells.length > 0, f);
    for (const cell of cells) assert.doesNotThrow(() => getRunner(cell.method).validate(cell), `${f}: ${cell.label}`);
  }
});
