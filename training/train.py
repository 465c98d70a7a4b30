"""Trains one model of the zoo from its config (training/configs/<name>.json).

    python training/train.py --config training/configs/kvw-llama-6m.json \
        --cache /tmp/kvw/tok/bpe4096 --out /tmp/kvw/run/kvw-llama-6m [--init DIR] [--smoke]

The config names the family and sizes (model.py), the tokenizer, the seed, the optimizer and a
list of phases; each phase has a sequence length, batch size, step count and a data mix (data.py
Packer). The learning rate warms up, then follows one cosine over all phases to lr*min_lr_frac.
AdamW (betas 0.9/0.95), bf16 autocast, SDPA attention, grad clip 1.0. The loss is a weighted mean
of token cross-entropies: LM text 1, task prompts `prompt_weight`, answer tokens and the
<|endoftext|> closing them `target_weight`.

Writes <out>/model (HF folder, fp32), <out>/train.json (tokens seen, losses, time) and logs to stdout.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from data import EOT_ID, Packer, TaskSet
from model import build_model, count_params


class Rows(torch.utils.data.IterableDataset):
    """Batches of one phase, made in a worker process (seeded by config seed, phase and worker)."""

    def __init__(self, corpus, tasks_path, phase, cfg, seed):
        self.corpus, self.tasks_path, self.phase, self.cfg, self.seed = corpus, tasks_path, phase, cfg, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        rng = np.random.default_rng([*self.seed, wid])
        packer = Packer(self.corpus, TaskSet(self.tasks_path), self.phase, self.cfg, rng)
        while True:
            x, y, w = packer.batch(self.phase["batch"])
            yield torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w)


def lr_at(step, total, cfg, prog):
    """Linear warmup over cfg['warmup'] steps, then cosine in `prog` (0..1) to lr * min_lr_frac."""
    warm = cfg["warmup"]
    if step < warm:
        return cfg["lr"] * (step + 1) / warm
    t = (prog - warm / total) / max(1e-9, 1 - warm / total)
    lo = cfg["lr"] * cfg["min_lr_frac"]
    return lo + 0.5 * (cfg["lr"] - lo) * (1 + math.cos(math.pi * min(1.0, max(0.0, t))))


@torch.no_grad()
def val_loss(model, corpus_val, seq_len, n=16, device="cuda"):
    """Mean LM loss on n windows of held-out text."""
    model.eval()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(n):
        s = int(rng.integers(0, len(corpus_val) - seq_len - 1))
        x = torch.from_numpy(corpus_val[s:s + seq_len + 1].astype(np.int64))[None].to(device)
        x[0, 0] = EOT_ID
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x[:, :-1]).logits
        losses.append(F.cross_entropy(logits.float()[0], x[0, 1:]).item())
    model.train()
    return float(np.mean(losses))


def main():
    ap = argparse.ArgumentParser(description="train one zoo model")
    ap.add_argument("--config", required=True)
    ap.add_argument("--cache", required=True, help="tokenized bundle folder for the config's tokenizer")
    ap.add_argument("--out", required=True)
    ap.add_argument("--init", help="HF folder to start from instead of a fresh init")
    ap.add_argument("--smoke", action="store_true", help="20 steps a phase, small batches")
    ap.add_argument("--deadline", type=float, default=0, help="stop (and save) after this many seconds")
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    cfg = json.load(open(a.config))
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(cfg["seed"])
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    dev = "cuda"

    corpus = np.load(os.path.join(a.cache, "corpus_train.npz"))["tokens"]
    corpus_val = np.load(os.path.join(a.cache, "corpus_val.npz"))["tokens"]
    tasks_path = os.path.join(a.cache, "tasks_train.npz")
    from tokenizers import Tokenizer
    vocab = Tokenizer.from_file(os.path.join(a.cache, "tokenizer.json")).get_vocab_size()

    if a.init:
        import transformers
        model = transformers.AutoModelForCausalLM.from_pretrained(a.init, dtype=torch.float32, attn_implementation="sdpa")
    else:
        model = build_model(cfg, vocab)
    model.to(dev).train()
    n_params = count_params(model)
    print(f"[{cfg['name']}] {cfg['family']} {n_params / 1e6:.2f}M params, vocab {vocab}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr"], betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = torch.compile(model) if a.compile else model

    phases = cfg["phases"]
    if a.smoke:
        phases = [dict(p, steps=20, batch=max(1, p["batch"] // 4)) for p in phases]
    total = sum(p["steps"] for p in phases)
    bounds = np.cumsum([p["steps"] for p in phases]) / total  # phase i runs while progress < bounds[i]
    # progress = step/total, or elapsed/deadline if that is larger (a time limit shortens every
    # phase in proportion and still anneals the learning rate; without one, runs are step-exact)
    step, tokens, t0 = 0, 0, time.time()
    hist, phase_stats, recent = [], [], []
    pi, it, tp, ph_tokens, ph_steps = -1, None, 0.0, 0, 0
    while True:
        prog = step / total
        if a.deadline:
            prog = max(prog, (time.time() - t0) / a.deadline)
        if prog >= 1:
            break
        want = int(np.searchsorted(bounds, prog, side="right"))
        if want != pi:
            if pi >= 0:
                phase_stats.append({"seq_len": phases[pi]["seq_len"], "batch": phases[pi]["batch"], "steps": ph_steps,
                                    "tokens": ph_tokens, "seconds": round(time.time() - tp, 1)})
            pi, phase = want, phases[want]
            rows = Rows(corpus, tasks_path, phase, cfg, [cfg["seed"], pi])
            it = iter(torch.utils.data.DataLoader(rows, batch_size=None, num_workers=3, pin_memory=True, prefetch_factor=4))
            tp, ph_tokens, ph_steps = time.time(), 0, 0
        x, y, w = (t.to(dev, non_blocking=True) for t in next(it))
        lr = lr_at(step, total, cfg, prog)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = fwd(input_ids=x).logits
        ce = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), reduction="none")
        loss = (ce * w.view(-1)).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent = (recent + [loss.detach()])[-100:]
        step += 1
        ph_steps += 1
        tokens += x.numel()
        ph_tokens += x.numel()
        if step % 50 == 0 or step == 1:
            lv = loss.item()
            tw = ((w.view(-1) > 1.5).float() * ce).sum().item() / max(1.0, (w > 1.5).sum().item())
            hist.append((step, round(lv, 4)))
            print(f"[{cfg['name']}] step {step}/{total} phase {pi} progress {prog:.3f} loss {lv:.3f} answer-ce {tw:.3f} "
                  f"lr {lr:.2e} {ph_tokens / (time.time() - tp) / 1e3:.0f}k tok/s {time.time() - t0:.0f}s", flush=True)
    phase_stats.append({"seq_len": phases[pi]["seq_len"], "batch": phases[pi]["batch"], "steps": ph_steps,
                        "tokens": ph_tokens, "seconds": round(time.time() - tp, 1)})
    stopped = step < total
    del it
    train_s = time.time() - t0
    vl = val_loss(model, corpus_val, min(1024, phases[0]["seq_len"]))
    stats = {"name": cfg["name"], "params": n_params, "vocab": vocab, "steps": step, "planned_steps": total,
             "tokens_seen": tokens, "final_loss": torch.stack(recent).mean().item() if recent else None,
             "val_loss_heldout_books": vl, "train_seconds": round(train_s, 1), "phases": phase_stats,
             "stopped_by_deadline": stopped, "deadline_s": a.deadline, "smoke": a.smoke, "init": a.init, "loss_history": hist,
             "gpu": torch.cuda.get_device_name()}
    print(f"[{cfg['name']}] done: {step} steps, {tokens / 1e6:.1f}M tokens, loss {stats['final_loss']}, "
          f"val {vl:.3f}, {train_s:.0f}s", flush=True)
    model.save_pretrained(os.path.join(a.out, "model"))
    json.dump(stats, open(os.path.join(a.out, "train.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
