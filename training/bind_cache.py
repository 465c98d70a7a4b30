"""Cuts the tokenized caches (data.py tokenize) down to what the binding continuation reads, so
they travel to the GPU machine with the working tree (`carry`, 64 MiB in all) and the 10-minute
call spends no time tokenizing (two tokenizers take ~1 min there, ~5 min each on 2 CPU cores here).

    python3 training/data.py tokenize --bundle .devdata/bundle.tar.xz \
        --tokenizer training/tokenizers/bpe4096.json --out /tmp/tok4096      (and bpe8192)
    python3 training/bind_cache.py --src /tmp/tok4096 --tokenizer training/tokenizers/bpe4096.json \
        --out .devdata/bind/tok/bpe4096
    python3 training/bind_cache.py --tests .devdata/bind/test.jsonl.xz     (the bundle's test split)
    python3 training/bind_cache.py --init kvw-llama-17m    (models/NAME -> .devdata/bind/init/NAME.tar.xz)

Per tokenizer (~14 MiB): corpus_train = CORPUS_TOKENS tokens in 32 evenly spaced windows of the train
corpus; corpus_val whole; tasks_train = the first KEEP[group] train examples of each group (the
export order is the generator's, seeded, so this is deterministic). Compressed npz.
"""
import argparse
import lzma
import os
import shutil

import numpy as np

CORPUS_TOKENS = 2_000_000
KEEP = {"facts": 32000, "twohop": 30000, "arith": 20000, "instr": 5000,
        "needle@1024": 400, "needle@2048": 300, "needle@4096": 200, "needle@8192": 200}


def cut(src: str, out: str, tokenizer: str) -> None:
    os.makedirs(out, exist_ok=True)
    shutil.copy(tokenizer, os.path.join(out, "tokenizer.json"))
    corpus = np.load(os.path.join(src, "corpus_train.npz"))["tokens"]
    k, w = 32, CORPUS_TOKENS // 32
    starts = np.linspace(0, len(corpus) - w, k).astype(np.int64)
    np.savez_compressed(os.path.join(out, "corpus_train.npz"), tokens=np.concatenate([corpus[s:s + w] for s in starts]))
    shutil.copy(os.path.join(src, "corpus_val.npz"), os.path.join(out, "corpus_val.npz"))
    z = dict(np.load(os.path.join(src, "tasks_train.npz")))  # NpzFile re-reads an array on every access
    groups = [str(g) for g in z["groups"]]
    keep = []
    for gi, g in enumerate(groups):
        idx = np.nonzero(z["group"] == gi)[0]
        keep.append(idx[:KEEP.get(g, 0)])
    keep = np.sort(np.concatenate(keep))
    po, to = z["prompt_off"], z["target_off"]
    prompts = [z["prompt"][po[i]:po[i + 1]] for i in keep]
    targets = [z["target"][to[i]:to[i + 1]] for i in keep]

    def ragged(seqs):
        offs = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in seqs], out=offs[1:])
        return np.concatenate(seqs).astype(np.uint16), offs

    pf, pof = ragged(prompts)
    tf, tof = ragged(targets)
    np.savez_compressed(os.path.join(out, "tasks_train.npz"), prompt=pf, prompt_off=pof, target=tf, target_off=tof,
                        group=z["group"][keep], groups=z["groups"])
    print(out, {g: int((z["group"][keep] == gi).sum()) for gi, g in enumerate(groups)},
          f"{sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / 2**20:.1f} MiB", flush=True)


def tests(bundle: str, out: str) -> None:
    from data import read_bundle
    raw = read_bundle(bundle)["tasks/test.jsonl"]
    with lzma.open(out, "wb", preset=9) as f:
        f.write(raw)
    print(out, f"{os.path.getsize(out) / 2**20:.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description="cut tokenized caches for the binding continuation")
    ap.add_argument("--src")
    ap.add_argument("--tokenizer")
    ap.add_argument("--out")
    ap.add_argument("--tests", help="write the bundle's test split here as .jsonl.xz")
    ap.add_argument("--init", help="pack models/NAME (the starting weights) into .devdata/bind/init/NAME.tar.xz")
    ap.add_argument("--bundle", default=os.path.join(os.path.dirname(__file__), "..", ".devdata", "bundle.tar.xz"))
    a = ap.parse_args()
    if a.tests:
        tests(a.bundle, a.tests)
    if a.src:
        cut(a.src, a.out, a.tokenizer)
    if a.init:
        import tarfile
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        dst = os.path.join(root, ".devdata", "bind", "init", a.init + ".tar.xz")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with tarfile.open(dst, "w:xz", preset=1) as tar:
            for f in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"):
                tar.add(os.path.join(root, "models", a.init, f), arcname=f"{a.init}/{f}")
        print(dst, f"{os.path.getsize(dst) / 2**20:.1f} MiB")

if __name__ == "__main__":
    main()
