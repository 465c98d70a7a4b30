"""Training data: the bundle written by prepare_data.py, tokenized once per tokenizer, packed into rows.

Bundle (.devdata/bundle.tar.xz, one xz stream):
  manifest.json               what went in (books, held-out books, export commands, seeds)
  corpus/train.jsonl          {"id", "text"}: Gutenberg books (PG header/footer stripped) + Shakespeare
  corpus/val.jsonl            {"id", "text"}: held-out text (never trained on), for validation loss
  tasks/train.jsonl           the task suite's export, split train (one JSON object per line)
  tasks/test.jsonl            the task suite's export, split test (for evaluate.py)

Tokenized cache (one .npz per tokenizer and split, made by `python data.py tokenize`):
  corpus tokens (uint16, documents joined by <|endoftext|>), and per task example the prompt and
  target token ids (ragged: concatenated + offsets), its task and its length label.
"""
import argparse
import io
import json
import os
import tarfile

import numpy as np

EOT_ID = 0


def read_bundle(path: str) -> dict:
    """{member name: bytes} of the bundle tar.xz."""
    out = {}
    with tarfile.open(path, "r:xz") as tar:
        for m in tar.getmembers():
            if m.isfile():
                out[m.name] = tar.extractfile(m).read()
    return out


def jsonl(raw: bytes) -> list:
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


def group_key(ex: dict) -> str:
    """The group an example is sampled and reported by: task, plus length for length-graded tasks."""
    length = ex.get("length")
    return f"{ex['task']}@{length}" if length else ex["task"]


def _encode(tok, texts: list) -> list:
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def _ragged(seqs: list):
    lens = np.array([len(s) for s in seqs], dtype=np.int64)
    offs = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lens, out=offs[1:])
    flat = np.concatenate([np.asarray(s, dtype=np.uint16) for s in seqs]) if seqs else np.zeros(0, np.uint16)
    return flat, offs


def tokenize_bundle(bundle_path: str, tokenizer_path: str, out_dir: str) -> None:
    """Writes <out_dir>/{corpus,train,test}.npz for one tokenizer."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_path)
    assert tok.get_vocab_size() <= 65535, "uint16 token storage"
    b = read_bundle(bundle_path)
    os.makedirs(out_dir, exist_ok=True)
    for split in ("train", "val"):
        docs = [d["text"] for d in jsonl(b[f"corpus/{split}.jsonl"])]
        # encode in ~64 KB pieces (split on blank lines) so the Rust side parallelises
        pieces, doc_of = [], []
        for i, d in enumerate(docs):
            paras = d.split("\n\n")
            cur = []
            size = 0
            for p in paras:
                cur.append(p)
                size += len(p)
                if size > 65536:
                    pieces.append("\n\n".join(cur) + "\n\n")
                    doc_of.append(i)
                    cur, size = [], 0
            if cur:
                pieces.append("\n\n".join(cur))
                doc_of.append(i)
        ids = _encode(tok, pieces)
        parts = []
        for i, s in enumerate(ids):
            if i == 0 or doc_of[i] != doc_of[i - 1]:
                parts.append(np.array([EOT_ID], dtype=np.uint16))
            parts.append(np.asarray(s, dtype=np.uint16))
        np.savez(os.path.join(out_dir, f"corpus_{split}.npz"), tokens=np.concatenate(parts))
    for split in ("train", "test"):
        exs = jsonl(b[f"tasks/{split}.jsonl"])
        prompts = _encode(tok, [e["prompt"] for e in exs])
        targets = _encode(tok, [e["target"] for e in exs])
        groups = sorted({group_key(e) for e in exs})
        gidx = {g: i for i, g in enumerate(groups)}
        pf, po = _ragged(prompts)
        tf, to = _ragged(targets)
        np.savez(os.path.join(out_dir, f"tasks_{split}.npz"), prompt=pf, prompt_off=po, target=tf,
                 target_off=to, group=np.array([gidx[group_key(e)] for e in exs], dtype=np.int32),
                 groups=np.array(groups))
    print(f"tokenized {bundle_path} with {tokenizer_path} into {out_dir}", flush=True)


class TaskSet:
    """Ragged task examples of one split, as token ids."""

    def __init__(self, path: str):
        z = np.load(path)
        self.prompt, self.prompt_off = z["prompt"], z["prompt_off"]
        self.target, self.target_off = z["target"], z["target_off"]
        self.group = z["group"]
        self.groups = [str(g) for g in z["groups"]]
        # length of an example placed in a row: prompt + target + <|endoftext|>
        self.length = (np.diff(self.prompt_off) + np.diff(self.target_off) + 1).astype(np.int64)

    def __len__(self):
        return len(self.group)

    def example(self, i: int):
        p = self.prompt[self.prompt_off[i]:self.prompt_off[i + 1]]
        t = self.target[self.target_off[i]:self.target_off[i + 1]]
        return p, t


class Packer:
    """Fills rows of seq_len+1 tokens with whole task examples and LM text, with loss weights.

    A row starts with <|endoftext|> (the BOS the tokenizer prepends at inference). Task examples
    are never cut: each is `prompt target <|endoftext|>`; prompt tokens get weight `prompt_w`,
    target tokens and the closing <|endoftext|> get `target_w`. About task_frac of the row is
    task examples, sampled by group weight (`mix`, keys "task" or "task@length") among the groups
    that still fit, in random order, each after an <|endoftext|>; the rest of the row is a
    contiguous LM-text window (weight 1).
    """

    def __init__(self, corpus: np.ndarray, tasks: TaskSet, phase: dict, cfg: dict, rng: np.random.Generator):
        self.corpus, self.tasks, self.rng = corpus, tasks, rng
        self.S = phase["seq_len"]
        self.task_frac = phase["task_frac"]
        self.prompt_w = cfg.get("prompt_weight", 1.0)
        self.target_w = cfg.get("target_weight", 5.0)
        mix = phase["mix"]
        self.members, self.weights, self.minlen = [], [], []
        for gi, g in enumerate(tasks.groups):
            w = mix.get(g, mix.get(g.split("@")[0], 0.0))
            idx = np.nonzero((tasks.group == gi) & (tasks.length <= self.S))[0]
            if w > 0 and len(idx):
                self.members.append(idx)
                self.weights.append(float(w))
                self.minlen.append(int(tasks.length[idx].min()))
        self.weights = np.array(self.weights)
        self.minlen = np.array(self.minlen)
        self.group_names = [tasks.groups[tasks.group[m[0]]] for m in self.members]

    def row(self):
        S1 = self.S + 1
        pieces = []  # (tokens, weights)
        room = S1 - 1  # position 0 holds <|endoftext|>
        want = int(self.task_frac * (S1 - 1))
        used = 0
        while used < want and len(self.members):
            ok = self.minlen <= room
            if not ok.any():
                break
            p = self.weights * ok
            g = self.rng.choice(len(p), p=p / p.sum())
            idx = self.members[g]
            for _ in range(8):
                i = idx[self.rng.integers(len(idx))]
                if self.tasks.length[i] <= room:
                    break
            else:
                break
            pr, tg = self.tasks.example(i)
            toks = np.concatenate([pr, tg, [EOT_ID]]).astype(np.int64)  # follows an <|endoftext|>
            w = np.full(len(toks), self.target_w, dtype=np.float32)
            w[:len(pr)] = self.prompt_w
            pieces.append((toks, w))
            room -= len(toks)
            used += len(toks)
        n_task = len(pieces)
        if room > 0:
            start = int(self.rng.integers(0, len(self.corpus) - room))
            pieces.append((self.corpus[start:start + room].astype(np.int64), np.ones(room, dtype=np.float32)))
        order = list(self.rng.permutation(n_task)) + list(range(n_task, len(pieces)))
        toks = np.concatenate([[EOT_ID]] + [pieces[k][0] for k in order]).astype(np.int64)
        w = np.concatenate([[0.0]] + [pieces[k][1] for k in order]).astype(np.float32)
        # the weight of token t applies to predicting it from t-1
        return toks[:-1], toks[1:], w[1:]

    def batch(self, B: int):
        xs, ys, ws = zip(*(self.row() for _ in range(B)))
        return np.stack(xs), np.stack(ys), np.stack(ws)


def main():
    ap = argparse.ArgumentParser(description="tokenize the bundle for one tokenizer")
    ap.add_argument("cmd", choices=["tokenize"])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    tokenize_bundle(a.bundle, a.tokenizer, a.out)


if __name__ == "__main__":
    main()
