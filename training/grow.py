"""Grows a trained zoo model deeper (and prunes its MLPs narrower) as the start of a continuation.

    python3 training/grow.py --src DIR --config configs/grow/NAME.json --cache /tmp/kvw/tok/bpe8192 --out DIR

Why: the 7-layer qwen models plateau at ~60% on twohop, where the 10-layer kvw-llama-17m of the same
width reaches 80% (training/README.md); a two-hop answer chains two lookups through the layers. Training
10 layers from scratch costs the whole zoo recipe again; growing keeps what the 7 layers learned
(facts, needle retrieval, the answer formats) and adds depth. The zoo has a size budget (~120 MB), so
the MLPs are pruned so that 10 layers cost about what 7 did.

The config's "grow" block: {"from": "kvw-qwen2-14m", "duplicate": [2, 3, 4], "intermediate_size": 768}.
- depth: each layer listed in `duplicate` is followed by a copy of itself whose attention output
  projection and MLP down projection are zero. A zeroed block adds nothing to the residual stream, so
  the grown model computes exactly what the source did (checked below) until training moves them.
- width: every MLP keeps its `intermediate_size` most important neurons, importance = the mean
  |activation| entering down_proj over calibration tokens (task prompts and answers from the cache,
  needle prompts included) times the norm of the neuron's column of down_proj. Pruning changes the
  function; the loss before and after is printed, and the continuation recovers it.
"""
import argparse
import copy
import json
import os

import numpy as np
import torch
import transformers

from data import TaskSet


def calibration_batches(cache: str, n: int, seed: int, max_len: int = 1100):
    """Up to n task examples (prompt + target ids) of the cache, spread over its groups."""
    ts = TaskSet(os.path.join(cache, "tasks_train.npz"))
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(ts), size=min(n, len(ts)), replace=False):
        prompt, target = ts.example(int(i))
        ids = np.concatenate([[0], prompt, target])[:max_len].astype(np.int64)
        yield torch.from_numpy(ids)[None]


@torch.no_grad()
def mean_loss(model, batches) -> float:
    tot, cnt = 0.0, 0
    for ids in batches:
        ids = ids.to(model.device)
        out = model(input_ids=ids, labels=ids)
        tot += float(out.loss) * (ids.shape[1] - 1)
        cnt += ids.shape[1] - 1
    return tot / cnt


@torch.no_grad()
def neuron_importance(model, batches) -> list:
    """Per layer, mean |input of down_proj| per neuron times that neuron's down_proj column norm."""
    layers = model.model.layers
    sums = [torch.zeros(l.mlp.down_proj.in_features, device=model.device) for l in layers]
    count = [0]
    hooks = [l.mlp.down_proj.register_forward_pre_hook(
        lambda mod, args, i=i: sums[i].add_(args[0].abs().sum(dim=(0, 1)))) for i, l in enumerate(layers)]
    for ids in batches:
        model(input_ids=ids.to(model.device))
        count[0] += ids.shape[1]
    for h in hooks:
        h.remove()
    return [s / count[0] * l.mlp.down_proj.weight.norm(dim=0) for s, l in zip(sums, layers)]


@torch.no_grad()
def prune_mlp(mlp, keep: torch.Tensor) -> None:
    keep = keep.sort().values
    for name in ("gate_proj", "up_proj"):
        lin = getattr(mlp, name)
        new = torch.nn.Linear(lin.in_features, len(keep), bias=lin.bias is not None, device=lin.weight.device)
        new.weight.copy_(lin.weight[keep])
        if lin.bias is not None:
            new.bias.copy_(lin.bias[keep])
        setattr(mlp, name, new)
    down = mlp.down_proj
    new = torch.nn.Linear(len(keep), down.out_features, bias=down.bias is not None, device=down.weight.device)
    new.weight.copy_(down.weight[:, keep])
    if down.bias is not None:
        new.bias.copy_(down.bias)
    mlp.down_proj = new


@torch.no_grad()
def grow(model, duplicate: list) -> None:
    """Inserts, after each listed layer, a copy whose o_proj and down_proj are zero (an identity block)."""
    old = list(model.model.layers)
    new = []
    for i, layer in enumerate(old):
        new.append(layer)
        if i in duplicate:
            twin = copy.deepcopy(layer)
            twin.self_attn.o_proj.weight.zero_()
            twin.mlp.down_proj.weight.zero_()
            for lin in (twin.self_attn.o_proj, twin.mlp.down_proj):
                if lin.bias is not None:
                    lin.bias.zero_()
            new.append(twin)
    for idx, layer in enumerate(new):
        layer.self_attn.layer_idx = idx  # the cache is indexed by it
    model.model.layers = torch.nn.ModuleList(new)
    cfg = model.config
    cfg.num_hidden_layers = len(new)
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = [cfg.layer_types[0]] * len(new)
    if getattr(cfg, "max_window_layers", None) is not None:
        cfg.max_window_layers = len(new)


def main():
    ap = argparse.ArgumentParser(description="grow a zoo model deeper and prune its MLPs (continuation start)")
    ap.add_argument("--src", required=True, help="HF folder of the trained model")
    ap.add_argument("--config", required=True, help="the continuation's config (its 'grow' block)")
    ap.add_argument("--cache", required=True, help="token cache (train.py --cache) for calibration")
    ap.add_argument("--out", required=True)
    ap.add_argument("--calib", type=int, default=256, help="calibration examples")
    a = ap.parse_args()
    torch.set_grad_enabled(False)  # nothing here trains
    cfg = json.load(open(a.config))
    g = cfg["grow"]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = transformers.AutoModelForCausalLM.from_pretrained(a.src, dtype=torch.float32, attn_implementation="eager").to(dev).eval()
    calib = list(calibration_batches(a.cache, a.calib, cfg["seed"]))
    held = list(calibration_batches(a.cache, 64, cfg["seed"] + 1))
    loss0 = mean_loss(model, held)
    probe = held[0].to(dev)
    logits0 = model(input_ids=probe).logits

    grow(model, g["duplicate"])
    drift = float((model(input_ids=probe).logits - logits0).abs().max())
    if drift > 1e-4:
        raise SystemExit(f"growing changed the function (max |logit diff| {drift:g}); the identity blocks are wrong")

    width = g.get("intermediate_size")
    if width and width < model.config.intermediate_size:
        for layer, imp in zip(model.model.layers, neuron_importance(model, calib)):
            if float(layer.mlp.down_proj.weight.abs().max()) == 0.0:
                keep = torch.arange(width, device=dev)  # an identity block: any neurons, they start at zero
            else:
                keep = imp.topk(width).indices
            prune_mlp(layer.mlp, keep)
        model.config.intermediate_size = width
    loss1 = mean_loss(model, held)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(a.out)
    report = {"from": a.src, "grow": g, "layers": model.config.num_hidden_layers, "params": params,
              "identity_drift": drift, "loss_before": loss0, "loss_after_prune": loss1}
    json.dump(report, open(os.path.join(a.out, "grow.json"), "w"), indent=1)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
