"""Trains, exports and evaluates models of the zoo in one command (on the GPU machine).

    python training/zoo.py --models all --bundle .devdata/bundle.tar.xz --out models

Steps: (1) the tokenizers the models need: training/tokenizers/<name>.json if present, else
trained by train_tokenizer.py and saved there; (2) the bundle tokenized once per tokenizer;
(3) train.py for every model, all at once as separate processes on the one GPU (small models
leave most of an H100 idle); (4) as each finishes: export.py (fp16 folder + reference), then
evaluate.py on the test split, then the model card. Fixed seeds throughout (configs/*.json).

--smoke runs every step with 20 training steps a phase and 4 test examples a group.
--pack DIR tars the exported folders into DIR in pieces of at most 15 MiB (for device transfers).
"""
import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOKENIZERS = {"bpe4096": 4096, "bpe8192": 8192}


def log(msg):
    print(f"[zoo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, logf=None):
    log(" ".join(cmd))
    if logf:
        with open(logf, "a") as f:
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=HERE)
    else:
        r = subprocess.run(cmd, cwd=HERE)
    if r.returncode != 0:
        raise RuntimeError(f"failed ({r.returncode}): {' '.join(cmd)}" + (f"; see {logf}" if logf else ""))


def write_probes(cfgs, bundle, logs):
    """<logs>/<tokenizer>.probe.json: ids of a few texts, to check the TypeScript tokenizer against."""
    from tokenizers import Tokenizer
    from data import jsonl, read_bundle
    exs = jsonl(read_bundle(bundle)["tasks/test.jsonl"])
    texts = ["Hello world", "  two  spaces\nand a newline\n\n", "Tom has 12345 apples; 3 + 4 = 7.",
             "unicode: caf\u00e9 \u201cquotes\u201d \u2014 na\u00efve", "<|endoftext|> inside text"]
    seen = set()
    for e in exs:
        if e["task"] not in seen:
            seen.add(e["task"])
            texts.append(e["prompt"][-1500:] + e["target"])
    for tk in sorted({c["tokenizer"] for c in cfgs.values()}):
        tok = Tokenizer.from_file(os.path.join(HERE, "tokenizers", f"{tk}.json"))
        probes = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
        json.dump(probes, open(os.path.join(logs, f"{tk}.probe.json"), "w"))


def main():
    ap = argparse.ArgumentParser(description="train the zoo")
    ap.add_argument("--models", default="all", help="comma-separated config names, or all")
    ap.add_argument("--bundle", default=os.path.join(ROOT, ".devdata", "bundle.tar.xz"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models"), help="exported model folders go here")
    ap.add_argument("--work", default="/tmp/kvw")
    ap.add_argument("--logs", help="folder for per-model logs and json (default: --work)")
    ap.add_argument("--smoke", nargs="?", const="all", default="", help="smoke-test these models (comma list, or all)")
    ap.add_argument("--deadline", type=float, default=0, help="seconds of training per model before it stops")
    ap.add_argument("--eval-limit", type=int, default=0)
    ap.add_argument("--init", default="", help="name=folder,... to continue training from exported folders")
    ap.add_argument("--pack", help="tar the exported folders into this folder (15 MiB pieces)")
    a = ap.parse_args()
    bundle = os.path.abspath(a.bundle)
    out = os.path.abspath(a.out)
    logs = os.path.abspath(a.logs or a.work)
    os.makedirs(logs, exist_ok=True)
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(HERE, "configs", "*.json")))
    models = names if a.models == "all" else a.models.split(",")
    smoke = set(models if a.smoke == "all" else [s for s in a.smoke.split(",") if s])
    init = dict(kv.split("=", 1) for kv in a.init.split(",") if kv)
    cfgs = {m: json.load(open(os.path.join(HERE, "configs", f"{m}.json"))) for m in models}
    t0 = time.time()

    # (1) tokenizers
    procs = []
    for tk in sorted({c["tokenizer"] for c in cfgs.values()}):
        path = os.path.join(HERE, "tokenizers", f"{tk}.json")
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            procs.append(subprocess.Popen([sys.executable, "train_tokenizer.py", "--bundle", bundle,
                                           "--vocab", str(TOKENIZERS[tk]), "--out", path], cwd=HERE))
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("tokenizer training failed")
    write_probes(cfgs, bundle, logs)
    # (2) tokenized caches
    procs = []
    for tk in sorted({c["tokenizer"] for c in cfgs.values()}):
        cache = os.path.join(a.work, "tok", tk)
        os.makedirs(cache, exist_ok=True)
        subprocess.run(["cp", os.path.join(HERE, "tokenizers", f"{tk}.json"), os.path.join(cache, "tokenizer.json")], check=True)
        if not os.path.exists(os.path.join(cache, "tasks_test.npz")):
            procs.append(subprocess.Popen([sys.executable, "data.py", "tokenize", "--bundle", bundle, "--tokenizer",
                                           os.path.join(cache, "tokenizer.json"), "--out", cache], cwd=HERE))
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("tokenization failed")
    log(f"data ready after {time.time() - t0:.0f}s")

    # (3) training, all models at once
    running = {}
    for m, c in cfgs.items():
        cmd = [sys.executable, "train.py", "--config", os.path.join(HERE, "configs", f"{m}.json"),
               "--cache", os.path.join(a.work, "tok", c["tokenizer"]), "--out", os.path.join(a.work, "run", m)]
        if m in smoke:
            cmd.append("--smoke")
        if a.deadline:
            cmd += ["--deadline", str(a.deadline)]
        if m in init:
            cmd += ["--init", os.path.abspath(init[m])]
        log(" ".join(cmd))
        f = open(os.path.join(logs, f"{m}.log"), "a")
        running[m] = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=HERE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    # (4) as each finishes: export, evaluate, card (in the background, so models overlap)
    failed, post = [], {}
    while running or post:
        for m, p in list(running.items()):
            if p.poll() is None:
                continue
            del running[m]
            lf = os.path.join(logs, f"{m}.log")
            if p.returncode != 0:
                log(f"{m}: training failed ({p.returncode}), see {lf}")
                failed.append(m)
                continue
            c = cfgs[m]
            tok = os.path.join(HERE, "tokenizers", f"{c['tokenizer']}.json")
            run_dir, dest = os.path.join(a.work, "run", m), os.path.join(out, m)
            exp = [sys.executable, "export.py", "--run", run_dir, "--config", os.path.join(HERE, "configs", f"{m}.json"),
                   "--tokenizer", tok, "--out", dest]
            ev = os.path.join(logs, f"{m}.eval.json")
            limit = 4 if m in smoke else a.eval_limit
            tests = os.path.join(os.path.dirname(bundle), f"test-{c['tokenizer']}.jsonl.xz")
            evc = [sys.executable, "evaluate.py", "--model", dest, "--bundle", bundle, "--limit", str(limit), "--out", ev] \
                + (["--tests", tests] if os.path.exists(tests) else [])
            chain = " && ".join(shlex.join(x) for x in (exp, evc, exp + ["--eval", ev, "--card-only"],
                                                        ["cp", os.path.join(run_dir, "train.json"), os.path.join(logs, f"{m}.train.json")]))
            log(f"{m}: trained; {chain}")
            post[m] = subprocess.Popen(f"({chain}) >> {shlex.quote(lf)} 2>&1", shell=True, cwd=HERE)
        for m, p in list(post.items()):
            if p.poll() is None:
                continue
            del post[m]
            if p.returncode != 0:
                log(f"{m}: export/evaluation failed, see {os.path.join(logs, m + '.log')}")
                failed.append(m)
            else:
                log(f"{m}: done at {time.time() - t0:.0f}s")
        time.sleep(2)
    if a.pack:
        os.makedirs(a.pack, exist_ok=True)
        done = [m for m in models if m not in failed and os.path.exists(os.path.join(out, m, "config.json"))]
        if done:
            subprocess.run(f"tar -C {out} -cf - {' '.join(done)} | split -b 15M -d - {a.pack}/zoo.tar.part", shell=True, check=True)
            log(f"packed {done} into {a.pack}")
    log(f"finished in {time.time() - t0:.0f}s; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
