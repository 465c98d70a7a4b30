#!/usr/bin/env python3
"""Build tiny random-init Hugging Face models + reference outputs for the kvwire engine tests.

For each family a TINY model is built with a standard transformers class, saved as a normal
Hugging Face folder (config.json, safetensors weights, tokenizer.json) under fixtures/<name>/,
together with reference outputs computed by transformers from the weights *as saved* (the folder
is reloaded in float32, so fp16/bf16 rounding is identical to what the engine will read):

  reference.safetensors
    input_ids   int64 [T]                  first T tokens of TEXT_A
    logits      fp32  [T, vocab]           forward of input_ids from an empty cache
    key.<l>     fp32  [kvHeads, T, headDim]  past_key_values after that forward (post-RoPE keys)
    value.<l>   fp32  [kvHeads, T, headDim]
    input_ids_b int64 [T2]                 first T2 tokens of TEXT_B
    logits_b    fp32  [T2, vocab]          input_ids_b run on top of the cache of input_ids
                                           (positions T .. T+T2-1)
  reference.json  metadata (family, T, T2, saved dtype, versions, texts, notes)

Needs: torch, transformers 5.x (written against 5.17), tokenizers, safetensors.  No network.

Usage:  python3 training/make_fixtures.py [--out fixtures] [--only llama,gemma]
"""

import argparse
import json
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    DynamicCache,
    GemmaConfig,
    GemmaForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

T = 13
T2 = 5
SEED = 1234
EPS = 1e-6
TOL = 1e-4

# Text the engine tests encode: input_ids = first T tokens of TEXT_A, input_ids_b = first T2 of TEXT_B.
TEXT_A = "The quick brown fox jumps over the lazy dog near the river bank at dawn."
TEXT_B = "Small models remember every token they have seen."

# Training corpus for the tiny tokenizers (written for this script; no downloads).
CORPUS = """
The quick brown fox jumps over the lazy dog. The dog did not move, and the fox ran on
toward the river. At dawn the river bank was quiet, and the water was cold and clear.
A small boat rested near the reeds, and an old man sat in it with a line in the water.
He had been fishing there every morning for many years, and he knew every stone and tree.

Language models read text as a sequence of tokens. Each token is a small piece of a word,
a whole word, or a mark such as a comma or a period. The model looks at the tokens it has
seen so far and predicts the next one. To do this quickly, it keeps a cache of keys and
values for every layer, so that it does not have to compute them again for old tokens.
This cache is called the key value cache, and it grows by one entry for each new token.

Small models are useful for tests. They run in a fraction of a second on any computer,
and their outputs can be stored in a few kilobytes. A test can load the same weights in
another program and check that every logit and every cached key and value matches the
reference to within a small tolerance. When the numbers agree, we can trust that the
attention, the rotary position embedding, the normalization and the feed forward layers
were all implemented the same way. When they disagree, the stored tensors show where.

In the morning the market opens early. Farmers bring apples, pears, bread, cheese and
honey, and the town gathers in the square to buy food and to talk about the weather.
Children run between the stalls while their parents count coins and carry heavy bags.
By noon the sun is high, the crowd is thin, and the sellers begin to pack their carts.
They will come back next week, as they have done for as long as anyone can remember.

Rivers carry water from the mountains to the sea. On the way they cut valleys, feed
lakes and fields, and give homes to fish, birds and many kinds of plants. People have
always lived near rivers, because water is needed for drinking, for farming and for
travel. Many great cities stand on the banks of a river, and bridges join their halves.

Every token they have seen is stored in memory; small models remember it all, and large
models remember even more. Numbers such as 1, 2, 3, 10, 42 and 2024 also appear in text,
as do questions like "Why?" and answers like "Because!" and lists: red, green, blue.
"""


# --------------------------------------------------------------------------- tokenizers
def train_bytelevel_bpe(vocab_size, special_tokens):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([CORPUS], trainer=trainer)
    return tok


def train_metaspace_bpe(vocab_size, special_tokens, unk):
    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=special_tokens,
        show_progress=False,
    )
    tok.train_from_iterator([CORPUS], trainer=trainer)
    return tok


TOKENIZERS = {
    # name: (builder, bos, eos, pad, unk)
    "bytelevel384": (
        lambda: train_bytelevel_bpe(384, ["<s>", "</s>", "<unk>"]),
        "<s>", "</s>", None, "<unk>",
    ),
    "bytelevel352_qwen": (
        lambda: train_bytelevel_bpe(352, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
        None, "<|endoftext|>", "<|endoftext|>", None,
    ),
    "metaspace320": (
        lambda: train_metaspace_bpe(320, ["<pad>", "<eos>", "<bos>", "<unk>"], "<unk>"),
        "<bos>", "<eos>", "<pad>", "<unk>",
    ),
}


# --------------------------------------------------------------------------- families
def common_kwargs(vocab, ids):
    return dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        max_position_embeddings=128,
        initializer_range=0.1,
        rms_norm_eps=EPS,
        bos_token_id=ids["bos"],
        eos_token_id=ids["eos"],
        pad_token_id=ids["pad"],
    )


def cfg_llama(vocab, ids):
    return LlamaConfig(
        **common_kwargs(vocab, ids),
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        hidden_act="silu",
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 1000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
    ), LlamaForCausalLM


def cfg_mistral(vocab, ids):
    return MistralConfig(
        **common_kwargs(vocab, ids),
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        hidden_act="silu",
        sliding_window=8,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ), MistralForCausalLM


def cfg_qwen2(vocab, ids):
    return Qwen2Config(
        **common_kwargs(vocab, ids),
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        hidden_act="silu",
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
    ), Qwen2ForCausalLM


def cfg_qwen3(vocab, ids):
    return Qwen3Config(
        **common_kwargs(vocab, ids),
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        tie_word_embeddings=False,
        hidden_act="silu",
        attention_bias=False,
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
    ), Qwen3ForCausalLM


def cfg_gemma(vocab, ids):
    return GemmaConfig(
        **common_kwargs(vocab, ids),
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=32,
        tie_word_embeddings=True,
        hidden_act="gelu_pytorch_tanh",
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ), GemmaForCausalLM


FAMILIES = {
    # name: (config builder, tokenizer, save dtype, max_shard_size or None, notes)
    "llama": (cfg_llama, "bytelevel384", torch.float32, None,
              "GQA 4/2, head_dim 16, untied lm_head, llama3 rope scaling (factor 8, low 1, high 4, "
              "original_max_position_embeddings 16), rope_theta 1000, fp32 weights. With head_dim 16 the "
              "shortest wavelength is 2*pi > original_max/high_freq_factor = 4, so frequency 0 and 1 are in "
              "the smoothed band and the rest in the scaled (/8) band; the 'unchanged' band is empty."),
    "mistral": (cfg_mistral, "bytelevel384", torch.float16, "100KB",
                "GQA 4/2, head_dim 16, sliding_window 8 (query i sees keys j with i-8 < j <= i), T=13 so the "
                "window matters; fp16 weights sharded (model.safetensors.index.json). key/value hold ALL T "
                "positions (computed with a plain DynamicCache; HF's config-built cache would keep only the last "
                "sliding_window-1 = 7). logits_b is computed on top of the full-T cache with the sliding mask."),
    "qwen2": (cfg_qwen2, "bytelevel352_qwen", torch.bfloat16, None,
              "GQA 4/2, head_dim 16, q/k/v bias (non-zero), tied embeddings (no lm_head.weight in the file), "
              "rope_theta 1e6, bf16 weights."),
    "qwen3": (cfg_qwen3, "bytelevel352_qwen", torch.float32, None,
              "GQA 4/2, explicit head_dim 32 != hidden/heads = 16 (q_proj 64->128, o_proj 128->64), per-head "
              "q_norm/k_norm RMSNorm (weights 1+0.1*randn) applied before RoPE, untied, rope_theta 1e6, fp32."),
    "gemma": (cfg_gemma, "metaspace320", torch.float32, None,
              "Gemma 1: embeddings scaled by sqrt(hidden)=8, RMSNorm multiplies by (1+w) with w=0.1*randn, "
              "GeGLU with gelu_pytorch_tanh, MQA 4/1, head_dim 32 != 64/4, tied embeddings, fp32. "
              "Tokenizer is Metaspace BPE (not byte-level)."),
}


def log(*a):
    print(*a, flush=True)


def perturb(model, family):
    """Make parameters that random init leaves trivial (biases 0, norms 1 or 0) non-trivial."""
    g = torch.Generator().manual_seed(SEED + 7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                noise = torch.randn(p.shape, generator=g) * 0.1
                if family == "gemma":
                    p.copy_(noise)  # Gemma computes x*(1+w): w around 0
                else:
                    p.copy_(1.0 + noise)
            elif name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def cache_kv(cache, layer):
    layer_obj = cache.layers[layer]
    return layer_obj.keys, layer_obj.values


def build_family(name, out_root, tok_cache, summary):
    cfg_fn, tok_name, save_dtype, shard, notes = FAMILIES[name]
    log(f"\n===== {name} =====")
    tok, bos, eos, pad, unk = tok_cache[tok_name]
    vocab = tok.get_vocab_size()
    ids = {
        "bos": tok.token_to_id(bos) if bos else None,
        "eos": tok.token_to_id(eos) if eos else None,
        "pad": tok.token_to_id(pad) if pad else None,
    }
    config, cls = cfg_fn(vocab, ids)
    torch.manual_seed(SEED)
    config._attn_implementation = "eager"
    model = cls(config).to(torch.float32)
    model.eval()
    perturb(model, name)

    out = os.path.join(out_root, name)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)

    # ---- save weights in the target dtype
    saved = model.to(save_dtype)
    kwargs = {"safe_serialization": True}
    if shard:
        kwargs["max_shard_size"] = shard
    saved.save_pretrained(out, **kwargs)
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": bos, "eos_token": eos, "pad_token": pad, "unk_token": unk,
            "add_bos_token": False, "add_eos_token": False,
            "model_max_length": 128,
        }, f, indent=2)
    del model, saved

    # ---- reload exactly what was saved, in fp32
    ref, info = AutoModelForCausalLM.from_pretrained(
        out, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    ref.eval()
    bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    assert not bad, f"{name}: loading info not clean: {info}"
    assert ref.config._attn_implementation == "eager", ref.config._attn_implementation
    if name == "mistral":
        assert ref.config.sliding_window == 8
    files = sorted(os.listdir(out))
    log("files:", files)
    if shard:
        assert "model.safetensors.index.json" in files, files
        assert sum(f.startswith("model-0") for f in files) >= 2, files
    # tied checks
    if config.tie_word_embeddings:
        assert ref.lm_head.weight.data_ptr() == ref.model.embed_tokens.weight.data_ptr(), "not tied"
    else:
        assert not torch.equal(ref.lm_head.weight, ref.model.embed_tokens.weight)

    # ---- inputs
    enc_a = tok.encode(TEXT_A).ids
    enc_b = tok.encode(TEXT_B).ids
    assert len(enc_a) >= T and len(enc_b) >= T2, (len(enc_a), len(enc_b))
    unk_id = tok.token_to_id(unk) if unk else None
    assert unk_id is None or (unk_id not in enc_a and unk_id not in enc_b), "unk in inputs"
    input_ids = torch.tensor(enc_a[:T], dtype=torch.int64)
    input_ids_b = torch.tensor(enc_b[:T2], dtype=torch.int64)
    log("input_ids  :", input_ids.tolist(), repr(tok.decode(input_ids.tolist())))
    log("input_ids_b:", input_ids_b.tolist(), repr(tok.decode(input_ids_b.tolist())))

    with torch.no_grad():
        # A plain DynamicCache keeps every position (a config-built one would trim sliding layers).
        cache = DynamicCache()
        o1 = ref(input_ids=input_ids[None], past_key_values=cache, use_cache=True)
        cache = o1.past_key_values
        logits = o1.logits[0].float().clone()
        tensors = {"input_ids": input_ids, "logits": logits}
        kv_heads = config.num_key_value_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        for l in range(config.num_hidden_layers):
            k, v = cache_kv(cache, l)
            assert k.shape == (1, kv_heads, T, head_dim), (k.shape, kv_heads, T, head_dim)
            tensors[f"key.{l}"] = k[0].float().clone().contiguous()
            tensors[f"value.{l}"] = v[0].float().clone().contiguous()

        # continuation: input_ids_b on top of the cache (positions T..T+T2-1)
        pos_b = torch.arange(T, T + T2)[None]
        o2 = ref(input_ids=input_ids_b[None], past_key_values=cache, use_cache=True, position_ids=pos_b)
        logits_b = o2.logits[0].float().clone()
        tensors["input_ids_b"] = input_ids_b
        tensors["logits_b"] = logits_b

        # ---- sanity: one full forward of input_ids + input_ids_b, no cache reuse
        full = ref(input_ids=torch.cat([input_ids, input_ids_b])[None], use_cache=False).logits[0].float()
        d_a = (full[:T] - logits).abs().max().item()
        d_b = (full[T:] - logits_b).abs().max().item()
        # and the same through HF's own config-built cache (sliding layers trimmed for mistral)
        c2 = DynamicCache(config=ref.config)
        ref(input_ids=input_ids[None], past_key_values=c2, use_cache=True)
        lb2 = ref(input_ids=input_ids_b[None], past_key_values=c2, use_cache=True).logits[0].float()
        d_b2 = (lb2 - logits_b).abs().max().item()
        hf_cache_len = c2.layers[0].keys.shape[-2]
        # the window matters: without it (mistral) the full forward would differ
        window_effect = None
        if name == "mistral":
            ref.config.sliding_window = None
            nowin = ref(input_ids=torch.cat([input_ids, input_ids_b])[None], use_cache=False).logits[0].float()
            ref.config.sliding_window = 8
            window_effect = (nowin[T:] - logits_b).abs().max().item()
    log(f"sanity {name}: max|full[:T]-logits|={d_a:.3e}  max|full[T:]-logits_b|={d_b:.3e}  "
        f"max|hfcache logits_b - logits_b|={d_b2:.3e}  hf-config-cache len after T={hf_cache_len}")
    if window_effect is not None:
        log(f"sanity {name}: max|no-window logits_b - logits_b| = {window_effect:.3e} (must be > 1e-3)")
        assert window_effect > 1e-3, "sliding window has no effect"
    assert d_a < TOL and d_b < TOL and d_b2 < TOL, (d_a, d_b, d_b2)
    log(f"logits std={logits.std().item():.3f} max|logit|={logits.abs().max().item():.3f}; "
        f"key.0 std={tensors['key.0'].std().item():.3f}")
    assert logits.std().item() > 0.05, "logits too flat"

    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "reference.safetensors"),
              metadata={"format": "pt"})
    meta = {
        "family": name,
        "model_type": ref.config.model_type,
        "architecture": cls.__name__,
        "T": T,
        "T2": T2,
        "dtype": str(save_dtype).replace("torch.", ""),
        "sharded": bool(shard),
        "vocab_size": vocab,
        "num_hidden_layers": config.num_hidden_layers,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "text_a": TEXT_A,
        "text_b": TEXT_B,
        "token_ids_a_full": enc_a,
        "token_ids_b_full": enc_b,
        "tokenizer": tok_name,
        "seed": SEED,
        "sanity_max_abs_diff": {"prefill_vs_full": d_a, "continuation_vs_full": d_b,
                                "continuation_hf_config_cache": d_b2},
        "notes": notes + " Reference computed in fp32 (eager attention) from the saved weights reloaded "
                         "with from_pretrained(dtype=float32). input_ids = first T tokens of tokenizer.encode(text_a) "
                         "(no special tokens added); input_ids_b = first T2 tokens of text_b. key.<l>/value.<l> are "
                         "[kvHeads, T, headDim] post-RoPE (post k_norm for qwen3). logits_b: input_ids_b at positions "
                         "T..T+T2-1 attending to the cache of input_ids.",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "config.json")) as f:
        log("config.json:", f.read())
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    summary.append((name, size, d_a, d_b, d_b2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    log("transformers", transformers.__version__, "torch", torch.__version__, "python", sys.version.split()[0])
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    tok_cache = {}
    for tname, (builder, bos, eos, pad, unk) in TOKENIZERS.items():
        tok = builder()
        tok_cache[tname] = (tok, bos, eos, pad, unk)
        enc = tok.encode(TEXT_A)
        log(f"tokenizer {tname}: vocab={tok.get_vocab_size()} text_a -> {len(enc.ids)} tokens {enc.tokens[:T]}")
        assert tok.decode(enc.ids) == TEXT_A or tname.startswith("metaspace"), tok.decode(enc.ids)

    names = [n for n in FAMILIES if not args.only or n in args.only.split(",")]
    summary = []
    for n in names:
        build_family(n, out_root, tok_cache, summary)
    log("\n===== summary =====")
    total = 0
    for name, size, d_a, d_b, d_b2 in summary:
        total += size
        log(f"{name:8s} {size/1024:8.1f} KiB  prefill {d_a:.2e}  continuation {d_b:.2e}  hf-cache {d_b2:.2e}")
    log(f"total {total/1024:.1f} KiB")
    assert total < 3 * 1024 * 1024, "fixtures too large"
    log("ALL OK")


if __name__ == "__main__":
    main()
