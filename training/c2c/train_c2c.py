"""Trains kvwire's C2C fuser for one (sharer, receiver) pair on the GPU machine, exports it.

The question-only protocol of docs/fuse.md, in PyTorch, both LLMs frozen:

  sharer    prefills [BOS_S, c_1 .. c_n]; its cache's content tokens, keys unrotated (-theta at the
            sharer's positions with the sharer's frequencies), in the sharer layer paired with each
            receiver layer (last-aligned, pair.json) are the fuser's input
  fuser     per receiver layer l, per content token t (all inputs of token t only):
              x  = [K~_s(t) heads; V_s(t) heads]                       (p = 2*Hs*Ds)
              r  = [K_base(t); V_base(t)]                               (2q, q = Hr*Dr)
              xh = (x - in_mean) * in_scale,  rh = (r - prior) * r_scale
              h1 = silu(A_s xh + A_r rh + a)
              h2 = h1 + silu(B h1 + b)
              D  = C h2 + S xh + c                                      (residual, 2q)
              w  = sigmoid(E h2 + e)                                    (per token, per receiver head)
              P  = base + w * D                                         (projection, per head)
              slot = base + g_l * (P - base)                            (g_l: per-layer gate)
            base = the receiver's calibration mean K/V (the prior): in the question-only protocol
            the receiver has no K/V of the context, so r = prior and rh = 0 (the receiver branch
            A_r is exported but inert; it is what receiver-side fusion would feed)
  receiver  its own [BOS_R] at position 0, the slots (keys rotated with the receiver's RoPE at
            the sharer's positions), then question + gold answer at positions n, n+1, ...;
            loss = mean NLL of the gold answer tokens (+ a small auxiliary reconstruction loss of
            P against the receiver's own unrotated K/V of the character-aligned token, which the
            receiver never sees at inference; it only helps the projector start)

Gates: one logit per receiver layer, Gumbel-sigmoid while training (temperature annealed), hard
(logit > 0) at export. S and c start at the ridge solution on the first batches (C and B at 0, so
training starts from the linear fuser), w starts near 1.

Outputs in --out: fuser.safetensors (fp16 tensors + __metadata__["kvwire.fuser"] JSON, kind
"c2c-mlp"), reference.safetensors (fp32: a validation example's sharer K/V for 12 tokens and the
fuser's projections / slots computed from the fp16-rounded weights, for kvwire's parity test),
train.json (the run's report). Data: a folder written by src/fuse/c2c-data.ts (pair.json,
train.jsonl.gz, val.jsonl.gz).

  python3 training/c2c/train_c2c.py --data D --sharer S --receiver R --out O [--seconds 200]
"""
import argparse
import gzip
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F

FORMAT_VERSION = 1


def log(*a):
    print(*a, flush=True)


def read_jsonl(path):
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def inv_freq(info, device):
    """Inverse RoPE frequencies as kvwire computes them (src/model/config.ts), default RoPE only."""
    scaling = (info.get("ropeScaling") or {}).get("type", "none")
    if scaling not in ("none", "default"):
        raise ValueError(f"RoPE scaling {scaling!r} is not supported by this trainer")
    D = info["headDim"]
    i = torch.arange(0, D // 2, dtype=torch.float64)
    expo = (2 * i / D).float().double()
    return (1.0 / (torch.tensor(float(info["ropeTheta"]), dtype=torch.float64) ** expo).float()).to(device)


def rotate(x, pos, inv, sign):
    """Rotate-half RoPE of x (B, H, T, D) by sign*theta, theta = pos (B, T) * inv; float32 angles."""
    ang = pos.float()[..., None] * inv  # (B, T, D/2)
    c = torch.cos(ang)[:, None]
    s = torch.sin(ang)[:, None] * sign
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def pad(seqs, value=0):
    T = max(len(s) for s in seqs)
    out = torch.full((len(seqs), T), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


@torch.no_grad()
def prefill_kv(model, seqs, device):
    """Per layer (keys post-RoPE, values), each (B, H, T, D), for right-padded seqs (causal: pads at
    the end do not change the real tokens)."""
    ids = pad(seqs).to(device)
    out = model(input_ids=ids, use_cache=True)
    cache = out.past_key_values
    return [(cache.layers[l].keys.float(), cache.layers[l].values.float()) for l in range(len(cache.layers))]


class C2C(torch.nn.Module):
    def __init__(self, L, p, q, Hr, hidden):
        super().__init__()
        self.L, self.p, self.q, self.Hr, self.hidden = L, p, q, Hr, hidden
        self.in_mean = torch.nn.Parameter(torch.zeros(L, p), requires_grad=False)
        self.in_scale = torch.nn.Parameter(torch.ones(L, p), requires_grad=False)
        self.prior = torch.nn.Parameter(torch.zeros(L, 2 * q), requires_grad=False)
        self.r_scale = torch.nn.Parameter(torch.ones(L, 2 * q), requires_grad=False)
        self.A_s = torch.nn.Parameter(torch.randn(L, hidden, p) / math.sqrt(p))
        self.A_r = torch.nn.Parameter(torch.zeros(L, hidden, 2 * q))
        self.a = torch.nn.Parameter(torch.zeros(L, hidden))
        self.B = torch.nn.Parameter(torch.zeros(L, hidden, hidden))
        self.b = torch.nn.Parameter(torch.zeros(L, hidden))
        self.C = torch.nn.Parameter(torch.zeros(L, 2 * q, hidden))
        self.S = torch.nn.Parameter(torch.zeros(L, 2 * q, p))
        self.c = torch.nn.Parameter(torch.zeros(L, 2 * q))
        self.E = torch.nn.Parameter(torch.zeros(L, Hr, hidden))
        self.e = torch.nn.Parameter(torch.full((L, Hr), 3.0))
        self.gate_logit = torch.nn.Parameter(torch.full((L,), 3.0))

    def layer(self, l, x, r=None):
        """x (..., p) sharer input, r (..., 2q) receiver base or None (= prior). Returns P (..., 2q),
        w (..., Hr), D (..., 2q)."""
        xh = (x - self.in_mean[l]) * self.in_scale[l]
        pre = xh @ self.A_s[l].T + self.a[l]
        base = self.prior[l] if r is None else r
        if r is not None:
            pre = pre + ((r - self.prior[l]) * self.r_scale[l]) @ self.A_r[l].T
        h1 = F.silu(pre)
        h2 = h1 + F.silu(h1 @ self.B[l].T + self.b[l])
        D = h2 @ self.C[l].T + xh @ self.S[l].T + self.c[l]
        w = torch.sigmoid(h2 @ self.E[l].T + self.e[l])
        Dr = self.q // self.Hr
        wexp = w.repeat_interleave(Dr, dim=-1).repeat(*([1] * (w.dim() - 1)), 2)  # (..., 2q): K heads then V heads
        return base + wexp * D, w, D


def sharer_inputs(skv, used, s_inv, N, device):
    """Unrotated content-token inputs per used sharer layer: dict layer -> (B, N, p)."""
    out = {}
    for u in used:
        k, v = skv[u]
        B, H, T, D = k.shape
        pos = torch.arange(T, device=device)[None].expand(B, T)
        ku = rotate(k, pos, s_inv, -1)[:, :, 1 : 1 + N]
        vv = v[:, :, 1 : 1 + N]
        out[u] = torch.cat([ku.permute(0, 2, 1, 3).reshape(B, N, H * D), vv.permute(0, 2, 1, 3).reshape(B, N, H * D)], dim=-1)
    return out


def receiver_targets(rkv, batch, r_inv, N, device):
    """Per receiver layer (B, N, 2q) unrotated K/V of the receiver token aligned with each sharer
    content token, and the validity mask (B, N)."""
    B = len(batch)
    idx = torch.zeros(B, N, dtype=torch.long)
    valid = torch.zeros(B, N, dtype=torch.bool)
    for i, ex in enumerate(batch):
        for j, rj in enumerate(ex["s2r"][1:]):
            if rj >= 0:
                idx[i, j] = rj
                valid[i, j] = True
    idx, valid = idx.to(device), valid.to(device)
    outs = []
    for k, v in rkv:
        _, H, T, D = k.shape
        pos = torch.arange(T, device=device)[None].expand(B, T)
        ku = rotate(k, pos, r_inv, -1).permute(0, 2, 1, 3).reshape(B, T, H * D)
        vv = v.permute(0, 2, 1, 3).reshape(B, T, H * D)
        kv = torch.cat([ku, vv], dim=-1)
        outs.append(torch.gather(kv, 1, idx[..., None].expand(B, N, kv.shape[-1])))
    return outs, valid


def receiver_nll(receiver, bos_kv, slot_k, slot_v, slot_valid, batch, device, per_example=False, starts=None):
    """Mean NLL of the gold answer tokens given [BOS_R] + slots (per layer (B, Hr, N, Dr), keys
    already rotated) + question. slot_k None: the receiver alone (BOS only)."""
    from transformers import DynamicCache

    B = len(batch)
    N = 0 if slot_k is None else slot_k[0].shape[2]
    cache = DynamicCache()
    for l, (bk, bv) in enumerate(bos_kv):
        k = bk.expand(B, -1, -1, -1)
        v = bv.expand(B, -1, -1, -1)
        if slot_k is not None:
            k = torch.cat([k, slot_k[l]], dim=2)
            v = torch.cat([v, slot_v[l]], dim=2)
        cache.update(k, v, l)
    q = pad([ex["q"] for ex in batch]).to(device)
    Q = q.shape[1]
    start = torch.tensor(starts if starts is not None else [len(ex["s"]) if slot_k is not None else 1 for ex in batch], device=device)
    pos = start[:, None] + torch.arange(Q, device=device)[None]
    mask = torch.ones(B, 1 + N + Q, dtype=torch.long, device=device)
    if slot_k is not None:
        mask[:, 1 : 1 + N] = slot_valid.long()
    out = receiver(input_ids=q, position_ids=pos, attention_mask=mask, past_key_values=cache, use_cache=True)
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    tgt = torch.zeros(B, Q, dtype=torch.bool, device=device)
    for i, ex in enumerate(batch):
        tgt[i, ex["from"] : len(ex["q"])] = True
    lp = torch.gather(logp[:, :-1], 2, q[:, 1:, None])[..., 0]
    m = tgt[:, 1:]
    if per_example:
        return -(lp * m).sum(1), m.sum(1)
    return -(lp * m).sum() / m.sum()


def build_slots(model, pair, sin, batch, r_inv, device, hard, tau=1.0, gates=None):
    """Per receiver layer slot keys (rotated) / values (B, Hr, N, Dr), validity (B, N), and P/D."""
    B = len(batch)
    N = max(len(ex["s"]) for ex in batch) - 1
    Hr, Dr = pair["receiver"]["kvHeads"], pair["receiver"]["headDim"]
    valid = torch.zeros(B, N, dtype=torch.bool, device=device)
    for i, ex in enumerate(batch):
        valid[i, : len(ex["s"]) - 1] = True
    pos = torch.arange(1, N + 1, device=device)[None].expand(B, N)
    ks, vs, Ps = [], [], []
    if gates is None:
        if hard:
            gates = (model.gate_logit > 0).float()
        else:
            u = torch.rand_like(model.gate_logit).clamp(1e-6, 1 - 1e-6)
            gates = torch.sigmoid((model.gate_logit + torch.log(u) - torch.log1p(-u)) / tau)
    for l, s in enumerate(pair["sharerLayerOf"]):
        P, w, D = model.layer(l, sin[s])
        Ps.append(P)
        slot = model.prior[l] + gates[l] * (P - model.prior[l])
        k = slot[..., : Hr * Dr].reshape(B, N, Hr, Dr).permute(0, 2, 1, 3)
        v = slot[..., Hr * Dr :].reshape(B, N, Hr, Dr).permute(0, 2, 1, 3)
        ks.append(rotate(k, pos, r_inv, 1))
        vs.append(v)
    return ks, vs, valid, Ps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--sharer", required=True)
    ap.add_argument("--receiver", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=200)
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--aux", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="only the protocol identity checks")
    a = ap.parse_args()

    import transformers
    from safetensors.torch import save_file, load_file

    t_start = time.time()
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    os.makedirs(a.out, exist_ok=True)
    pair = json.load(open(os.path.join(a.data, "pair.json")))
    train = read_jsonl(os.path.join(a.data, "train.jsonl.gz"))
    val = read_jsonl(os.path.join(a.data, "val.jsonl.gz"))
    log(f"data: {len(train)} train, {len(val)} val; pairing {pair['sharerLayerOf']}")

    def load(path):
        m = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa").to(device).eval()
        for p in m.parameters():
            p.requires_grad_(False)
        return m

    sharer, receiver = load(a.sharer), load(a.receiver)
    S_, R_ = pair["sharer"], pair["receiver"]
    for side, m, info in (("sharer", sharer, S_), ("receiver", receiver, R_)):
        c = m.config
        hd = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        assert (c.num_hidden_layers, c.num_key_value_heads, hd) == (info["layers"], info["kvHeads"], info["headDim"]), f"{side} shape differs from pair.json"
    s_inv, r_inv = inv_freq(S_, device), inv_freq(R_, device)
    used = sorted(set(pair["sharerLayerOf"]))
    L, Hr, Dr, Hs, Ds = R_["layers"], R_["kvHeads"], R_["headDim"], S_["kvHeads"], S_["headDim"]
    p, q = 2 * Hs * Ds, Hr * Dr
    bos_kv = prefill_kv(receiver, [[R_["bosId"]]], device)

    # --- protocol identity check: the receiver's own context cache, unrotated by rotate() and
    # re-rotated at every position + SHIFT (its BOS too), injected as slots through receiver_nll
    # with the question at len + SHIFT, must give the NLL of reading the context (RoPE is relative,
    # so a uniform shift changes nothing iff rotate() is HF's RoPE). Batch of 2 with padding:
    # checks RoPE convention and frequencies, positions, masks, the cache injection.
    SHIFT = 7
    with torch.no_grad():
        exs = [val[0], val[1]]
        rkv = prefill_kv(receiver, [ex["r"] for ex in exs], device)
        N = max(len(ex["r"]) for ex in exs) - 1
        pos = torch.arange(1, N + 1, device=device)[None].expand(2, N) + SHIFT
        ks = [rotate(rotate(k, torch.arange(k.shape[2], device=device)[None].expand(2, -1), r_inv, -1)[:, :, 1 : 1 + N], pos, r_inv, 1) for k, _ in rkv]
        vs = [v[:, :, 1 : 1 + N] for _, v in rkv]
        shifted_bos = [(rotate(bk, torch.full((1, 1), SHIFT, device=device), r_inv, 1), bv) for bk, bv in bos_kv]
        valid = torch.zeros(2, N, dtype=torch.bool, device=device)
        for i, ex in enumerate(exs):
            valid[i, : len(ex["r"]) - 1] = True
        inj, cnt = receiver_nll(receiver, shifted_bos, ks, vs, valid, exs, device, per_example=True, starts=[len(ex["r"]) + SHIFT for ex in exs])
        direct = []
        for ex in exs:
            ids = torch.tensor([ex["r"] + ex["q"]], device=device)
            lp = torch.log_softmax(receiver(input_ids=ids).logits.float(), -1)[0]
            o = len(ex["r"])
            direct.append(-sum(lp[o + k - 1, ex["q"][k]].item() for k in range(ex["from"], len(ex["q"]))))
        diff = max(abs(inj[i].item() - direct[i]) / max(1.0, abs(direct[i])) for i in range(2))
        log(f"identity check: injected {[round(x, 5) for x in inj.tolist()]} vs direct {[round(x, 5) for x in direct]}, rel diff {diff:.2e}")
        if diff > 1e-3:
            raise SystemExit("identity check failed: injected cache does not reproduce reading the context")
    if a.check:
        return

    # --- statistics and ridge start on the first batches
    model = C2C(L, p, q, Hr, a.hidden).to(device)
    order = list(range(len(train)))
    random.shuffle(order)

    def batch_of(idx):
        return [train[i] for i in idx]

    def features(batch):
        N = max(len(ex["s"]) for ex in batch) - 1
        skv = prefill_kv(sharer, [ex["s"] for ex in batch], device)
        sin = sharer_inputs(skv, used, s_inv, N, device)
        smask = torch.zeros(len(batch), N, dtype=torch.bool, device=device)
        for i, ex in enumerate(batch):
            smask[i, : len(ex["s"]) - 1] = True
        return sin, smask

    with torch.no_grad():
        calib = batch_of(order[:256])
        X = {u: [] for u in used}
        Y = [[] for _ in range(L)]
        for i in range(0, len(calib), 64):
            b = calib[i : i + 64]
            sin, smask = features(b)
            N = smask.shape[1]
            tg, tvalid = receiver_targets(prefill_kv(receiver, [ex["r"] for ex in b], device), b, r_inv, N, device)
            m = smask & tvalid
            for u in used:
                X[u].append(sin[u][m])
            for l in range(L):
                Y[l].append(tg[l][m])
        X = {u: torch.cat(v) for u, v in X.items()}
        Y = [torch.cat(v) for v in Y]
        for l, s in enumerate(pair["sharerLayerOf"]):
            x, y = X[s], Y[l]
            mu, sd = x.mean(0), x.std(0).clamp_min(1e-4)
            ymu, ysd = y.mean(0), y.std(0).clamp_min(1e-4)
            model.in_mean[l] = mu
            model.in_scale[l] = 1 / sd
            model.prior[l] = ymu
            model.r_scale[l] = 1 / ysd
            xh = (x - mu) / sd
            lam = 1e-2 * xh.shape[0]
            W = torch.linalg.solve(xh.T @ xh + lam * torch.eye(p, device=device), xh.T @ (y - ymu))  # (p, 2q)
            model.S[l] = W.T
            r2 = 1 - ((xh @ W - (y - ymu)) ** 2).sum() / ((y - ymu) ** 2).sum()
            log(f"ridge start layer {l} (sharer {s}): {x.shape[0]} rows, R2 {r2.item():.3f}")
        tnorm = [1.0 / Y[l].var(0).clamp_min(1e-6) for l in range(L)]

    def evaluate(gates=None, alone=False):
        model.eval()
        tot, cnt = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(val), 50):
                b = val[i : i + 50]
                if alone:
                    s, c = receiver_nll(receiver, bos_kv, None, None, None, b, device, per_example=True)
                else:
                    sin, _ = features(b)
                    ks, vs, valid, _ = build_slots(model, pair, sin, b, r_inv, device, hard=True, gates=gates)
                    s, c = receiver_nll(receiver, bos_kv, ks, vs, valid, b, device, per_example=True)
                tot += s.sum().item()
                cnt += c.sum().item()
        model.train()
        return tot / cnt

    nll_alone = evaluate(alone=True)
    nll_ridge = evaluate(gates=torch.ones(L, device=device))
    log(f"val nll: receiver alone {nll_alone:.4f}, ridge start (gates 1) {nll_ridge:.4f}")

    params = [model.A_s, model.A_r, model.a, model.B, model.b, model.C, model.S, model.c, model.E, model.e]
    opt = torch.optim.AdamW([{"params": params, "lr": a.lr, "weight_decay": 0.0}, {"params": [model.gate_logit], "lr": 0.05, "weight_decay": 0.0}])
    t0 = time.time()
    step, pos = 0, 256 % len(order)
    best = (float("inf"), None, -1)
    curve = []
    train_loss = []
    budget = a.seconds
    while step < a.max_steps:
        el = time.time() - t0
        if el > budget:
            break
        frac = min(1.0, el / budget)
        for g in opt.param_groups[:1]:
            g["lr"] = a.lr * (0.5 * (1 + math.cos(math.pi * frac)) * 0.95 + 0.05) * min(1.0, (step + 1) / 100)
        tau = 1.0 - 0.8 * frac
        if pos + a.batch > len(order):
            random.shuffle(order)
            pos = 0
        b = batch_of(order[pos : pos + a.batch])
        pos += a.batch
        with torch.no_grad():
            sin, smask = features(b)
            N = smask.shape[1]
            tg, tvalid = receiver_targets(prefill_kv(receiver, [ex["r"] for ex in b], device), b, r_inv, N, device) if a.aux > 0 else (None, None)
        ks, vs, valid, Ps = build_slots(model, pair, sin, b, r_inv, device, hard=False, tau=tau)
        nll = receiver_nll(receiver, bos_kv, ks, vs, valid, b, device)
        loss = nll
        aux = torch.zeros((), device=device)
        if a.aux > 0:
            m = (smask & tvalid).float()[..., None]
            for l in range(L):
                aux = aux + (((Ps[l] - tg[l]) ** 2) * tnorm[l] * m).sum() / (m.sum() * Ps[l].shape[-1])
            aux = aux / L
            loss = loss + a.aux * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        train_loss.append((nll.item(), aux.item()))
        if step % a.eval_every == 0:
            v = evaluate()
            curve.append({"step": step, "seconds": round(time.time() - t0, 1), "val_nll": v, "train_nll": sum(x for x, _ in train_loss[-50:]) / len(train_loss[-50:]),
                          "aux": sum(y for _, y in train_loss[-50:]) / len(train_loss[-50:]), "gates": (model.gate_logit > 0).int().tolist()})
            log(json.dumps(curve[-1]))
            if v < best[0]:
                best = (v, {k: t.detach().clone() for k, t in model.state_dict().items()}, step)
    v = evaluate()
    if v < best[0]:
        best = (v, {k: t.detach().clone() for k, t in model.state_dict().items()}, step)
    model.load_state_dict(best[1])
    log(f"trained {step} steps in {time.time() - t0:.0f} s; best val nll {best[0]:.4f} at step {best[2]}")

    # --- export: fp16 tensors, then everything below is computed from the rounded weights
    hard = (model.gate_logit > 0).float()
    tensors = {}
    for l in range(L):
        pre = f"layers.{l}."
        tensors[pre + "prior.keys"] = model.prior[l, :q].reshape(Hr, Dr)
        tensors[pre + "prior.values"] = model.prior[l, q:].reshape(Hr, Dr)
        for name, t in (("in_mean", model.in_mean), ("in_scale", model.in_scale), ("r_scale", model.r_scale), ("A_s", model.A_s), ("A_r", model.A_r),
                        ("a", model.a), ("B", model.B), ("b", model.b), ("C", model.C), ("S", model.S), ("c", model.c), ("E", model.E), ("e", model.e)):
            tensors[pre + "c2c." + name] = t[l]
    tensors["gates"] = hard
    tensors = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in tensors.items()}
    with torch.no_grad():
        for l in range(L):
            pre = f"layers.{l}."
            for name in ("in_mean", "in_scale", "r_scale", "A_s", "A_r", "a", "B", "b", "C", "S", "c", "E", "e"):
                getattr(model, name)[l] = tensors[pre + "c2c." + name].float().to(device)
            model.prior[l] = torch.cat([tensors[pre + "prior.keys"].reshape(-1), tensors[pre + "prior.values"].reshape(-1)]).float().to(device)
    nll_final = evaluate()
    nll_closed = evaluate(gates=torch.zeros(L, device=device))
    log(f"val nll after fp16 rounding: {nll_final:.4f} (all gates closed = prior only: {nll_closed:.4f})")
    n_params = sum(t.numel() for k, t in tensors.items() if ".c2c." in k)
    info = lambda m: {**m, "source": "models/" + os.path.basename(os.path.normpath(m["source"]))}
    meta = {
        "format": "kvwire-fuser", "version": FORMAT_VERSION, "kind": "c2c-mlp",
        "sharer": info(S_), "receiver": info(R_), "pairing": pair["pairing"], "alignment": pair["alignment"],
        "mode": "layer", "inputs": "joint",
        "layers": [{"sharerLayer": s, "groups": []} for s in pair["sharerLayerOf"]],
        "c2c": {"hidden": a.hidden, "activation": "silu", "inputs": "[K~ heads; V heads] of the paired sharer layer", "receiverInput": "prior (question-only)"},
        "fit": {
            "trainer": "training/c2c/train_c2c.py", "protocol": "question-only", "objective": "receiver answer NLL + aux reconstruction",
            "train": pair["counts"]["train"], "val": pair["counts"]["val"], "trainSeed": pair["trainSeed"], "valSeed": pair["valSeed"],
            "tasks": pair["tasks"], "steps": step, "bestStep": best[2], "batch": a.batch, "lr": a.lr, "aux": a.aux, "seconds": round(time.time() - t0, 1),
            "gateLogits": [round(x, 4) for x in model.gate_logit.tolist()], "parameters": n_params,
            "nll": {"alone": nll_alone, "ridgeStart": nll_ridge, "best": best[0], "fp16": nll_final, "closed": nll_closed},
            "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__, "transformers": transformers.__version__,
        },
    }
    save_file(tensors, os.path.join(a.out, "fuser.safetensors"), metadata={"kvwire.fuser": json.dumps(meta)})

    # --- reference batch for the TypeScript parity test: val[0]'s first 12 content tokens
    T = 12
    ex = val[0]
    with torch.no_grad():
        skv = prefill_kv(sharer, [ex["s"][: T + 1]], device)
        ref = {"positions": torch.arange(1, T + 1, dtype=torch.float32)}
        for u in used:
            ref[f"sharer.keys.{u}"] = skv[u][0][0, :, 1:].contiguous()
            ref[f"sharer.values.{u}"] = skv[u][1][0, :, 1:].contiguous()
        sin = sharer_inputs(skv, used, s_inv, T, device)
        ks, vs, _, Ps = build_slots(model, pair, sin, [ex | {"s": ex["s"][: T + 1]}], r_inv, device, hard=True)
        for l in range(L):
            _, w, _ = model.layer(l, sin[pair["sharerLayerOf"][l]])
            ref[f"projected.keys.{l}"] = Ps[l][0, :, :q].reshape(T, Hr, Dr).permute(1, 0, 2).contiguous()
            ref[f"projected.values.{l}"] = Ps[l][0, :, q:].reshape(T, Hr, Dr).permute(1, 0, 2).contiguous()
            ref[f"weights.{l}"] = w[0].T.contiguous()
            ref[f"slots.keys.{l}"] = ks[l][0].contiguous()
            ref[f"slots.values.{l}"] = vs[l][0].contiguous()
    ref = {k: v.float().cpu() for k, v in ref.items()}
    save_file(ref, os.path.join(a.out, "reference.safetensors"), metadata={"kvwire.reference": json.dumps({"example": ex["id"], "tokens": ex["s"][: T + 1], "used": used})})
    report = {"pair": f"{os.path.basename(a.sharer)}--{os.path.basename(a.receiver)}", "meta": meta["fit"], "curve": curve, "total_seconds": round(time.time() - t_start, 1)}
    json.dump(report, open(os.path.join(a.out, "train.json"), "w"), indent=1)
    log(f"exported {a.out}: {n_params} parameters, gates {hard.int().tolist()}")


if __name__ == "__main__":
    main()
