"""Builds a standard Hugging Face causal LM (no custom code) from one training config.

A config (training/configs/<name>.json) names a family and its sizes; this file maps it onto
the family's own transformers class, so the saved folder loads with AutoModelForCausalLM and
with kvwire's TypeScript engine:

  llama  -> LlamaForCausalLM   (GQA, SwiGLU, RMSNorm)
  qwen2  -> Qwen2ForCausalLM   (as llama, plus a bias on q/k/v)
  qwen3  -> Qwen3ForCausalLM   (as llama, plus RMSNorm on q and k per head)
  gemma  -> GemmaForCausalLM   (Gemma 1: sqrt(hidden)-scaled embeddings, (1+w) norms, GeGLU)

Token id 0 is <|endoftext|>: the tokenizer's BOS (prepended by its post-processor) and EOS.
"""
import transformers

FAMILIES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"),
    "gemma": ("GemmaConfig", "GemmaForCausalLM"),
}

EOT_ID = 0  # <|endoftext|>, see train_tokenizer.py


def hf_config(cfg: dict, vocab_size: int):
    """The transformers config object for training config `cfg` (shapes in cfg['model'])."""
    family = cfg["family"]
    if family not in FAMILIES:
        raise ValueError(f"config {cfg['name']}: family {family!r} is not one of {sorted(FAMILIES)}")
    m = cfg["model"]
    conf_cls = getattr(transformers, FAMILIES[family][0])
    kw = dict(
        vocab_size=vocab_size,
        hidden_size=m["hidden_size"],
        intermediate_size=m["intermediate_size"],
        num_hidden_layers=m["num_hidden_layers"],
        num_attention_heads=m["num_attention_heads"],
        num_key_value_heads=m["num_key_value_heads"],
        head_dim=m["head_dim"],
        max_position_embeddings=m["max_position_embeddings"],
        rms_norm_eps=m.get("rms_norm_eps", 1e-6),
        tie_word_embeddings=m["tie_word_embeddings"],
        bos_token_id=EOT_ID,
        eos_token_id=EOT_ID,
        pad_token_id=EOT_ID,
        initializer_range=m.get("initializer_range", 0.02),
        rope_parameters={"rope_type": "default", "rope_theta": float(m["rope_theta"])},
    )
    if family == "gemma":
        kw["hidden_act"] = "gelu_pytorch_tanh"
        kw["hidden_activation"] = "gelu_pytorch_tanh"
    else:
        kw["hidden_act"] = "silu"
    if family in ("qwen2", "qwen3"):
        kw["use_sliding_window"] = False
    config = conf_cls(**kw)
    # transformers 5 keeps rope_theta inside rope_parameters; check it survived.
    rp = getattr(config, "rope_parameters", None) or {}
    if float(rp.get("rope_theta", -1)) != float(m["rope_theta"]):
        raise RuntimeError(f"config {cfg['name']}: rope_theta not kept by {conf_cls.__name__}: {rp}")
    return config


def build_model(cfg: dict, vocab_size: int, attn: str = "sdpa"):
    """A freshly initialised model for `cfg` (fp32 weights; train under bf16 autocast)."""
    config = hf_config(cfg, vocab_size)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attn)
    want = FAMILIES[cfg["family"]][1]
    if type(model).__name__ != want:
        raise RuntimeError(f"config {cfg['name']}: built {type(model).__name__}, expected {want}")
    return model


def count_params(model) -> int:
    """Parameters counted once (tied embeddings count once)."""
    seen, n = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n
