"""Exports a trained model to its shipped folder: fp16 weights, tokenizer, reference outputs, card.

    python training/export.py --run /tmp/kvw/run/NAME --config training/configs/NAME.json \
        --tokenizer bpe4096.json --out models/NAME [--eval eval.json]

Writes into --out:
  config.json, generation_config.json, model.safetensors (fp16)   save_pretrained of the model
  tokenizer.json                                                     the training tokenizer
  reference.safetensors   fp32, from the fp16 weights as saved (the folder reloaded in fp32, eager
                          attention): input_ids int64 [T=16] (REFERENCE_TEXT with BOS, first 16
                          tokens), logits fp32 [T, vocab], and per layer l key.<l> / value.<l> fp32
                          [kvHeads, T, headDim] (past_key_values after the forward, batch dropped,
                          keys after RoPE); input_ids_b int64 [T2=5] (the next 5 tokens) and
                          logits_b fp32 [T2, vocab] (run on top of that cache, positions 16..20),
                          as in training/make_fixtures.py
  README.md               model card (train.json + eval json)
With --card-only, rewrites README.md alone (e.g. after a new evaluation).
"""
import argparse
import json
import os
import shutil

REFERENCE_TEXT = ("The old lighthouse keeper counted 42 ships before the storm reached the harbor, "
                  "and then he wrote their names in a book.")
REFERENCE_TOKENS = 16   # T: input_ids (BOS + 15 text tokens)
REFERENCE_TOKENS_B = 5  # T2: input_ids_b, the next 5 tokens, run on top of the cache


def cache_layers(past):
    """[(key, value)] per layer from a transformers cache object (v5 `.layers`, or legacy tuples)."""
    if hasattr(past, "layers"):
        return [(l.keys, l.values) for l in past.layers]
    if hasattr(past, "key_cache"):
        return list(zip(past.key_cache, past.value_cache))
    return [(k, v) for k, v in past]


def reference(folder: str) -> dict:
    import torch
    import transformers
    from tokenizers import Tokenizer
    torch.set_grad_enabled(False)
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    all_ids = tok.encode(REFERENCE_TEXT).ids
    assert len(all_ids) >= REFERENCE_TOKENS + REFERENCE_TOKENS_B, "reference text too short"
    ids, ids_b = all_ids[:REFERENCE_TOKENS], all_ids[REFERENCE_TOKENS:REFERENCE_TOKENS + REFERENCE_TOKENS_B]
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    x = torch.tensor([ids], dtype=torch.long)
    out = model(input_ids=x, use_cache=True)
    t = {"input_ids": x[0].clone(), "logits": out.logits[0].float().contiguous()}
    for l, (k, v) in enumerate(cache_layers(out.past_key_values)):
        t[f"key.{l}"] = k[0].float().contiguous().clone()
        t[f"value.{l}"] = v[0].float().contiguous().clone()
    xb = torch.tensor([ids_b], dtype=torch.long)
    pos = torch.arange(REFERENCE_TOKENS, REFERENCE_TOKENS + len(ids_b))[None]
    outb = model(input_ids=xb, past_key_values=out.past_key_values, position_ids=pos, use_cache=True)
    t["input_ids_b"] = xb[0].clone()
    t["logits_b"] = outb.logits[0].float().contiguous()
    # sanity: prefill + continuation == one forward of the whole sequence
    full = model(input_ids=torch.cat([x, xb], 1)).logits[0]
    diff = (full - torch.cat([t["logits"], t["logits_b"]])).abs().max().item()
    assert diff < 1e-3, f"cache continuation differs from a full forward by {diff}"
    return t


def card(cfg: dict, stats: dict, ev: dict, conf: dict, tok_name: str, prior: list = ()) -> str:
    m = cfg["model"]
    tokens = stats["tokens_seen"] + sum(p["tokens_seen"] for p in prior)
    seconds = stats["train_seconds"] + sum(p["train_seconds"] for p in prior)
    ctx = max(p["seq_len"] for p in cfg["phases"])
    rows = []
    if ev:
        for g, r in sorted(ev["tasks"].items(), key=lambda kv: (kv[0].split("@")[0], int(kv[0].split("@")[1]) if "@" in kv[0] else 0)):
            rows.append(f"| {g} | {r['accuracy']:.1%} | {r['correct']}/{r['n']} | {r['ci95'][0]:.1%}–{r['ci95'][1]:.1%} | {r['prompt_tokens_mean']} |")
    rp = conf.get("rope_parameters") or {}
    phases = "; ".join(f"{p['steps']} steps × {p['batch']} × {p['seq_len']} tokens" for p in cfg["phases"])
    lines = [
        f"# {cfg['name']}",
        "",
        f"{cfg.get('description', '')}",
        "",
        "Trained from scratch for kvwire's task suite by `training/` (see training/README.md); "
        "a test bed for KV-cache compression, not a general-purpose model.",
        "",
        "| | |",
        "|---|---|",
        f"| family | {cfg['family']} (`{conf['architectures'][0]}`, model_type `{conf['model_type']}`) |",
        f"| parameters | {stats['params']:,} ({stats['params'] / 1e6:.1f}M; embeddings {'tied' if m['tie_word_embeddings'] else 'untied'}) |",
        f"| shape | {m['num_hidden_layers']} layers, hidden {m['hidden_size']}, {m['num_attention_heads']} heads × head_dim {m['head_dim']}, "
        f"{m['num_key_value_heads']} KV heads, MLP {m['intermediate_size']} |",
        f"| positions | RoPE, rope_theta {rp.get('rope_theta')}, trained up to {ctx} tokens |",
        f"| tokenizer | {tok_name}: byte-level BPE, vocab {stats['vocab']}, digits split, `<|endoftext|>` = 0 is BOS (prepended) and EOS |",
        f"| data | Gutenberg (English, PG header/footer stripped, needle-test books held out) + tiny Shakespeare, "
        f"mixed with the task suite's train split (facts, twohop, arith, instr, needle 512–8192) |",
        f"| schedule | {phases}; lr {cfg['lr']} cosine to {cfg['lr'] * cfg['min_lr_frac']:.1e}, warmup {cfg['warmup']}, seed {cfg['seed']} |",
        f"| loss weights | LM text 1, task prompt {cfg.get('prompt_weight', 1.0)}, answer + closing EOS {cfg.get('target_weight', 5.0)} |",
        f"| tokens seen | {tokens:,} |",
        f"| final loss | {stats['final_loss']:.3f} (weighted train loss, mean of the last 100 steps); held-out book text {stats['val_loss_heldout_books']:.3f} |",
        f"| training time | {seconds / 60:.1f} min on one {stats.get('gpu', 'GPU')}, shared with the other models trained at the same time |",
        f"| weights | fp16 safetensors; `reference.safetensors`: fp32 logits and KV of a fixed sentence, for engine parity |",
        "",
    ]
    runs = list(prior) + [stats]
    lines += ["## Training runs", ""]
    for i, r in enumerate(runs):
        how = (f"time limit {r['deadline_s']:.0f} s (every phase shortened in proportion, learning rate annealed): "
               f"{r['steps']} of {r['planned_steps']} planned steps" if r.get("stopped_by_deadline") else f"{r['steps']} steps")
        ph = ", ".join(f"{p['steps']} × {p['batch']} × {p['seq_len']}" for p in r["phases"])
        src = r.get("config_note") or ("this config" + (", continued from run 1" if i else ""))
        lines.append(f"{i + 1}. {src}: {how} ({ph}); {r['tokens_seen'] / 1e6:.1f}M tokens, {r['train_seconds']:.0f} s, "
                     f"final loss {r['final_loss']:.3f}")
    lines.append("")
    if rows:
        lines += [
            "## Full-cache accuracy (training/evaluate.py)",
            "",
            "Greedy decoding in PyTorch (fp32) on the task suite's exported test split (seed 0); "
            "needle per haystack length; 95% Wilson interval. `facts` is 4-choice (chance 25%). "
            "Needle lengths are the export's nominal lengths (counted as chars/4); in this model's "
            "tokens the prompts are longer (mean in the last column), so `needle@8192` tests more "
            "than 8192 positions.",
            "",
            "| task | accuracy | correct/n | 95% CI | prompt tokens (mean) |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="export a trained model")
    ap.add_argument("--run", required=True, help="train.py output folder (model/ + train.json)")
    ap.add_argument("--config", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", help="evaluate.py json for the card")
    ap.add_argument("--card-only", action="store_true")
    ap.add_argument("--prior", action="append", default=[], help="train.json of an earlier run this one continued (repeatable)")
    a = ap.parse_args()
    cfg = json.load(open(a.config))
    stats = json.load(open(os.path.join(a.run, "train.json")))
    if not a.card_only:
        import torch
        import transformers
        from safetensors.torch import save_file
        model = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(a.run, "model"), dtype=torch.float32)
        model = model.half()
        os.makedirs(a.out, exist_ok=True)
        model.save_pretrained(a.out)
        shutil.copy(a.tokenizer, os.path.join(a.out, "tokenizer.json"))
        save_file(reference(a.out), os.path.join(a.out, "reference.safetensors"))
    conf = json.load(open(os.path.join(a.out, "config.json")))
    ev = json.load(open(a.eval)) if a.eval else None
    with open(os.path.join(a.out, "README.md"), "w") as f:
        f.write(card(cfg, stats, ev, conf, os.path.basename(a.tokenizer).replace(".json", ""),
                     [json.load(open(p)) for p in a.prior]))
    print(f"exported {a.out}", flush=True)


if __name__ == "__main__":
    main()
