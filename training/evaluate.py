"""Full-cache accuracy of a model folder on the task suite's exported test split (greedy decoding).

    python training/evaluate.py --model DIR --bundle .devdata/bundle.tar.xz [--limit N] [--out eval.json]

Each test example's prompt is encoded with the model's tokenizer (BOS prepended), the model
decodes greedily (batched, left padding with matching position ids; weights in fp32) until
<|endoftext|> or a newline, and the continuation is scored by a Python port of the task suite's
scorers (src/eval/tasks/score.ts: first line, lead-ins skipped, first answer-like token).
Reports accuracy per task (needle per length) with a 95% Wilson interval.
"""
import argparse
import json
import lzma
import math
import re
import time
import unicodedata

import torch

from data import group_key, jsonl, read_bundle

LETTERS = ["A", "B", "C", "D"]
LEAD_INS = re.compile(r"^(?:(?:the\s+)?(?:correct\s+|final\s+)?answer\s*(?:is|:)?|it\s+is|it's|option|choice)\s*[:\-]?\s*", re.I)
WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


# ---- scorers: a port of src/eval/tasks/score.ts -------------------------------------------------
def first_line(output: str) -> str:
    text = output.replace("\r\n", "\n").replace("\r", "\n").strip()
    text = text.split("\n", 1)[0]
    m = re.search(r"question\s*:", text, re.I)
    return text[:m.start()] if m else text


def answer_span(output: str) -> str:
    text = first_line(output).strip()
    for _ in range(3):
        stripped = LEAD_INS.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text.strip()


def words(text: str) -> list:
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def extract_choice(output: str, choices: list):
    span = answer_span(output)
    letters = LETTERS[:len(choices)]
    m = re.match(r"^\(?\s*([a-z])\s*(?:\)|\]|\.|:|,|$)", span, re.I) or re.match(r"^\[\s*([a-z])\s*\]", span, re.I)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    sw = words(span)
    order = sorted([(i, words(c)) for i, c in enumerate(choices)], key=lambda t: -len(t[1]))
    for i, w in order:
        if w and all(j < len(sw) and sw[j] == x for j, x in enumerate(w)):
            return LETTERS[i]
    if sw and sw[0] in ("the", "a", "an"):
        for i, w in order:
            if w and all(j + 1 < len(sw) and sw[j + 1] == x for j, x in enumerate(w)):
                return LETTERS[i]
    m = re.match(r"^([A-Z])\s", span)
    if m and m.group(1) in letters:
        return m.group(1)
    return None


def first_number(text: str):
    m = NUMBER.search(text)
    return m.group(0).replace(",", "") if m else None


def last_number(text: str):
    ms = NUMBER.findall(text)
    return ms[-1].replace(",", "") if ms else None


def numbers_equal(got, gold: str) -> bool:
    if got is None:
        return False
    try:
        return float(got.replace(",", "")) == float(gold.replace(",", ""))
    except ValueError:
        return False


def extract_number(output: str, worked: bool):
    line = first_line(output)
    h = line.find("####")
    if h >= 0:
        return first_number(line[h + 4:])
    return last_number(line) if (worked or "=" in line) else first_number(answer_span(line))


def score_short(ex: dict, output: str) -> bool:
    gold = words(ex["answer"])
    if not gold:
        return False
    if re.match(r"^-?\d[\d,]*(?:\.\d+)?$", ex["answer"].strip()):
        return numbers_equal(first_number(answer_span(output)), ex["answer"])
    got = words(answer_span(output))
    if got and got[0] in ("the", "a", "an") and got[0] != gold[0]:
        got = got[1:]
    return all(i < len(got) and got[i] == w for i, w in enumerate(gold))


def score(ex: dict, output: str) -> bool:
    if ex.get("choices"):
        return extract_choice(output, ex["choices"]) == ex["answer"].upper()
    if ex["task"] == "arith":
        return numbers_equal(extract_number(output, ex.get("solution") is not None), ex["answer"])
    return score_short(ex, output)


def wilson(k: int, n: int, z: float = 1.96):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


# ---- greedy decoding ----------------------------------------------------------------------------
@torch.no_grad()
def greedy(model, prompts: list, max_new: int, stop_ids: set, device: str) -> list:
    """Greedy continuations (token ids) of same-batch prompts (lists of ids), left-padded."""
    B = len(prompts)
    L = max(len(p) for p in prompts)
    ids = torch.zeros(B, L, dtype=torch.long)
    mask = torch.zeros(B, L, dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, L - len(p):] = torch.tensor(p)
        mask[b, L - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    past = out.past_key_values
    nxt = out.logits[:, -1].argmax(-1)
    stop = torch.tensor(sorted(stop_ids), device=device)
    gen = torch.zeros(B, max_new, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    length = torch.zeros(B, dtype=torch.long, device=device)  # tokens before the first stop
    last_pos = pos[:, -1]
    for t in range(max_new):
        done = done | torch.isin(nxt, stop)
        gen[:, t] = nxt
        length += (~done).long()
        if t == max_new - 1 or bool(done.all()):  # one sync per step
            break
        mask = torch.cat([mask, torch.ones(B, 1, dtype=mask.dtype, device=device)], 1)
        last_pos = last_pos + 1
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last_pos[:, None],
                    past_key_values=past, use_cache=True, logits_to_keep=1)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1)
    gen, length = gen.tolist(), length.tolist()
    return [g[:n] for g, n in zip(gen, length)]


def load_tests(bundle_path: str, tests: str = None) -> list:
    """Test examples: a test-<tokenizer>.jsonl.xz from prepare_data.py --test-tokenizer, else the bundle's."""
    if tests:
        with lzma.open(tests) as f:
            return jsonl(f.read())
    return jsonl(read_bundle(bundle_path)["tasks/test.jsonl"])


def evaluate(model_dir: str, bundle_path: str, limit: int = 0, tests: str = None, device: str = "cuda",
             token_budget: int = 262144) -> dict:
    import transformers
    from tokenizers import Tokenizer
    torch.backends.cuda.matmul.allow_tf32 = True
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").to(device).eval()
    exs = load_tests(bundle_path, tests)
    groups = {}
    for e in exs:
        g = groups.setdefault(group_key(e), [])
        if not limit or len(g) < limit:
            g.append(e)
    stop = {0} | {i for t, i in tok.get_vocab().items() if "Ċ" in t}  # <|endoftext|>, any newline token
    results, t0 = {}, time.time()
    for g, items in sorted(groups.items()):
        enc = [tok.encode(e["prompt"]).ids for e in items]
        max_new = max(len(tok.encode(e["target"], add_special_tokens=False).ids) for e in items) + 6
        order = sorted(range(len(items)), key=lambda i: len(enc[i]))
        outs = [None] * len(items)
        i = 0
        while i < len(order):
            L = len(enc[order[min(len(order) - 1, i)]])
            bs = max(1, min(128, token_budget // max(1, L + max_new)))
            chunk = order[i:i + bs]
            gen = greedy(model, [enc[j] for j in chunk], max_new, stop, device)
            for j, gids in zip(chunk, gen):
                outs[j] = tok.decode(gids)
            i += bs
        ok = [score(e, o) for e, o in zip(items, outs)]
        k, n = sum(ok), len(ok)
        lo, hi = wilson(k, n)
        mean_len = sum(len(x) for x in enc) / n
        results[g] = {"n": n, "correct": k, "accuracy": k / n, "ci95": [lo, hi], "prompt_tokens_mean": round(mean_len),
                      "samples": [{"id": e["id"], "target": e["target"], "output": o, "ok": s}
                                  for e, o, s in list(zip(items, outs, ok))[:3]]}
        print(f"  {g:14s} {k / n:6.1%}  ({k}/{n}, 95% CI {lo:.1%}-{hi:.1%}, ~{mean_len:.0f} tokens)", flush=True)
    return {"model": model_dir, "tests": tests or f"{bundle_path}:tasks/test.jsonl", "tasks": results,
            "seconds": round(time.time() - t0, 1)}


def main():
    ap = argparse.ArgumentParser(description="accuracy on the exported test split")
    ap.add_argument("--model", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--tests", help="test-<tokenizer>.jsonl.xz (needle lengths in this model's tokens)")
    ap.add_argument("--limit", type=int, default=0, help="examples per task/length (0: all)")
    ap.add_argument("--out")
    a = ap.parse_args()
    r = evaluate(a.model, a.bundle, a.limit, a.tests)
    if a.out:
        json.dump(r, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
