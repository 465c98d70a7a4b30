/** Reading JSON Lines data files with errors that name the file and line. */
import { readFileSync } from 'node:fs';
import { KvwireError } from '../../errors.js';
import { dataPath } from '../../util/data.js';

/** Every non-empty line of `relative` (inside the data folder) parsed as a JSON object. */
export function readJsonl(relative: string): Array<Record<string, unknown>> {
  const path = dataPath(relative);
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: Array<Record<string, unknown>> = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw new KvwireError('BAD_FORMAT', `${path}:${i + 1}: not valid JSON`, { path, cause });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new KvwireError('BAD_FORMAT', `${path}:${i + 1}: expected a JSON object per line`, { path });
    }
    out.push(value as Record<string, unknown>);
  });
  return out;
}

/** `record[field]` as a string, or BAD_FORMAT naming the file, line and field. */
export function stringField(record: Record<string, unknown>, field: string, where: string): string {
  const v = record[field];
  if (typeof v !== 'string') throw new KvwireError('BAD_FORMAT', `${where}: field "${field}" must be a string, got ${JSON.stringify(v)?.slice(0, 60)}`, { path: field });
  return v;
}
