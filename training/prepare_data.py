"""Writes the training bundle (.devdata/bundle.tar.xz) that travels to the GPU machine.

Runs on the CPU machine with plain python3 (standard library only) and node (the task suite):

    npx tsc -p .                      # the task suite (src/eval/tasks) builds into dist/
    python3 training/prepare_data.py  # -> .devdata/bundle.tar.xz (+ .devdata/bundle.json)

What goes in (layout in data.py):
  * LM text: the task suite's own book catalog (dist/eval/tasks/corpus.js): English Gutenberg
    books with the Project Gutenberg header and footer stripped (text between the "*** START OF"
    and "*** END OF" lines), one paragraph per line, editions grouped, plus tiny Shakespeare.
    Only books of the *train* split: the needle task's test haystacks come from the test-split
    books, which never appear in the LM text; a 64 KB slice of each is the validation text.
  * Task examples: the task suite's export (`tasks export`), split train for training and split
    test for evaluate.py. Nothing is generated here: the generators are the TypeScript ones.
The bundle is one xz stream with a 256 MiB dictionary, so the needle haystacks (passages of the
train books) cost almost nothing on top of the books themselves.
"""
import argparse
import hashlib
import io
import json
import lzma
import os
import re
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Training-split export: examples per task (needle: per haystack length, in tokens).
TRAIN_COUNTS = {"facts": 32000, "twohop": 40000, "arith": 48000, "instr": 10000}
NEEDLE_TRAIN_COUNTS = {512: 6000, 1024: 4000, 2048: 3000, 4096: 1600, 8192: 1100}
TEST_COUNT = 500
NEEDLE_LENGTHS = (512, 1024, 2048, 4096, 8192)
TRAIN_SEED = 1
TEST_SEED = 0  # the suite's default test seed (DEFAULT_SEEDS), also `kvwire eval`'s

def book_texts() -> list:
    """[{id, key, title, split, text}] for every book of the task suite's catalog, one per group."""
    corpus_js = os.path.join(ROOT, "dist", "eval", "tasks", "corpus.js")
    if not os.path.exists(corpus_js):
        sys.exit(f"prepare_data: {corpus_js} is missing: build the task suite first (npx tsc -p .)")
    out = os.path.join(ROOT, ".devdata", "books.tmp.jsonl")
    code = (f"const c = await import({json.dumps(corpus_js)}); const fs = await import('node:fs');"
            f"const seen = new Set(); const lines = [];"
            f"for (const b of c.corpusCatalog()) {{ if (seen.has(b.key)) continue; seen.add(b.key);"
            f" lines.push(JSON.stringify({{id: b.path.split('/').pop(), key: b.key, title: b.title, split: b.split, text: c.bookText(b)}})); }}"
            f"fs.writeFileSync({json.dumps(out)}, lines.join('\\n') + '\\n');")
    r = subprocess.run(["node", "--input-type=module", "-e", code], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"prepare_data: reading the book catalog failed:\n{r.stderr}")
    with open(out, encoding="utf-8") as f:
        books = [json.loads(line) for line in f if line.strip()]
    os.remove(out)
    return books


def run_export(task: str, split: str, n: int, seed: int, length=None, tokenizer=None) -> list:
    """The task suite's export (`tasks export`), as a list of JSON records."""
    out = os.path.join(ROOT, ".devdata", "export.tmp.jsonl")
    args = ["export", "--task", task, "--split", split, "-n", str(n), "--seed", str(seed), "--out", out]
    if length:
        args += ["--length", str(length)]
    if tokenizer:
        args += ["--tokenizer", os.path.abspath(tokenizer)]
    # tasks.js directly (not dist/cli/main.js): it needs only the task suite, not the engine
    tasks_js = os.path.join(ROOT, "dist", "cli", "commands", "tasks.js")
    if not os.path.exists(tasks_js):
        sys.exit(f"prepare_data: {tasks_js} is missing: build the task suite first (npx tsc -p .)")
    code = f"import({json.dumps(tasks_js)}).then(m=>m.tasksCommand({json.dumps(args)})).then(c=>process.exit(c))"
    cmd = ["node", "-e", code]
    t0 = time.time()
    # the needle generator keeps ~1 MB per example alive while it runs: give node room
    env = dict(os.environ, NODE_OPTIONS=(os.environ.get("NODE_OPTIONS", "") + " --max-old-space-size=16000").strip())
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"prepare_data: export failed ({' '.join(args)}):\n{r.stdout}\n{r.stderr}")
    with open(out, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    os.remove(out)
    # `prompt` already holds `context` and `question`: drop the copies (nothing else is changed)
    recs = [{k: v for k, v in r.items() if k not in ("context", "question")} for r in recs]
    if len(recs) != n:
        sys.exit(f"prepare_data: export {' '.join(args)} gave {len(recs)} records, expected {n}")
    print(f"  export {task} {split} n={n} seed={seed}" + (f" length={length}" if length else "") +
          f": {sum(len(r['prompt']) for r in recs) / 1e6:.1f} MB prompts, {time.time() - t0:.0f}s", flush=True)
    return recs


def test_export(tokenizer=None) -> list:
    """The test split: TEST_COUNT examples per task, needle at every length (in `tokenizer`'s tokens if given)."""
    ex = []
    for task in TRAIN_COUNTS:
        ex += run_export(task, "test", TEST_COUNT, TEST_SEED)
    for length in NEEDLE_LENGTHS:
        ex += run_export("needle", "test", TEST_COUNT, TEST_SEED, length, tokenizer)
    return ex


def jsonl_bytes(rows) -> bytes:
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n").encode("utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, ".devdata", "bundle.tar.xz"))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the train export counts (smoke tests)")
    ap.add_argument("--test-tokenizer", help="only write .devdata/test-<name>.jsonl.xz: the test split with needle "
                    "lengths counted in this tokenizer.json's tokens (as `kvwire eval` counts them)")
    a = ap.parse_args()
    if a.test_tokenizer:
        name = os.path.splitext(os.path.basename(a.test_tokenizer))[0]
        path = os.path.join(os.path.dirname(a.out), f"test-{name}.jsonl.xz")
        data = lzma.compress(jsonl_bytes(test_export(a.test_tokenizer)), preset=9)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        print(f"wrote {path}: {os.path.getsize(path) / 1e6:.1f} MB")
        return
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    books = book_texts()
    train_docs = [{"id": b["id"], "text": b["text"]} for b in books if b["split"] == "train"]
    # validation: 64 KB from the middle of each test-split (held-out) book
    val_docs = [{"id": b["id"], "text": b["text"][len(b["text"]) // 2: len(b["text"]) // 2 + 65536]}
                for b in books if b["split"] == "test"]
    mb = sum(len(d["text"]) for d in train_docs) / 1e6
    print(f"corpus: {len(train_docs)} train books ({mb:.1f} MB), {len(val_docs)} held-out (test-split) books", flush=True)

    train_ex, test_ex = [], []
    for task, n in TRAIN_COUNTS.items():
        train_ex += run_export(task, "train", max(1, int(n * a.scale)), TRAIN_SEED)
    for length, n in NEEDLE_TRAIN_COUNTS.items():
        train_ex += run_export("needle", "train", max(1, int(n * a.scale)), TRAIN_SEED, length)
    test_ex = test_export()
    jl = jsonl_bytes
    members = {
        "corpus/train.jsonl": jl(train_docs),
        "corpus/val.jsonl": jl(val_docs),
        "tasks/train.jsonl": jl(train_ex),
        "tasks/test.jsonl": jl(test_ex),
    }
    manifest = {
        "corpus_train": [d["id"] for d in train_docs],
        "corpus_val": [d["id"] for d in val_docs],
        "books": [{k: b[k] for k in ("id", "key", "title", "split")} for b in books],
        "train_counts": TRAIN_COUNTS, "needle_train_counts": NEEDLE_TRAIN_COUNTS,
        "test_count": TEST_COUNT, "needle_lengths": NEEDLE_LENGTHS,
        "train_seed": TRAIN_SEED, "test_seed": TEST_SEED,
        "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in members.items()},
    }
    members = {"manifest.json": json.dumps(manifest, indent=1).encode("utf-8"), **members}
    t0 = time.time()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    xz = lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ,
                       filters=[{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": 256 << 20}])
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(xz)
    os.replace(tmp, a.out)
    with open(os.path.splitext(os.path.splitext(a.out)[0])[0] + ".json", "w") as f:
        json.dump(manifest, f, indent=1)
    raw = sum(len(v) for v in members.values()) / 1e6
    print(f"wrote {a.out}: {os.path.getsize(a.out) / 1e6:.1f} MB ({raw:.0f} MB raw, {time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()
