"""Fresh task data for the binding continuation: many distinct train examples, so none repeats in a run.

The zoo's facts and twohop stayed at chance because ~12 passes over 30-40K examples taught the
models those examples, not the lookup (training/README.md). Here every example is new to the model:
the task suite exports hundreds of thousands of train examples with fresh seeds, kept as text (it
xz-compresses ~15x, and one text file serves every tokenizer), and the GPU machine tokenizes them.

    # CPU machine (needs node and `npx tsc -p .`): export, strip to what training reads, compress
    python3 training/fresh.py export --out .devdata/fresh/tasks.jsonl.xz
    # another set of new examples for a later continuation (seeds + 100; the zoo's qwen fresh3/fresh4 runs)
    python3 training/fresh.py export --seed-shift 100 --out .devdata/fresh3/tasks.jsonl.xz
    # CPU machine: corpus + needle/instr examples of an existing token cache, without its facts/twohop
    python3 training/fresh.py base --src .devdata/bind/tok/bpe4096 --out .devdata/fresh/base/bpe4096
    # GPU machine: tokenize the fresh examples and merge them with the base -> a train.py --cache folder
    python3 training/fresh.py cache --tasks .devdata/fresh/tasks.jsonl.xz --base .devdata/fresh/base/bpe4096 --out /tmp/tok

Each line of tasks.jsonl.xz is {"group", "prompt", "target"}; `group` is what a config's `mix` names:
the task name, or a training variant of it (facts4: 4 facts a context, the curriculum's first step;
factsopen: no options, the answer is the value itself; twohop4: 4 facts). Multiple-choice facts are
written with the gold option's text as the target (`--form value`), not its letter: a first run with
letter targets (seeds 101-107) taught kvw-llama-17m the binding (open answers 93%, twohop 66%) but
not the letter lookup on top (facts 22-30%); the scorer maps an option's text to its letter.
"""
import argparse
import json
import lzma
import os
import shutil
import subprocess
import tempfile

import numpy as np

from data import _ragged  # training/data.py: ragged uint16 ids + offsets, as its caches hold them

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# (group, `kvwire tasks export` arguments, examples, seed). Seeds differ from the zoo's export
# (train seed 1) and from each other; test examples (split test, disjoint name pools) are untouched.
SPECS = [
    ("facts", ["--task", "facts", "--form", "value"], 100_000, 111),
    ("facts4", ["--task", "facts", "--facts", "4", "--form", "value"], 25_000, 112),
    ("factsopen", ["--task", "facts", "--form", "open"], 30_000, 113),
    ("twohop", ["--task", "twohop"], 120_000, 114),
    ("twohop4", ["--task", "twohop", "--facts", "4"], 25_000, 115),
    ("arith", ["--task", "arith"], 80_000, 116),
    ("instr", ["--task", "instr"], 10_000, 117),
]
# Groups exported only when named (--groups): twohop with friend chains only, the chain kind the qwen
# models miss most (training/README.md, "Grown 10-layer qwen models").
EXTRA_SPECS = [
    ("twohopfriend", ["--task", "twohop", "--chain", "friend"], 80_000, 118),
]


def export(out: str, scale: float, seed_shift: int = 0, groups: list = None) -> None:
    specs = SPECS if not groups else [x for x in SPECS + EXTRA_SPECS if x[0] in groups]
    unknown = set(groups or []) - {x[0] for x in specs}
    if unknown:
        raise SystemExit(f"unknown groups {sorted(unknown)}; known: {[x[0] for x in SPECS + EXTRA_SPECS]}")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    counts = {}
    with tempfile.TemporaryDirectory() as d, lzma.open(tmp, "wt", encoding="utf-8", preset=9 | lzma.PRESET_EXTREME) as f:
        for group, args, n, seed in specs:
            n = max(1, int(n * scale))
            path = os.path.join(d, f"{group}.jsonl")
            subprocess.run(["node", os.path.join(ROOT, "dist", "cli", "main.js"), "tasks", "export", *args, "--split", "train",
                            "-n", str(n), "--seed", str(seed + seed_shift), "--out", path], check=True)
            with open(path, encoding="utf-8") as src:
                for line in src:
                    e = json.loads(line)
                    f.write(json.dumps({"group": group, "prompt": e["prompt"], "target": e["target"]}, ensure_ascii=False) + "\n")
            counts[group] = n
    os.replace(tmp, out)
    print(out, counts, f"{os.path.getsize(out) / 2**20:.1f} MiB", flush=True)


def _examples(z):
    """(group name, prompt ids, target ids) of a tasks_train.npz."""
    groups = [str(g) for g in z["groups"]]
    po, to = z["prompt_off"], z["target_off"]
    for i, gi in enumerate(z["group"]):
        yield groups[gi], z["prompt"][po[i]:po[i + 1]], z["target"][to[i]:to[i + 1]]


def _save_tasks(path: str, exs, compressed: bool = False) -> dict:
    """Writes (group, prompt ids, target ids) examples in data.py's tasks npz layout; counts per group."""
    groups = sorted({g for g, _, _ in exs})
    gidx = {g: i for i, g in enumerate(groups)}
    pf, pof = _ragged([p for _, p, _ in exs])
    tf, tof = _ragged([t for _, _, t in exs])
    (np.savez_compressed if compressed else np.savez)(
        path, prompt=pf, prompt_off=pof, target=tf, target_off=tof,
        group=np.array([gidx[g] for g, _, _ in exs], dtype=np.int32), groups=np.array(groups))
    return {g: sum(1 for x, _, _ in exs if x == g) for g in groups}


def base(src: str, out: str, keep: list) -> None:
    """Copies a token cache's corpus and tokenizer, and of its task examples only the groups in `keep`."""
    os.makedirs(out, exist_ok=True)
    for f in ("corpus_train.npz", "corpus_val.npz", "tokenizer.json"):
        shutil.copy(os.path.join(src, f), os.path.join(out, f))
    z = dict(np.load(os.path.join(src, "tasks_train.npz")))
    exs = [x for x in _examples(z) if any(x[0] == k or x[0].startswith(k + "@") for k in keep)]
    counts = _save_tasks(os.path.join(out, "tasks_base.npz"), exs, compressed=True)
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / 2**20
    print(out, counts, f"{size:.1f} MiB", flush=True)


def cache(tasks: str, base_dir: str, out: str) -> None:
    """tokenize tasks.jsonl.xz with the base's tokenizer, merge with the base's examples -> train.py cache."""
    from tokenizers import Tokenizer
    os.makedirs(out, exist_ok=True)
    for f in ("corpus_train.npz", "corpus_val.npz", "tokenizer.json"):
        shutil.copy(os.path.join(base_dir, f), os.path.join(out, f))
    tok = Tokenizer.from_file(os.path.join(base_dir, "tokenizer.json"))
    with lzma.open(tasks, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    enc = lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    prompts, targets = enc([r["prompt"] for r in rows]), enc([r["target"] for r in rows])
    exs = list(_examples(dict(np.load(os.path.join(base_dir, "tasks_base.npz")))))
    exs += [(r["group"], np.asarray(p, np.uint16), np.asarray(t, np.uint16)) for r, p, t in zip(rows, prompts, targets)]
    counts = _save_tasks(os.path.join(out, "tasks_train.npz"), exs)
    print(out, counts, flush=True)


def main():
    ap = argparse.ArgumentParser(description="fresh task data for the binding continuation")
    ap.add_argument("cmd", choices=["export", "base", "cache"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="export: multiply every count (a smaller dry run)")
    ap.add_argument("--seed-shift", type=int, default=0,
                    help="export: add this to every seed (another set of new examples for a later continuation)")
    ap.add_argument("--groups", help="export: only these groups (default: every group of SPECS; EXTRA_SPECS by name)")
    ap.add_argument("--src", help="base: a token cache folder (data.py tokenize or bind_cache.py)")
    ap.add_argument("--keep", default="needle,instr", help="base: task groups kept from --src")
    ap.add_argument("--tasks", help="cache: tasks.jsonl.xz from export")
    ap.add_argument("--base", help="cache: a folder from base")
    a = ap.parse_args()
    if a.cmd == "export":
        export(a.out, a.scale, a.seed_shift, a.groups.split(",") if a.groups else None)
    elif a.cmd == "base":
        base(a.src, a.out, a.keep.split(","))
    else:
        cache(a.tasks, a.base, a.out)


if __name__ == "__main__":
    main()
