import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../model/index.js';
import { repoRoot } from '../../util/data.js';
import { chatFormat, loadItems, plainFormat, promptFormatFor, splitTokens } from './index.js';

// ChatML, as Qwen's tokenizer_config.json writes it (system message omitted).
const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}";

/** A copy of the qwen3 fixture whose tokenizer_config.json carries `extra`. */
function fixtureWith(extra: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvwire-chat-'));
  cpSync(join(repoRoot, 'fixtures', 'qwen3'), dir, { recursive: true });
  const cfgPath = join(dir, 'tokenizer_config.json');
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), ...extra }));
  return dir;
}

test('plain format concatenates the parts', () => {
  const r = plainFormat.render({ shared: 'ctx', ask: '\nQ?', answerPrefix: '\nA:' });
  assert.deepEqual(r, { text: 'ctx\nQ?\nA:', sharedEnd: 3 });
});

test("a folder's chat template is used as it is, special tokens included", async () => {
  const dir = fixtureWith({ chat_template: CHATML });
  const spec = loadModel(dir);
  const format = await promptFormatFor(spec);
  assert.equal(format.style, 'chat');
  assert.equal(format.addBos, false);
  const { text, sharedEnd } = format.render({ shared: 'The sky is blue.', ask: '\nWhat color?', answerPrefix: '\nAnswer:' });
  assert.equal(text, '<|im_start|>user\nThe sky is blue.\nWhat color?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nAnswer:');
  assert.equal(text.slice(0, sharedEnd), '<|im_start|>user\nThe sky is blue.');
  // The tokenizer reads the template's special tokens as single ids.
  const { ids, split } = splitTokens(spec.tokenizer, text, sharedEnd, format.addBos);
  const imStart = spec.tokenizer.encode('<|im_start|>');
  assert.equal(imStart.length, 1);
  assert.equal(ids[0], imStart[0]);
  assert.equal(ids.filter((t) => t === imStart[0]).length, 2);
  assert.ok(split > 1 && split < ids.length);
  // Datasets pick it up: ARC items are chat prompts, generation not cut at newlines.
  const { items, promptStyle, templateSource } = await loadItems(spec, { name: 'arc', n: 1 });
  assert.equal(promptStyle, 'chat');
  assert.equal(templateSource, join(dir, 'tokenizer_config.json'));
  assert.ok(items[0].kind === 'generate' && !items[0].stopAtNewline);
  // Forcing plain ignores the template.
  assert.equal((await promptFormatFor(spec, 'plain')).style, 'plain');
});

test('chat template sources: .jinja file first, named lists, errors', async () => {
  const listed = fixtureWith({ chat_template: [{ name: 'tool_use', template: 'x' }, { name: 'default', template: CHATML }] });
  assert.equal((await promptFormatFor(loadModel(listed))).source, join(listed, 'tokenizer_config.json#default'));
  writeFileSync(join(listed, 'chat_template.jinja'), '{{ messages[0].content }}|');
  const fromFile = await promptFormatFor(loadModel(listed));
  assert.equal(fromFile.render({ shared: 'a', ask: 'b', answerPrefix: ' c' }).text, 'ab|c');
  const plain = loadModel(join(repoRoot, 'fixtures', 'qwen3'));
  await assert.rejects(promptFormatFor(plain, 'chat'), { code: 'BAD_ARGUMENT' });
  assert.equal((await promptFormatFor(plain)).style, 'plain');
  const raising = await chatFormat("{{ raise_exception('only user/assistant roles') }}");
  assert.throws(() => raising.render({ shared: 'a', ask: 'b' }), (e: Error & { code?: string }) => e.code === 'BAD_FORMAT' && /only user/.test(e.message));
  await assert.rejects(chatFormat('{% for %}'), { code: 'BAD_FORMAT' });
  const twice = await chatFormat('{{ messages[0].content }}{{ messages[0].content }}');
  assert.throws(() => twice.render({ shared: 'a', ask: 'b' }), { code: 'BAD_FORMAT' });
});
