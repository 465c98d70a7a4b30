/**
 * Prompt formats: a model's own chat template (read from its Hugging Face folder and rendered with
 * @huggingface/jinja, the engine transformers.js uses) or a plain prompt for base models. Nothing
 * here knows the zoo's training format: a user's Qwen, Llama or Gemma folder is read as it is.
 *
 * Where the template comes from, first found: chat_template.jinja, chat_template.json, then
 * tokenizer_config.json's `chat_template` (a string, or a list of named templates: 'default').
 * Templates are rendered with one user message, add_generation_prompt, enable_thinking = false
 * (no chain of thought, as in the C2C protocol) and a fixed date_string, so prompts are the same
 * on every day and machine (the engine supplies raise_exception; its message ends up in a
 * BAD_FORMAT error). Chat prompts are tokenized without adding BOS: templates that want
 * one write it themselves (as transformers' apply_chat_template + add_special_tokens=False).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvwireError } from '../../errors.js';
import type { ModelSpec } from '../../model/index.js';
import type { PromptParts, PromptStyle } from './types.js';

export interface RenderedPrompt {
  text: string;
  /** Characters of `text` that belong to the shared part (everything before the receiver's part). */
  sharedEnd: number;
}

export interface PromptFormat {
  style: PromptStyle;
  /** Whether to add the tokenizer's BOS when encoding the rendered text. */
  addBos: boolean;
  /** Where the template came from (a file path), for the results file. */
  source: string | null;
  render(parts: PromptParts): RenderedPrompt;
}

/** Plain: the parts concatenated, each with its own separators. */
export const plainFormat: PromptFormat = {
  style: 'plain',
  addBos: true,
  source: null,
  render(parts) {
    return { text: parts.shared + parts.ask + (parts.answerPrefix ?? ''), sharedEnd: parts.shared.length };
  },
};

/** The chat template of a Hugging Face folder, or null when it has none. */
export function readChatTemplate(dir: string): { template: string; source: string; specials: Record<string, string> } | null {
  const specials = readSpecials(join(dir, 'tokenizer_config.json'));
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return { template: readFileSync(jinja, 'utf8'), source: jinja, specials };
  for (const file of ['chat_template.json', 'tokenizer_config.json']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const raw = parseJson(path);
    const t = raw.chat_template;
    if (typeof t === 'string') return { template: t, source: path, specials };
    if (Array.isArray(t)) {
      const named = t.find((x) => (x as { name?: unknown })?.name === 'default') as { template?: unknown } | undefined;
      if (typeof named?.template === 'string') return { template: named.template, source: `${path}#default`, specials };
      throw new KvwireError('BAD_FORMAT', `${path}: chat_template is a list without a "default" entry`, { path });
    }
    if (t !== undefined && t !== null) throw new KvwireError('BAD_FORMAT', `${path}: chat_template must be a string or a list of {name, template}`, { path });
  }
  return null;
}

function parseJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new KvwireError('BAD_FORMAT', `${path}: not valid JSON`, { path, cause });
  }
}

/** bos_token / eos_token / ... of tokenizer_config.json as strings (they may be {content}). */
function readSpecials(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const raw = parseJson(path);
  const out: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const v = raw[key];
    const text = typeof v === 'string' ? v : (v as { content?: unknown } | null)?.content;
    if (typeof text === 'string') out[key] = text;
  }
  return out;
}

// Marks the end of the shared part inside the user message; private-use characters no template
// or tokenizer touches, removed again after rendering.
const MARK = '\uE000kvwire:shared-end\uE000';

/** A chat format from a template string (exported for tests and for templates kept elsewhere). */
export async function chatFormat(template: string, specials: Record<string, string> = {}, source: string | null = null): Promise<PromptFormat> {
  let Template: typeof import('@huggingface/jinja').Template;
  try {
    ({ Template } = await import('@huggingface/jinja'));
  } catch (cause) {
    throw new KvwireError('BAD_ARGUMENT', 'rendering a chat template needs the @huggingface/jinja package (npm install @huggingface/jinja)', { cause });
  }
  let compiled: InstanceType<typeof Template>;
  try {
    compiled = new Template(template);
  } catch (cause) {
    throw new KvwireError('BAD_FORMAT', `${source ?? 'chat template'}: does not parse (${(cause as Error).message})`, { path: source ?? undefined, cause });
  }
  const render = (parts: PromptParts): RenderedPrompt => {
    let text: string;
    try {
      text = compiled.render({
        messages: [{ role: 'user', content: parts.shared + MARK + parts.ask }],
        add_generation_prompt: true,
        enable_thinking: false,
        date_string: '26 Jul 2024',
        ...specials,
      });
    } catch (cause) {
      if (cause instanceof KvwireError) throw cause;
      throw new KvwireError('BAD_FORMAT', `${source ?? 'chat template'}: rendering failed (${(cause as Error).message})`, { cause });
    }
    const at = text.indexOf(MARK);
    if (at < 0 || text.indexOf(MARK, at + 1) >= 0) {
      throw new KvwireError('BAD_FORMAT', `${source ?? 'chat template'}: the template must write the user message exactly once`);
    }
    return { text: text.slice(0, at) + text.slice(at + MARK.length) + (parts.answerPrefix ?? '').trimStart(), sharedEnd: at };
  };
  return { style: 'chat', addBos: false, source, render };
}

/**
 * The prompt format for a model: 'auto' (default) is its chat template when its folder has one,
 * else plain; 'chat' requires a template; 'plain' ignores it.
 */
export async function promptFormatFor(spec: Pick<ModelSpec, 'source' | 'format'>, style: PromptStyle | 'auto' = 'auto'): Promise<PromptFormat> {
  if (style === 'plain') return plainFormat;
  const found = spec.format === 'hf' ? readChatTemplate(spec.source) : null;
  if (!found) {
    if (style === 'chat') throw new KvwireError('BAD_ARGUMENT', `${spec.source}: prompt style 'chat' asked for, but the model has no chat template`, { path: spec.source });
    return plainFormat;
  }
  return chatFormat(found.template, found.specials, found.source);
}
