"""Memorization check on the CPU machine (node + kvwire, no torch): accuracy of a model folder on
train-split examples it was trained on (the export's seed 1, first N) versus fresh train-split
examples (same names, same generator, another seed: contexts it never saw), and on the test split.

    npx tsc -p . && python3 training/seen_vs_fresh.py --model models/kvw-llama-17m --tasks facts,twohop -n 100

High on "seen" with chance on "fresh" means the model memorized its training examples instead
of learning the task; chance on both means it learned neither.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLI = os.path.join(ROOT, "dist", "cli", "main.js")
sys.path.insert(0, HERE)
# evaluate.py's scorers are plain Python; torch is only needed for its decoding (stubbed here)
sys.modules.setdefault("torch", types.SimpleNamespace(no_grad=lambda: (lambda f: f)))
from evaluate import score, wilson  # noqa: E402


def export(task: str, split: str, seed: int, n: int) -> list:
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        subprocess.run(["node", CLI, "tasks", "export", "--task", task, "--split", split, "--seed", str(seed),
                        "-n", str(n), "--out", f.name], check=True, capture_output=True)
        return [json.loads(line) for line in open(f.name)]


def accuracy(model: str, exs: list):
    ok, outs = 0, []
    for e in exs:
        for attempt in range(3):  # a concurrent `npx tsc` can rewrite dist/ under a running call
            r = subprocess.run(["node", CLI, "generate", "--model", model, "--prompt", e["prompt"], "--max-tokens", "8"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
        r.check_returncode()
        out = r.stdout[len(e["prompt"]):].split("\n")[0] if r.stdout.startswith(e["prompt"]) else r.stdout.split("\n")[0]
        ok += score(e, out)
        outs.append(out)
    return ok, outs


def main():
    ap = argparse.ArgumentParser(description="seen vs fresh train examples vs test")
    ap.add_argument("--model", required=True)
    ap.add_argument("--tasks", default="facts,twohop")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--fresh-seed", type=int, default=7)
    a = ap.parse_args()
    for task in a.tasks.split(","):
        for label, split, seed in (("seen (train seed 1)", "train", 1), (f"fresh (train seed {a.fresh_seed})", "train", a.fresh_seed),
                                   ("test (seed 0)", "test", 0)):
            exs = export(task, split, seed, a.n)
            k, outs = accuracy(a.model, exs)
            lo, hi = wilson(k, len(exs))
            print(f"{os.path.basename(a.model.rstrip('/'))} {task:7s} {label:22s} {k}/{len(exs)} = {k / len(exs):.0%} "
                  f"(95% CI {lo:.0%}-{hi:.0%})  e.g. {outs[:4]}", flush=True)


if __name__ == "__main__":
    main()
